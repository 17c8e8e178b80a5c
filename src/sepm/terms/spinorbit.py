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
from .base import ProjectorGeometry, Term, projector_geometry
from .radial import gaussian_radial_from


class SpinOrbit(Term):
    name = "spin_orbit"
    k_dependent = True
    spinor = True

    def prepare(self):
        """sum_s a5(s) S_s(G_i - G_j) as (N, N, 2) real and imaginary parts."""
        return torch.view_as_real(self.basis.species_weighted_structure_factor(self.pseudopotential.params[:, 5]))

    @torch.no_grad()
    def geometry(self, k):
        """Parameter-independent factors: 6 pi R_0.7 / (|K_i||K_j|) and the components of K_i x K_j."""
        geo = ProjectorGeometry.of(self.basis, k)
        geometry = gaussian_radial_from(geo.product, geo.diff2, SOC_WIDTH).mul_(geo.prefactor).mul_(0.5)
        x, y, z = geo.kg.unbind(-1)
        cx = torch.baddbmm(y[:, :, None] * z[:, None, :], z[:, :, None], y[:, None, :], alpha=-1)
        cy = torch.baddbmm(z[:, :, None] * x[:, None, :], x[:, :, None], z[:, None, :], alpha=-1)
        cz = torch.baddbmm(x[:, :, None] * y[:, None, :], y[:, :, None], x[:, None, :], alpha=-1)
        return geometry, cx, cy, cz

    def matrix(self, k, prepared=None):
        f = self.prepare() if prepared is None else prepared
        n = self.basis.size
        geometry, cx, cy, cz = projector_geometry(self, k, lambda: self.geometry(k))
        # f = sum_s a5(s) S_s times the real geometry (the 1/2 of sigma/2 folded in); f = a + i b
        a, b = f[..., 0] * geometry, f[..., 1] * geometry
        # (-i)(C . sigma): uu = -i Cz, dd = +i Cz, ud = -i Cx - Cy, du = -i Cx + Cy; (a + ib)(c + id)
        out = torch.empty((k.shape[0], 2 * n, 2 * n), dtype=torch.complex128, device=k.device)
        blocks = torch.view_as_real(out)
        uu, ud = blocks[:, :n, :n], blocks[:, :n, n:]
        du, dd = blocks[:, n:, :n], blocks[:, n:, n:]
        uu[..., 0], uu[..., 1] = b * cz, -(a * cz)
        dd[..., 0], dd[..., 1] = -uu[..., 0], -uu[..., 1]
        acx, bcx, acy, bcy = a * cx, b * cx, a * cy, b * cy
        ud[..., 0], ud[..., 1] = bcx - acy, -(acx + bcy)
        du[..., 0], du[..., 1] = bcx + acy, bcy - acx
        return out
