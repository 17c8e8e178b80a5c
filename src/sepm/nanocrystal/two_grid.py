r"""A two-grid preconditioner for the folded-spectrum solver of a dot: it sees the potential.

The kinetic preconditioner (T + s)^-2 weighs every state of one kinetic energy alike, so the states near
sigma (kinetic content ~0.5 Hartree, folded eigenvalues ~1e-4 Hartree^2) converge slowly. This one acts
on the residual of H, r = (H - e) x, with beta = e - sigma and B = H - sigma: the folded residual is
(B^2 - beta^2) x = (B + beta) r, and its ideal preconditioning (B^2 + eps)^-1 (B + beta) r is taken on
the residual's low frequencies (those of the grid with spacing 2h, below its Nyquist frequency) with
the coarse H (V sampled on every second point, as for the coarse start), on the high ones as
(T + s)^-1 (B ~ T there):

    K r = F^-1 [ (T + s)^-1 (F r)_high ] + P [ (B_c^2 + eps)^-1 (B_c + beta) ] R r,    B_c = H_c - sigma,

R keeping the coarse frequencies (Fourier restriction: the band-limited part sampled on the coarse
grid), P its Fourier interpolation back (the same frequencies; R P = 1 on them). The coarse system is
solved approximately by ``STEPS`` conjugate-gradient steps preconditioned by (T_c + s)^-2, from zero, in
float32 and on half spectra (so that restriction, (T_c + s)^-2 and prolongation need no transform); the
split into high and low frequencies costs two fine-grid FFTs. With it (and the solver's basis buffers) the
double-precision run on the 513-atom dot (80^3, valence side, 2 threads, load 2.2-2.8) took 9.4 and 10.2 ms
per fine-grid-equivalent application against 18.2 and 23.8 ms in real space and float64. The solver never applies H to the
residual (it would to form the folded one), so each iteration costs one fine application per vector;
the coarse ones (1 + 2 ``STEPS`` per vector) count on the H's counter as N_c / N each.

Measured on the 123-atom GaAs dot (48^3, valence side, 4 states, from the same coarse-grid start, double
precision, 1 thread; fine-grid-equivalent applications, the coarse ones included): 2/3/4/6/8/12 coarse
steps 1128/581/540/472/502/488 (183/62/53/41/40/25 iterations); eps 0.001 with 4 / 8 steps 521 / 474;
shift s = 0.1 (4 steps) 1285, s = 0.5 (8 steps) 468. The form before (on the folded residual, two fine
applications per vector and iteration, 4 coarse steps): 933 (65 iterations); (T + s)^-2 alone: 1340.
The iterations of that form levelled off near 57 however well the coarse system was solved (2-20 steps);
fine-grid smoothing around the coarse correction (a V-cycle) cut them to 38 but cost more applications
(see :mod:`.solver`). One level down it does not pay: on the coarse grid of the same dot's start
(spacing 1.5 Bohr, its own coarse grid 3 Bohr) the earlier form took 559 applications against 271 with
(T + s)^-2, hence the same spacing limit as the start (``solver.COARSE_SPACING``). ``EPS`` keeps the
coarse system positive definite and its conjugate gradients short.

The dense valence band near sigma sets the cost at large sizes: within |e - sigma| < sqrt(eps) the
preconditioner is ~(B + beta) / eps, so the states there converge at the pace of their folded gaps
against eps. On the 979-atom dot (100^3, valence side, 2 threads, float32 run from the coarse start)
(eps, steps) = (0.01, 6) took 211 iterations and 3082 applications, (0.01, 16) 95 / 2649, (0.005, 16)
66 / 1834, (0.003, 16) 56 / 1644 and (0.003, 24) 45 / 1778; whole valence solves 51 s and 4038
applications with (0.01, 6), 31-34 s and 2702-2938 with (0.003-0.005, 16); conduction 33 s -> 26 s;
the 123- and 513-atom dots within noise. Smaller eps stalls: the coarse H's levels lie ~20 meV from
the fine ones, and the amplified coarse mismatch then swamps the correction. At (0.002, 16) the float32
run converged but the double-precision one froze at a residual of 1.1e-4 for 2000 iterations; at
(0.001, 16) the float32 run stalled too. Both limits come from the reference sigma at the bulk edge, ~0.2 eV
from the levels: with sigma placed d ~ 0.5-0.8 eV from them in the gap (:mod:`.solver`, ``Reference energy``),
the preconditioned folded gaps, ~2 d de eps / (d^2 + eps)^2, grow, and the coarse mismatch counts less
against d. There (979 atoms, 2 threads) eps = 0.005 / 0.002 took 2242 / 2032 applications on the valence
side with the reference 0.6 eV into the gap, and, with the final settings, 0.002 / 0.0015 took 1738 / 1641
(valence) and 1262 / 1247 (conduction); 0.001 was slower (2976 against 2130 at 0.5 eV). Hence
``EPS`` = 0.002 in float32 runs and the safer 0.01 in double-precision ones (which must reach the target: the
same applications with 0.005 there).
The same preconditioner one level down (the 50^3 start on a 25^3 grid, spacing 3.2 Bohr) stalled at a
residual of 0.15 whatever eps (0.005-0.05).

On the coarsest grid (the start) the same conjugate gradients run on that grid's own folded operator
(``coarse=False``; no mismatch, so eps = ``EPS_SAME_GRID``). The 979-atom dot's 50^3 start (valence,
float32, 2 threads) then reached its target 1e-3 in 32 iterations (16 steps, eps 0.001), 60 (8, 0.002),
62-65 (8, 0.005-0.01) and 108 (4, 0.005), in 6-8 s, where (T + s)^-2 on the folded residuals stopped on
patience at 2.4e-3 after 463 iterations and 9-11 s, for the same ~700 applications. Whole edges with
(16, 0.001): valence 33 s, conduction 21 s against 34-39 s and 26-30 s; 513 atoms 8.9 / 9.2 s against
10.5-11.7 / 9.6-10.0 s; 123 atoms within noise. A start converged further (3e-4, 1e-4) costs the fine run
more (89-100 iterations against 66): its vectors fit the coarse H's levels, ~20 meV off the fine ones.
It is not used on a grid that ends a solve: on the 36^3 grid (spacing 1.0 Bohr) of the R = 12 Bohr dot from
smooth random vectors to 1e-4 it took 1648-2566 applications against 1182 with (T + s)^-2 on the valence
side and 10,636-22,794 against 2080 on the conduction side (eps 0.001-0.01), and in the size-series test
(R = 10, 12 Bohr at that spacing) it returned a gap of 1.63 eV where 3.53 eV is right.
"""

