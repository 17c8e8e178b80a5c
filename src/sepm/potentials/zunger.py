r"""Wang-Zunger analytic local form factor (Phys. Rev. B 51, 17398):

v(q) = a0 (q^2 - a1) / (a2 exp(a3 q^2) - 1),   a0..a3 = params[0:4] of each species.
"""

from __future__ import annotations

import torch


def zunger(q: torch.Tensor, coefficients: torch.Tensor) -> torch.Tensor:
    """v(q) for every species: q (nq,), coefficients (n_species, >=4) -> (nq, n_species)."""
    a0, a1, a2, a3 = (coefficients[:, i] for i in range(4))
    q2 = (q * q)[:, None]
    return a0 * (q2 - a1) / (a2 * torch.exp(a3 * q2) - 1.0)


class ZungerFormFactor:
    """The Zunger form read from a parameter tensor (n_species, 9) that may require grad."""

    def __init__(self, params: torch.Tensor):
        self.params = params

    def __call__(self, q: torch.Tensor) -> torch.Tensor:
        return zunger(q, self.params)
