r"""A two-grid preconditioner for the folded operator (H - sigma)^2 of a dot: it sees the potential.

The kinetic preconditioner (T + s)^-2 weighs every state of one kinetic energy alike, so the states near
sigma (kinetic content ~0.5 Hartree, folded eigenvalues ~1e-4 Hartree^2) converge slowly. This one
treats the residual's low frequencies (those of the grid with spacing 2h, below its Nyquist
frequency) with the coarse H (V sampled on every second point, as for the coarse start):

    K r = F^-1 [ (T + s)^-2 (F r)_high ] + P [ (H_c - sigma)^2 + eps ]^-1 R r,

R keeping the coarse frequencies (Fourier restriction: the band-limited part sampled on the coarse
grid), P its Fourier interpolation back (the same frequencies; R P = 1 on them). The coarse system is
solved approximately by ``STEPS`` conjugate-gradient steps preconditioned by (T_c + s)^-2, from zero; the
split into high and low frequencies costs the same two fine-grid FFTs as the kinetic preconditioner.
Each coarse step applies H_c twice per vector, counted on the H's counter as N_c / N each.

Measured on GaAs dots (valence side, 4 states, from the same coarse-grid start, double precision,
1 thread): 123 atoms (48^3), fine-grid-equivalent applications with the kinetic preconditioner 1354
(138 iterations), two-grid with 2/3/4/5/10/20 steps 1060/950/927/958/1218/1915 (86/71/64/61/56/58
iterations), eps 0.003/0.01/0.03 alike, the additive form (T + s)^-2 r + P (...)^-1 R r alike; the
high-frequency part scaled by 10 or 0.1: 105 / 102 iterations. The iterations level off near 57 however
well the coarse system is solved: what is left lies outside it, in the near-gap states' high
frequencies (their atomic cores, preconditioned by (T + s)^-2 alone, and coupled to the low ones by V)
or in the coarse H's own levels (the two highest valence levels 1.1 and 4.5 mHartree off the fine ones,
which are 2.9 mHartree apart). One level down it does not pay: on the coarse grid of the same dot's start
(spacing 1.5 Bohr, its own coarse grid 3 Bohr) it took 273 iterations and 559 applications against 191
and 271 with (T + s)^-2, hence the same spacing limit as the start (``solver.COARSE_SPACING``). ``EPS``
keeps the coarse system positive definite and its conjugate gradients short.
"""

from __future__ import annotations

import torch

from .hamiltonian import GridHamiltonian, low_frequencies

#: Conjugate-gradient steps of each coarse solve (see the module docstring for the measurement).
STEPS = 6
#: Regularization eps of the coarse folded operator (Hartree^2): (0.1 Hartree)^2.
EPS = 0.01

_DIMS = (-3, -2, -1)


class TwoGridPreconditioner:
    """K r ~ (H - sigma)^-2 r for blocks of flat real vectors on ``H``'s grid (even shapes)."""

    def __init__(self, H: GridHamiltonian, sigma: float, shift: float, eps: float = EPS, steps: int = STEPS):
        self.H, self.Hc = H, H.coarsened()
        self.sigma, self.shift, self.eps, self.steps = float(sigma), float(shift), float(eps), int(steps)
        self._low = (slice(None), *low_frequencies(self.Hc.shape, H.V.device))
        self._ratio = H.size / self.Hc.size
        self._kinetic = 1.0 / (H.T + shift)

    def _folded(self, Y: torch.Tensor) -> torch.Tensor:
        Z = self.Hc.apply(Y) - self.sigma * Y
        return self.Hc.apply(Z) - self.sigma * Z + self.eps * Y

    def _coarse_solve(self, r: torch.Tensor) -> torch.Tensor:
        """``steps`` preconditioned conjugate-gradient steps on [(H_c - sigma)^2 + eps] y = r, per row."""
        tiny = torch.finfo(r.dtype).tiny
        y = torch.zeros_like(r)
        z = self.Hc.precondition(r, self.shift)
        p, rz = z, (r * z).sum(dim=1)
        for step in range(self.steps):
            Ap = self._folded(p)
            alpha = rz / (p * Ap).sum(dim=1).clamp_min(tiny)
            y = y + alpha[:, None] * p
            if step == self.steps - 1:
                break
            r = r - alpha[:, None] * Ap
            z = self.Hc.precondition(r, self.shift)
            rz_new = (r * z).sum(dim=1)
            p, rz = z + (rz_new / rz.clamp_min(tiny))[:, None] * p, rz_new
        return y

    def __call__(self, R: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        """The correction for the H residuals ``R`` = (H - e) x (rows) with ``beta`` = e - sigma per row."""
        m, n, nc = R.shape[0], self.H.shape, self.Hc.shape
        F = torch.fft.rfftn(R.reshape(m, *n), dim=_DIMS)
        Fc = torch.zeros((m, nc[0], nc[1], nc[2] // 2 + 1), dtype=F.dtype, device=F.device)
        Fc[self._low] = F[self._low] / self._ratio
        rc = torch.fft.irfftn(Fc, s=nc, dim=_DIMS).reshape(m, -1)
        yc = self._coarse_solve(self.Hc.apply(rc) - (self.sigma - beta[:, None]) * rc)
        out = F * self._kinetic
        Yc = torch.fft.rfftn(yc.reshape(m, *nc), dim=_DIMS)
        out[self._low] = Yc[self._low] * self._ratio
        return torch.fft.irfftn(out, s=n, dim=_DIMS).reshape(m, -1)
