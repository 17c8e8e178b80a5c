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
from .base import ProjectorGeometry, Term, projector_geometry, times_real
from .radial import gaussian_radial_from, shifted_gaussian_radial_matrix


class Nonlocal(Term):
    name = "nonlocal"
    k_dependent = True

    def prepare(self):
        """(sum_s a6(s) S_s, sum_s a7(s) S_s)."""
        params = self.pseudopotential.params
        return (self.basis.species_weighted_structure_factor(params[:, 6]),
                self.basis.species_weighted_structure_factor(params[:, 7]))

    def matrix(self, k, prepared=None):
        f6, f7 = self.prepare() if prepared is None else prepared
        r1, q = projector_geometry(self, k, lambda: self.geometry(k))
        return times_real(f6, r1) + times_real(f7, q)

    @torch.no_grad()
    def geometry(self, k):
        """Parameter-independent factors 12 pi (K_i . K_j) / (|K_i||K_j|) times R_1.0 and times Q."""
        geo = ProjectorGeometry.of(self.basis, k)
        geometry = torch.bmm(geo.kg, geo.kg.transpose(-1, -2)).mul_(geo.prefactor)
        r1 = gaussian_radial_from(geo.product, geo.diff2, NL_WIDTH).mul_(geometry)
        q = shifted_gaussian_radial_matrix(geo.norms, center=NL_SHIFT_CENTER).mul_(geometry)
        return r1, q
