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
        geometry, cx, cy, cz = projector_geometry(self, k, lambda: self.geometry(k))
        return _SpinOrbitMatrix.apply(f, geometry, cx, cy, cz)


def _assemble(a, b, cx, cy, cz):
    """The 2N x 2N matrix from f * geometry = a + ib: (-i)(C . sigma) gives uu = -i Cz, dd = +i Cz,
    ud = -i Cx - Cy, du = -i Cx + Cy, each times (a + ib)."""
    nk, n = cz.shape[0], cz.shape[-1]
    out = torch.empty((nk, 2 * n, 2 * n), dtype=torch.complex128, device=cz.device)
    blocks = torch.view_as_real(out)
    uu, ud = blocks[:, :n, :n], blocks[:, :n, n:]
    du, dd = blocks[:, n:, :n], blocks[:, n:, n:]
    torch.mul(b, cz, out=uu[..., 0])
    torch.mul(a, cz, out=uu[..., 1]).neg_()
    torch.neg(uu[..., 0], out=dd[..., 0])
    torch.neg(uu[..., 1], out=dd[..., 1])
    acy, bcx = a * cy, b * cx
    torch.sub(bcx, acy, out=ud[..., 0])
    torch.add(bcx, acy, out=du[..., 0])
    acx, bcy = a * cx, b * cy
    torch.add(acx, bcy, out=ud[..., 1]).neg_()
    torch.sub(bcy, acx, out=du[..., 1])
    return out


class _SpinOrbitMatrix(torch.autograd.Function):
    """H_SO from f = sum_s a5(s) S_s (N, N, 2) and the per-k geometry, with a hand-written backward.

    Autograd through the block assembly would copy the whole 2N x 2N gradient once per block written
    (eight times); here the gradient of the real-linear map is contracted directly. With G the
    gradient of H_SO (real part Gr, imaginary Gi, per spin block),
    dL/da = Cz (Gi_dd - Gi_uu) + Cy (Gr_du - Gr_ud) - Cx (Gi_ud + Gi_du),
    dL/db = Cz (Gr_uu - Gr_dd) + Cx (Gr_ud + Gr_du) + Cy (Gi_du - Gi_ud),
    and dL/df = sum over k of geometry * (dL/da, dL/db)."""

    @staticmethod
    def forward(ctx, f, geometry, cx, cy, cz):
        ctx.save_for_backward(geometry, cx, cy, cz)
        return _assemble(f[..., 0] * geometry, f[..., 1] * geometry, cx, cy, cz)

    @staticmethod
    def backward(ctx, grad):
        geometry, cx, cy, cz = ctx.saved_tensors
        n = cz.shape[-1]
        g = torch.view_as_real(grad.resolve_conj())
        uu, ud, du, dd = g[:, :n, :n], g[:, :n, n:], g[:, n:, :n], g[:, n:, n:]
        ga = cz * (dd[..., 1] - uu[..., 1])
        ga.addcmul_(cy, du[..., 0] - ud[..., 0]).addcmul_(cx, ud[..., 1] + du[..., 1], value=-1.0)
        gb = cz * (uu[..., 0] - dd[..., 0])
        gb.addcmul_(cx, ud[..., 0] + du[..., 0]).addcmul_(cy, du[..., 1] - ud[..., 1])
        grad_f = torch.stack([(ga.mul_(geometry)).sum(0), (gb.mul_(geometry)).sum(0)], dim=-1)
        return grad_f, None, None, None, None
