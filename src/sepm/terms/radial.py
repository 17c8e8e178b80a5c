r"""Radial integrals of the spin-orbit and nonlocal (l = 1) projectors.

R_w(k, k') = \int_0^\infty r^2 j1(k r) j1(k' r) exp(-(r/w)^2) dr
           = (sqrt(pi) w^3 / 4) exp(-(k - k')^2 w^2 / 4) [exp(-x) i1(x)],   x = k k' w^2 / 2,

with i1 the modified spherical Bessel function of the first kind (exponentially scaled form,
which never overflows). The shifted channel

Q(k, k') = \int_0^\infty r^2 j1(k r) j1(k' r) exp(-(r - 1.5)^2) dr

has no closed form; it is computed by Gauss-Legendre quadrature on [0, r_max] written as a matrix
product Q = J diag(w_q r_q^2 g(r_q)) J^T with J_iq = j1(k_i r_q), so a whole (N, N) block costs one
GEMM over the quadrature nodes.
"""

from __future__ import annotations

import math

import numpy as np
import torch

#: Below this argument the spherical Bessel functions use their Taylor series.
_SERIES_X = 0.1


def spherical_j1(x: torch.Tensor) -> torch.Tensor:
    """j1(x) = sin x / x^2 - cos x / x, with a series near 0."""
    small = x.abs() < _SERIES_X
    xs = torch.where(small, torch.ones_like(x), x)
    direct = torch.sin(xs) / xs**2 - torch.cos(xs) / xs
    x2 = x * x
    series = x / 3.0 * (1.0 - x2 / 10.0 * (1.0 - x2 / 28.0 * (1.0 - x2 / 54.0)))
    return torch.where(small, series, direct)


def scaled_i1(x: torch.Tensor) -> torch.Tensor:
    """exp(-x) i1(x) for x >= 0, i1(x) = (x cosh x - sinh x) / x^2."""
    small = x < _SERIES_X
    xs = torch.where(small, torch.ones_like(x), x)
    e2 = torch.exp(-2.0 * xs)
    direct = (xs * (1.0 + e2) - (1.0 - e2)) / (2.0 * xs**2)
    x2 = x * x
    series = x / 3.0 * (1.0 + x2 / 10.0 * (1.0 + x2 / 28.0 * (1.0 + x2 / 54.0))) * torch.exp(-x)
    return torch.where(small, series, direct)


def gaussian_radial(k: torch.Tensor, kp: torch.Tensor, width: float) -> torch.Tensor:
    """Closed-form R_w(k, k'), broadcasting over k and k'."""
    return gaussian_radial_from(k * kp, (k - kp) ** 2, width)


@torch.no_grad()
def gaussian_radial_from(product: torch.Tensor, diff2: torch.Tensor, width: float) -> torch.Tensor:
    """R_w from k k' and (k - k')^2 (shared between widths); geometry only, no autograd.

    Works in place on fresh buffers: one exp for the Gaussian, one for exp(-x) i1(x), and the
    Taylor series only on the few entries with small x."""
    x = product * (width**2 / 2.0)
    small = (x < _SERIES_X).nonzero(as_tuple=True)
    x_small = x[small]
    # exp(-x) i1(x) = (x (1 + e) - (1 - e)) / (2 x^2), e = exp(-2x)
    e = torch.exp(x.clamp_min(_SERIES_X) * -2.0)
    x.clamp_min_(_SERIES_X)
    out = (e + 1.0).mul_(x).add_(e).sub_(1.0).div_(x.square_().mul_(2.0))
    out[small] = scaled_i1(x_small)
    gauss = torch.exp(diff2 * (-(width**2) / 4.0))
    return out.mul_(gauss).mul_(math.sqrt(math.pi) * width**3 / 4.0)


def _quadrature(kmax: float, center: float, rtol: float):
    """Gauss-Legendre nodes/weights on [0, r_max] resolving j1(k r) j1(k' r) for k, k' <= kmax."""
    rmax = center + math.sqrt(-math.log(rtol * 1e-6))
    # Polynomial degree needed: the integrand oscillates with wave number up to 2 kmax over rmax,
    # times a Gaussian; 2n - 1 must exceed a few times the number of oscillation phases.
    n = int(40 + 1.2 * kmax * rmax)
    x, w = np.polynomial.legendre.leggauss(n)
    r = 0.5 * rmax * (x + 1.0)
    return r, 0.5 * rmax * w


def shifted_gaussian_radial_matrix(k: torch.Tensor, kp: torch.Tensor | None = None,
                                   center: float = 1.5, rtol: float = 1e-12) -> torch.Tensor:
    """Q(k_i, k'_j) for all pairs, batched over leading dimensions: k (..., n), kp (..., m) ->
    (..., n, m), by vectorized quadrature (one batched GEMM over the nodes)."""
    kp = k if kp is None else kp
    kmax = float(torch.max(torch.cat([k.abs().flatten(), kp.abs().flatten()]))) if k.numel() else 0.0
    r, w = _quadrature(kmax, center, rtol)
    r = torch.as_tensor(r, dtype=k.dtype, device=k.device)
    weight = torch.as_tensor(w, dtype=k.dtype, device=k.device) * r**2 * torch.exp(-((r - center) ** 2))
    jk = spherical_j1(k[..., None] * r)
    jkp = jk if kp is k else spherical_j1(kp[..., None] * r)
    return (jk * weight) @ jkp.transpose(-1, -2)
