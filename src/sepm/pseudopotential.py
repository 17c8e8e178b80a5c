"""The pseudopotential being evaluated or fitted: per-species coefficients a0..a8 plus a local
form-factor model.

``params`` (n_species, 9) holds, per species in alphabetical order, a0..a3 (Wang-Zunger local),
a4 (long-range tail), a5 (spin-orbit), a6, a7 (nonlocal), a8 (strain). ``local`` is any callable
q (nq,) -> (nq, n_species); when None the Wang-Zunger form of a0..a3 is the local potential.

``long_range``: whether the a4 tail is added to the local potential. DeepPseudopot adds it to the
analytic form only, never to a network; :func:`long_range_default` gives that rule, with the opt-in
``network_long_range = 1`` of NN_config.par. ``recompute`` (NN_config ``checkpoint = 1``): the local
potential matrix is rebuilt in the backward pass instead of being kept (torch.utils.checkpoint).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from .constants import LR_GAMMA, N_PARAMS
from .potentials.zunger import zunger
from .settings import setting


@dataclass
class Pseudopotential:
    species: tuple[str, ...]
    params: torch.Tensor
    local: Callable[[torch.Tensor], torch.Tensor] | None = None
    soc: bool = False
    nonlocal_: bool = False
    lr_gamma: float = LR_GAMMA
    long_range: bool = True
    recompute: bool = False

    def __post_init__(self):
        self.species = tuple(self.species)
        if tuple(self.params.shape) != (len(self.species), N_PARAMS):
            raise ValueError(f"params must have shape ({len(self.species)}, {N_PARAMS}), got {tuple(self.params.shape)}")

    def local_form_factor(self, q: torch.Tensor) -> torch.Tensor:
        """v_s(q) without the long-range tail and strain factor: (nq, n_species)."""
        return zunger(q, self.params) if self.local is None else self.local(q)

    def total_local_form_factor(self, q: torch.Tensor) -> torch.Tensor:
        """v_s(q) including the long-range tail when it is used (unstrained): what the export stage transforms."""
        from .terms.longrange import long_range_form_factor

        if not self.long_range:
            return self.local_form_factor(q)
        return self.local_form_factor(q) + long_range_form_factor(q, self.params[:, 4], self.lr_gamma)

    @classmethod
    def from_bundle(cls, bundle, device="cpu", local=None, soc: bool | None = None,
                    nonlocal_: bool | None = None) -> "Pseudopotential":
        """The bundle's analytic potential (init_<Sym>Params.par). SOC and NL follow SObool unless given."""
        params = np.stack([bundle.params[s] for s in bundle.species])
        sobool = setting(bundle.config, "SObool")
        return cls(
            species=tuple(bundle.species),
            params=torch.as_tensor(params, dtype=torch.float64, device=device),
            local=local,
            soc=sobool if soc is None else soc,
            nonlocal_=sobool if nonlocal_ is None else nonlocal_,
            lr_gamma=setting(bundle.config, "LRgamma"),
            long_range=long_range_default(local, bundle.config),
        )


def long_range_default(local, config: dict) -> bool:
    """DeepPseudopot's rule: the a4 tail goes with the analytic local form (``local`` None) only; a
    network potential gets it only with ``network_long_range = 1`` (sepm's extension)."""
    return local is None or setting(config, "network_long_range")
