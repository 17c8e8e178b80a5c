"""Local-potential models: q (n, 1) in 1/Bohr → v(q) (n, N_species) in Hartree·Bohr³, float64.

:class:`PotentialNet` is ``v(q) = MLP(q) · g(q) · s`` (see :mod:`sepm.models.parts` for the layers,
initializers and gates). Its state_dict has DeepPseudopot's layout, so that tool's checkpoints load:
``neural_network.hidden_l.<i>.weight|bias`` for the Linear layers (output layer last) and
``neural_network.bn_l.<i>.*`` for BatchNorm. :class:`ZeroFunction` is "no network": v = 0, the
analytic Zunger form is the whole local potential.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from sepm.models.parts import ACTIVATIONS, INITIALIZERS, MLP, Gate


class PotentialNet(nn.Module):
    """Neural-network local potential ``v(q) = MLP(q) · g(q) · s``; layer sizes ``1, *hidden_layers, n_species``."""

    def __init__(self, hidden_layers: Sequence[int], n_species: int, activation: str = "relu",
                 init: str = "default", batchnorm: bool = False, dropout: float = 0.0, gate: str = "none", *,
                 decay_rate: float | None = None, decay_center: float | None = None,
                 gaussian_std: float | None = None, scale: Sequence[float] | None = None,
                 randinit_std: float = 1.0, name: str = "PotentialNet"):
        super().__init__()
        if n_species < 1 or any(n < 1 for n in hidden_layers):
            raise ValueError("need n_species >= 1 and >= 1 neuron per hidden layer, "
                             f"got {n_species}, {list(hidden_layers)}")
        self.name, self.activation, self.init, self.dropout = name, activation, init, dropout
        self.sizes = [1, *hidden_layers, n_species]
        self.neural_network = MLP(self.sizes, activation, init, batchnorm, dropout, randinit_std)
        self.gate = Gate(gate, n_species, decay_rate=decay_rate, decay_center=decay_center,
                         gaussian_std=gaussian_std, scale=scale)

    @property
    def n_species(self) -> int:
        return self.sizes[-1]

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        q = q.reshape(-1, 1)
        return self.neural_network(q) * self.gate(q)

    def describe(self) -> str:
        """One line, e.g. ``Net_relu_xavier_decayGaussian: 1-20-20-20-2, ReLU, Xavier init, Gaussian gate sigma=1.5``.
        """
        parts = ["-".join(map(str, self.sizes)), ACTIVATIONS[self.activation].__name__,
                 f"{INITIALIZERS[self.init]} init"]
        if len(self.neural_network.bn_l):
            parts.append("BatchNorm")
        if self.dropout:
            parts.append(f"dropout p={self.dropout:g}")
        parts.append(self.gate.describe())
        return f"{self.name}: {', '.join(parts)}"


class ZeroFunction(nn.Module):
    """v(q) = 0 for every species: no network, only the analytic coefficients are fitted."""

    def __init__(self, n_species: int):
        super().__init__()
        self.n_species = n_species
        self.name = "ZeroFunction"

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        return q.new_zeros(q.reshape(-1, 1).shape[0], self.n_species)

    def describe(self) -> str:
        return f"ZeroFunction: v(q) = 0 for {self.n_species} species (analytic local potential only)"


def load_state_dict_compat(model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> nn.Module:
    """Load a state_dict saved by DeepPseudopot (or sepm) into ``model``; returns ``model``.

    Accepts float32 tensors (cast to the model's float64) and a leading ``module.`` (DataParallel)
    prefix. Any missing or unexpected key, or a shape mismatch, raises ValueError naming the first one.
    """
    own = model.state_dict()
    given = {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state_dict.items()}
    missing = [k for k in own if k not in given]
    unexpected = [k for k in given if k not in own]
    arch = getattr(model, "describe", lambda: type(model).__name__)()
    if missing or unexpected:
        first = f"missing key {missing[0]!r} (shape {tuple(own[missing[0]].shape)})" if missing else \
            f"unexpected key {unexpected[0]!r} (shape {tuple(given[unexpected[0]].shape)})"
        raise ValueError(f"state_dict does not fit {arch}: {first}; "
                         f"{len(missing)} missing, {len(unexpected)} unexpected keys")
    for key, target in own.items():
        if given[key].shape != target.shape:
            raise ValueError(f"state_dict does not fit {arch}: {key!r} has shape {tuple(given[key].shape)}, "
                             f"the model expects {tuple(target.shape)}")
    model.load_state_dict({k: given[k].to(dtype=own[k].dtype, device=own[k].device) for k in own})
    return model