from __future__ import annotations

import torch

from .hamiltonian import GridHamiltonian, low_frequencies

#: Conjugate-gradient steps of each coarse solve in float32 runs and on the start's own grid (see the module
#: docstring for the measurements).
STEPS = 16
#: Steps in double-precision runs (a short finish from the float32 block): 979-atom dot, valence side, 16 / 8 /
#: 4 steps took 11 / 14 / 21 iterations and 248 / 184 / 188 applications (4.7 / 4.5 / 6.3 s).
STEPS_DOUBLE = 8
#: Regularization eps of the coarse folded operator (Hartree^2) in float32 runs: ~(0.045 Hartree)^2 with the
#: reference placed away from the levels (``placed``), ~(0.07 Hartree)^2 with it at the bulk edge.
EPS = 0.002
EPS_EDGE = 0.005
#: eps in double-precision runs, which must reach the residual target: (0.1 Hartree)^2 (smaller ones can stall).
EPS_DOUBLE = 0.01
#: eps on a grid without a coarser one (``coarse=False``), where no coarse-fine mismatch limits it.
EPS_SAME_GRID = 0.001

_DIMS = (-3, -2, -1)


class TwoGridPreconditioner:
    """K(r, beta) ~ (H - sigma)^-2 (H - sigma + beta) r for blocks of flat real vectors on ``H``'s grid (even
    shapes); with ``coarse=False`` the "coarse" system is H's own (in float32), for a grid without a coarser
    one (the coarse-grid start): then only the Nyquist planes get (T + s)^-1. ``placed``: sigma lies away from
    the levels (:mod:`.solver`, ``Reference energy``), which allows a smaller eps and fewer double-precision
    steps. It works in float32 whatever H's precision (a preconditioner needs no more) and keeps the coarse
    system in Fourier space (half spectra): restriction, (T_c + s)^-2 and prolongation cost no transform, and
    each conjugate-gradient step two coarse applications (four coarse FFTs)."""

    def __init__(self, H: GridHamiltonian, sigma: float, shift: float, eps: float | None = None,
                 steps: int | None = None, coarse: bool = True, placed: bool = True):
        low = H.coarsened() if coarse else H
        self.H, self.Hc = H, low.single() or low
        single = H.V.dtype == torch.float32
        if eps is None:
            eps = EPS_SAME_GRID if not coarse else EPS_DOUBLE if not single else EPS if placed else EPS_EDGE
        if steps is None:
            steps = STEPS_DOUBLE if coarse and placed and not single else STEPS
        self.sigma, self.shift, self.eps, self.steps = float(sigma), float(shift), float(eps), int(steps)
        self._low = (slice(None), *low_frequencies(self.Hc.shape, H.V.device))
        self._ratio = H.size / self.Hc.size
        self._kinetic = (1.0 / (H.T + shift)).to(self.Hc.V.dtype)
        self._coarse_kinetic = 1.0 / (self.Hc.T + shift) ** 2
        # Weights of the real inner product on half spectra: the planes m_3 = 0 and (n_3 even) m_3 = n_3 / 2 once,
        # the rest twice (their conjugates are not stored). Coarse shapes can be odd (fine 54 -> 27).
        nc3 = self.Hc.shape[2]
        self._weight = torch.full((nc3 // 2 + 1,), 2.0, dtype=self.Hc.V.dtype, device=H.V.device)
        self._weight[0] = 1.0
        if nc3 % 2 == 0:
            self._weight[-1] = 1.0

    def _dot(self, A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
        return ((A.conj() * B).real * self._weight).sum(dim=_DIMS)

    def _shifted(self, Y: torch.Tensor) -> torch.Tensor:
        return self.Hc.apply_spectral(Y) - self.sigma * Y

    def _coarse_solve(self, r: torch.Tensor) -> torch.Tensor:
        """``steps`` preconditioned conjugate-gradient steps on [(H_c - sigma)^2 + eps] y = r, per block row
        (half spectra)."""
        tiny = torch.finfo(self.Hc.V.dtype).tiny
        y = torch.zeros_like(r)
        z = r * self._coarse_kinetic
        p, rz = z, self._dot(r, z)
        for step in range(self.steps):
            Ap = self._shifted(self._shifted(p)) + self.eps * p
            alpha = (rz / self._dot(p, Ap).clamp_min(tiny))[:, None, None, None]
            y = y + alpha * p
            if step == self.steps - 1:
                break
            r = r - alpha * Ap
            z = r * self._coarse_kinetic
            rz_new = self._dot(r, z)
            p, rz = z + (rz_new / rz.clamp_min(tiny))[:, None, None, None] * p, rz_new
        return y

    def __call__(self, R: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        """The correction for the H residuals ``R`` = (H - e) x (rows) with ``beta`` = e - sigma per row."""
        m, n, nc = R.shape[0], self.H.shape, self.Hc.shape
        F = torch.fft.rfftn(R.reshape(m, *n).to(self.Hc.V.dtype), dim=_DIMS)
        Rc = torch.zeros((m, nc[0], nc[1], nc[2] // 2 + 1), dtype=F.dtype, device=F.device)
        Rc[self._low] = F[self._low] / self._ratio
        Yc = self._coarse_solve(self._shifted(Rc) + beta.to(Rc.real.dtype)[:, None, None, None] * Rc)
        out = F * self._kinetic
        out[self._low] = Yc[self._low] * self._ratio
        return torch.fft.irfftn(out, s=n, dim=_DIMS).reshape(m, -1).to(R.dtype)
