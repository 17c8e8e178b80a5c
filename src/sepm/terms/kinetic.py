r"""Kinetic energy: T_ii = (1/2) |k + G_i|^2 (Hartree), diagonal."""

from __future__ import annotations

import torch

from .base import Term, k_plus_g


class Kinetic(Term):
    name = "kinetic"
    k_dependent = True

    def diagonal(self, k: torch.Tensor) -> torch.Tensor:
        """(1/2)|k + G|^2, shape (nk, N)."""
        return 0.5 * k_plus_g(self.basis, k)[1] ** 2

    def matrix(self, k, prepared=None):
        return torch.diag_embed(self.diagonal(k)).to(torch.complex128)
