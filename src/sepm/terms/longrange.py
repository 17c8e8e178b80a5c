r"""Long-range (Gaussian-screened Coulomb) tail of the local potential, params[4] = a4:

v_LR,s(q) = -a4(s) 4 pi / q^2 exp(-q^2 / (4 gamma^2)),   gamma = 0.2 1/Bohr (LRgamma),

omitted at q < 1e-4 (the G = G' diagonal), times the strain factor. Charge neutrality requires
sum over atoms of a4 = 0 (the fitters keep it). k-independent.
"""

from __future__ import annotations

import torch

from ..constants import LR_QMIN
from .base import Term
from .local import form_factor_matrix
from .strain import strain_factor


def long_range_form_factor(q: torch.Tensor, a4: torch.Tensor, gamma: float) -> torch.Tensor:
    """(nq, n_species) tail values; zero for q < LR_QMIN."""
    safe = torch.where(q < LR_QMIN, torch.ones_like(q), q)
    shape = torch.where(q < LR_QMIN, 0.0, 4.0 * torch.pi / safe**2 * torch.exp(-(safe**2) / (4.0 * gamma**2)))
    return -shape[:, None] * a4[None, :]


class LongRange(Term):
    name = "long_range"

    def __init__(self, basis, pseudopotential, trace_strain: float = 0.0):
        super().__init__(basis, pseudopotential)
        self.trace_strain = trace_strain

    def matrix(self, k=None, prepared=None):
        pp = self.pseudopotential
        values = long_range_form_factor(self.basis.pair_q, pp.params[:, 4], pp.lr_gamma)
        return form_factor_matrix(self.basis, values * strain_factor(pp.params, self.trace_strain))
