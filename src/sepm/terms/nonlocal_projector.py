r"""Nonlocal l = 1 correction, params[6] = a6 and params[7] = a7, spin-diagonal:

H_NL[i, j] = sum_s S_s(G_i - G_j) (12 pi / (|K_i||K_j|)) (K_i . K_j)
             [ a6(s) R_1.0(|K_i|, |K_j|) + a7(s) Q(|K_i|, |K_j|) ],

with R_1.0 in closed form and Q(k, k') = int r^2 j1(k r) j1(k' r) exp(-(r - 1.5)^2) dr by
vectorized quadrature (``radial``). With SOC on, the same block enters both spin blocks. Linear in
a6, a7. Built per k in O(N^2) memory.
"""

from __future__ import annotations

import torch

from ..constants import NL_SHIFT_CENTER, NL_WIDTH
from .base import Term, k_plus_g, projector_prefactor
from .radial import gaussian_radial, shifted_gaussian_radial_matrix


class Nonlocal(Term):
    name = "nonlocal"
    k_dependent = True

    def matrix(self, k):
        kg, norms = k_plus_g(self.basis, k)
        params = self.pseudopotential.params
        f6 = self.basis.species_weighted_structure_factor(params[:, 6])
        f7 = self.basis.species_weighted_structure_factor(params[:, 7])
        geometry = projector_prefactor(norms) * (kg @ kg.transpose(-1, -2))
        r1 = gaussian_radial(norms[:, :, None], norms[:, None, :], NL_WIDTH)
        q = shifted_gaussian_radial_matrix(norms, center=NL_SHIFT_CENTER)
        return geometry * (f6[None] * r1 + f7[None] * q)
