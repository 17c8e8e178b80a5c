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
        n = self.basis.size
        geometry = projector_prefactor(norms)
        geometry = geometry.mul_(gaussian_radial(norms[:, :, None], norms[:, None, :], SOC_WIDTH)).mul_(0.5)
        f = self.basis.species_weighted_structure_factor(self.pseudopotential.params[:, 5]) * geometry
        x, y, z = kg.unbind(-1)
        cx = y[:, :, None] * z[:, None, :] - z[:, :, None] * y[:, None, :]
        cy = z[:, :, None] * x[:, None, :] - x[:, :, None] * z[:, None, :]
        cz = x[:, :, None] * y[:, None, :] - y[:, :, None] * x[:, None, :]
        # (-i)(C . sigma / 2) with the 1/2 folded into f:
        # uu = -i Cz, ud = -i Cx - Cy, du = -i Cx + Cy, dd = +i Cz
        out = torch.empty((k.shape[0], 2 * n, 2 * n), dtype=torch.complex128, device=k.device)
        uu = f * torch.complex(torch.zeros_like(cz), -cz)
        out[:, :n, :n] = uu
        out[:, n:, n:] = -uu
        out[:, :n, n:] = f * torch.complex(-cy, -cx)
        out[:, n:, :n] = f * torch.complex(cy, -cx)
        return out
