r"""Spin-orbit coupling, params[5] = a5 (only when SObool = 1), on the 2N x 2N spinor basis:

H_SO[i sigma, j sigma'] = sum_s a5(s) S_s(G_i - G_j) (12 pi / (|K_i||K_j|)) R_0.7(|K_i|, |K_j|)
                          (-i) [ (K_i x K_j) . sigma / 2 ]_{sigma sigma'},

K = k + G, sigma the Pauli matrices, spin-up block first; zero where |K_i| or |K_j| is 0.
R_w is the closed-form Gaussian radial integral of ``radial``. Linear in a5: the geometry factor
depends only on k and the cell. Built per k in O(N^2) memory.
"""

from __future__ import annotations

import torch

from ..constants import SOC_WIDTH
from .base import Term, k_plus_g, projector_prefactor
from .radial import gaussian_radial


class SpinOrbit(Term):
    name = "spin_orbit"
    k_dependent = True
    spinor = True

    def matrix(self, k):
        kg, norms = k_plus_g(self.basis, k)
        radial = gaussian_radial(norms[:, :, None], norms[:, None, :], SOC_WIDTH)
        f = self.basis.species_weighted_structure_factor(self.pseudopotential.params[:, 5])
        f = f[None] * (projector_prefactor(norms) * radial)
        x, y, z = kg.unbind(-1)
        cx = y[:, :, None] * z[:, None, :] - z[:, :, None] * y[:, None, :]
        cy = z[:, :, None] * x[:, None, :] - x[:, :, None] * z[:, None, :]
        cz = x[:, :, None] * y[:, None, :] - y[:, :, None] * x[:, None, :]
        # (-i)(C . sigma / 2): uu = -i Cz/2, ud = (-i Cx - Cy)/2, du = (-i Cx + Cy)/2, dd = +i Cz/2
        uu = f * (-0.5j * cz)
        ud = f * (-0.5j * cx - 0.5 * cy)
        du = f * (-0.5j * cx + 0.5 * cy)
        return torch.cat([torch.cat([uu, ud], -1), torch.cat([du, -uu], -1)], -2)
