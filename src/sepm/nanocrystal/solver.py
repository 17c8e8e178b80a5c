r"""The few states of a dot nearest a reference energy: folded-spectrum LOBPCG.

The eigenvectors of the folded operator A = (H - sigma)^2 are those of H, and its smallest eigenvalues
belong to the states of H nearest sigma (Wang and Zunger's folded-spectrum method), so a reference
energy in the gap gives the band-edge states without computing the thousands of valence states below.
A is minimized by block LOBPCG (Knyazev): Rayleigh-Ritz of A on span[X, W, P] with X the current block,
W the expansion vectors and P the previous step's direction. The Rayleigh-Ritz matrix needs only
B S with B = H - sigma, since S^H A S = (B S)^H (B S) (B Hermitian): one application of H per new
vector, and A is never applied. W is either the preconditioned folded residual K (A X - X Lambda),
K = (T + s)^-2 in Fourier space (A ~ T^2 at large |G|; computing A X costs a second application per
vector), or, with the two-grid preconditioner, a map of the residuals of H, (H - e) x, which B X gives
for free (see ``Two-grid preconditioner``). The basis is orthonormalized by SVQB (eigh of its Gram
matrix, directions below 1e-12 of the largest dropped), so it never breaks down; converged vectors stop
adding directions (soft locking); B X is carried along and recomputed every ``REFRESH`` iterations
against drift. When the carried residuals say converged, H is diagonalized among the wanted vectors
(separating levels at sigma +- delta) and convergence, every residual sigma_n = ||H psi - E psi|| < tol
(the client's measure, sqrt(<H^2> - <H>^2)), is confirmed with B X computed afresh.

The solver is generic: H is any callable on a block of row vectors (m, N), real symmetric or complex
Hermitian (inner products conjugate the left vector), with an optional preconditioner callable and a
starting block. Cost per iteration and unconverged vector: one application of H (two with the folded
residual); ``applications`` counts them.

Grid start (``grid_states``). The block starts from the states of the same problem on every second
grid point (spacing 2h, V sampled there, 1/8 of the points), solved to ``COARSE_TOL`` (itself started
the same way while its spacing allows) and carried to the grid by Fourier interpolation. Measured on
GaAs dots (fine-grid-equivalent H applications, the same levels): 4 valence states near the bulk VBM
of 65 sites (48^3) 1770 -> 980, of 223 sites (48^3) 3384 -> 1625; whole dots (bench/dot.py, both
edges): 223 sites 6082 -> 3702 (2.2x less time), 765 sites (80^3) 11,170 -> 7578 (1.6x). With the two-grid
preconditioner the start's run is preconditioned by conjugate gradients on its own grid's folded operator
(:mod:`.two_grid`, ``coarse=False``): at 979 atoms it reaches its target in ~32 iterations instead of
stopping on patience after ~460, in 6 s instead of 10 per edge.

Two-grid preconditioner (``two_grid``, the default wherever H has the coarse grid of the start): the
expansion vector of each unconverged x is computed from its H residual r = (H - e) x (beta = e - sigma):
the folded residual is (B + beta) r, so K (B + beta) r with K ~ (B^2 + eps)^-1 is what the folded
residual's preconditioning would give. Its low frequencies get that from the coarse grid's H
(:mod:`.two_grid`), its high ones (T + s)^-1 (B ~ T there); the coarse applications count (N_coarse / N
each). Measured side by side (the R = 16 Bohr GaAs dot, 123 atoms, 48^3, fine run from the same
coarse start, double precision, 4 valence states, 1 thread): 933 applications and 65 iterations with the
earlier form (two fine applications per vector and iteration, K on the folded residual with 4 coarse
steps), 540 / 53 with this one at 4 coarse steps, 472 / 41 at 6 (2 / 3 / 8 / 12 steps: 1128 / 581 /
502 / 488); conduction side 1185 against 631 (4 steps) and 565 (8). Without the coarse part ((T + s)^-1
alone on the H residual) it does not converge in 2000 iterations, so the kinetic preconditioner keeps
the folded residual. Tried and dropped on the same valence run (fine applications included):
smoothing steps with the fine folded operator, (T + s)^-2-preconditioned Richardson after the two-grid
correction (w = 0.5 / 0.9: 1248 / 1081) and a V-cycle with one pre- and one post-smoothing step around
the coarse correction (1478 / 1252, 38 iterations); the reference moved halfway (or 0.7, 0.85 of the way)
to the coarse grid's band edge (1089 / 1173 / 1257; conduction 1302 / 1380 / 1437 against 1185); the
exact folded inverse (A + eps)^-1 approximated by 3-20 inner CG steps preconditioned by the two-grid one
(6-25 outer iterations but 1194-3993 applications); with this form, harmonic Ritz extraction around sigma
(eigenpairs of (B S)^H S in the metric (B S)^H B S) instead of the Rayleigh-Ritz of A, 454 against 472
(not worth a second extraction); the two-grid preconditioner one level down in the coarse start, 1031
against 847 (valence, float32 first), 1197 against 953 (conduction).

Reference energy (``edge_states``). A bulk band edge keeps every level of a confined dot on one side, but
at 979 atoms the HOMO lies only ~0.2 eV below the bulk VBM, and with a preconditioner ~(B^2 + eps)^-1 the
folded gaps that set the pace are ~2 d de eps / (d^2 + eps)^2 for levels d from the reference, de apart:
small for small d. So each run places its reference after its coarse-grid start (whose levels lie within
~20 meV of the fine ones): ``REFERENCE_DISTANCE`` (0.8 eV) on the gap side of the nearest of those on the
wanted side of mid-gap, but no nearer the other side than where the farthest of them lies ``REFERENCE_RATIO``
times as far as the bulk edge across the gap (the other side's levels lie beyond it). Too near the other side
breaks the two-grid form, which takes each vector to lie on one side of sigma: with both references 0.5 eV
inside the bulk gap, the 123-atom dot's conduction side (LUMO 0.81 eV above the bulk CBM) had wanted levels
1.31-1.61 eV away and the HOMO triplet at 1.54 eV, mixed them, and did not converge in 2000 iterations
((T + s)^-2 on folded residuals converged, slowly). So did the 29-atom dot of the default chain (R = 10
Bohr, LUMO 1.5 eV above the CBM) with the reference at the CBM, the HOMO 2.3 eV below it: at 1 thread not
converged after 2137 iterations, and 370 iterations and 9081 applications with the reference placed 0.8 eV
below the coarse LUMO (at 2 threads 1786 iterations and 40,464 applications before). When states
found from a placed reference lie on both sides of mid-gap, the run is repeated from the bulk edge. On grids
below ``TUNED_POINTS`` the reference only moves away from the gap (see ``Guards`` for why). On the
979-atom
dot (100^3, 2 threads, start to 1e-3) the valence side took 3069 applications at the bulk edge and 2299 with
the reference 0.3 eV inside the bulk gap (two-grid eps 0.005), 2130 / 2032 at 0.5 / 0.6 eV (eps 0.002); the
conduction side 1745 at the edge and 1665 at 0.5 eV (eps 0.002); the placed reference, with the start to
4e-3, 1738 and 1262.

Guards. The guard vectors complete a multiplet and widen the block's gap; once they come from a start (the
coarse grid's block, or the float32 one), they get no new directions (``guards=False``) and only turn with
each Rayleigh-Ritz step: on the 979-atom dot the float32 run took 798 applications (51 iterations) against
1217 (45) on the valence side, 685 against 818 on the conduction side, with the double-precision finish
259 against 184 and 78 against 118. A run whose guards idle and whose wanted residuals stall for
``GUARD_PATIENCE`` iterations gives them directions again. Both changes (and ``COARSE_TOL_TWO_GRID``) apply
where they were measured to pay: the two-grid preconditioner on grids of ``TUNED_POINTS`` (64^3) or more
(below it, the reference is placed only when that moves it away from the gap). On
small dots the coarse-grid levels can lie far from the fine ones (the 87-atom dot of the default chain, R =
14 Bohr, 52^3: coarse LUMO 0.35 eV above the bulk CBM, fine 1.16 eV), so the placed reference brought valence
states among the wanted conduction ones: 287 iterations and 28,724 applications against 102 and 2361 before,
and the default chain's R = 10 and 12 Bohr conduction sides did not converge with idle guards (at 1 thread).
The spinor dots (kinetic preconditioner) keep the bulk edge and active guards as well: on the 1-cell CsPbI3
cube (40^3, tol 1e-3, 2 threads) both took 130 / 382 applications (valence / conduction) against 160 / 372.

Bookkeeping. The basis [X, P, W] and its B image live in two alternating pairs of buffers: the next X and
P are one product of the Ritz coefficients with the basis (P normalized through the Gram matrix), and
only the new directions are copied in. With the float32 two-grid preconditioner on half spectra
(:mod:`.two_grid`), side by side on quiet cores (bench/dot.py, 2 threads): solve 31.0 -> 24.5 s on the
513-atom dot and 150.4 -> 101.1 s on the 979-atom one, the same levels to the residual's energy error.

Precision ladder (``single``). The whole ladder first runs on a float32 copy of H (one application
2.0x cheaper on 48^3 and 80^3 at 1 thread) to a residual of SINGLE_TOL, and the double-precision run
starts from its block and ends as before: every residual below ``tol`` in double precision. Float32
runs to 1e-4 reached 9.6e-5 on a 513-atom dot but stalled at 1.2e-4 once on a 123-atom one. Measured (bench/dot.py --precision mixed
double, 1 thread, 123 atoms, 48^3): 119 s against 221 s at load 10, 49 s against 48 s at load 3.5,
14.3 / 13.1 s against 29.8 / 21.5 s alternating in one process; 402 against 370 applications per
state (the restart in double precision), the same gap; 513 atoms: 954 against 842 per state.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import torch

from ..constants import HARTREE_EV
from .hamiltonian import GridHamiltonian
from .two_grid import TwoGridPreconditioner

log = logging.getLogger("sepm")

#: Iterations between exact recomputations of H X and A X.
REFRESH = 25
#: Relative threshold below which SVQB drops a direction (double precision; single: ``DROP_SINGLE``).
DROP = 1e-12
DROP_SINGLE = 1e-5
#: Levels closer than this (Hartree) are one degenerate level.
DEGENERACY = 1e-5
#: Default residual target ||H psi - E psi|| (Hartree): the energy error is ~ TOL^2 / (level spacing).
TOL = 1e-4
#: Preconditioner shift s of (T + s)^-2, Hartree: measured best of 0.03-8 on a 35-atom GaAs dot (0.3).
SHIFT = 0.3
#: Residual target of the coarse-grid start (Hartree): 1e-4 there cost more than it saved (223 sites). With
#: the reference re-centred after the start, on the 979-atom dot (2 threads) 1e-3 / 2e-3 / 4e-3 / 8e-3 took
#: 2033 / 1876 / 1738 / 1673 applications on the valence side and 1447 / - / 1262 / 1360 on the conduction side,
#: hence ``COARSE_TOL_TWO_GRID`` there; the 1-cell CsPbI3 spinor cube (kinetic preconditioner, tol 1e-3) took
#: 280 / 718 applications (valence / conduction) with 4e-3 against 160 / 372 with 1e-3.
COARSE_TOL = 1e-3
COARSE_TOL_TWO_GRID = 4e-3
#: Residual target of the float32 run before the double-precision one (Hartree): one float32 run of a
#: 123-atom GaAs dot stalled at 1.2e-4, so 3e-4.
SINGLE_TOL = 3e-4
#: Iterations without progress after which the float32 run hands over to the double-precision one.
SINGLE_PATIENCE = 100
#: Largest spacing of a coarse start (Bohr): 2h for the default h ~ 0.75; two levels for h = 0.4.
COARSE_SPACING = 1.6
#: ``edge_states`` places the reference of the fine-grid runs this far (Hartree) on the gap side of the
#: nearest level of the coarse-grid start (0.8 eV), and at most until the farthest of its levels lies
#: ``REFERENCE_RATIO`` times as far as the bulk edge across the gap (see ``Reference energy``). On the 979-atom
#: dot both edges took 3547 / 3481 applications at 0.6 / 0.8 (start to 1e-3), the valence side 1641 against 1738
#: at 1.0 (start to 4e-3): not worth the thinner margin.
REFERENCE_DISTANCE = 0.8 / HARTREE_EV
REFERENCE_RATIO = 0.8
#: Extra block vectors: enough to complete a threefold level at the edge of the wanted ones. More cost
#: more than they save (35-atom dot, 4 valence states, 1 thread: 0/1/2/4/8 guards took 1478/1622/1763/
#: 2116/2564 H applications and 33/36/43/51/62 s). With one, the 979-atom dot's valence side lost half of a
#: twofold level; with three (idle after the start) 1288 against 1330 applications there, 1068 against 1062
#: on the conduction side.
GUARD = 2
#: Iterations without progress after which idle guard vectors get new directions again (``guards=False``).
GUARD_PATIENCE = 30
#: Smallest grid (points) on which the reference is placed after the start and the guards idle (``Guards``).
TUNED_POINTS = 64**3


@dataclass
class Levels:
    """Eigenpairs of H: energies (Hartree, ascending), residual norms, vectors (k, N), work done, the
    whole final block (wanted and guard vectors, for a restart), the method that found them (its name,
    start, precision and preconditioner) and the reference energy of the run that ended (both set by
    ``grid_states``)."""

    energies: torch.Tensor
    residuals: torch.Tensor
    vectors: torch.Tensor
    iterations: int
    applications: int
    converged: bool
    block: torch.Tensor
    method: str = "folded-spectrum LOBPCG"
    sigma: float | None = None


def _gram(S: torch.Tensor, T: torch.Tensor) -> torch.Tensor:
    """<s_i, t_j> over the rows, made Hermitian (S and T span the same space under a Hermitian operator)."""
    G = S.conj() @ T.T
    return 0.5 * (G + G.mH)


def _svqb(S: torch.Tensor, BS: torch.Tensor, m: int):
    """The m lowest Ritz vectors of A = B^2 on the rows of S, from B S (S^H A S = (B S)^H B S, B Hermitian):
    coefficients C (k, m) with C^H G C = I, and the Gram matrix G of S."""
    G = _gram(S, S)
    d, U = torch.linalg.eigh(G)
    keep = d > (DROP if torch.finfo(S.dtype).eps < 1e-10 else DROP_SINGLE) * d.max()
    Q = U[:, keep] / d[keep].sqrt()
    C = torch.linalg.eigh(Q.mH @ _gram(BS, BS) @ Q).eigenvectors
    return Q @ C[:, :m], G


def _rayleigh(X: torch.Tensor, HX: torch.Tensor) -> torch.Tensor:
    return (X.conj() * HX).sum(dim=1).real


def _normalize_rows(W: torch.Tensor) -> torch.Tensor:
    return W / W.norm(dim=1, keepdim=True).clamp_min(torch.finfo(W.dtype).tiny)


def _complete_multiplet(e: torch.Tensor, n_want: int) -> int:
    """n_want, extended over the following vectors whose energies are degenerate (< DEGENERACY) with
    the last wanted one, so that a degenerate level is never split between wanted and guard vectors."""
    k = n_want
    while k < len(e) - 1 and abs(float(e[k] - e[n_want - 1])) < DEGENERACY:
        k += 1
    return k


def folded_lobpcg(apply, X: torch.Tensor, sigma: float, n_want: int, precondition=None, tol: float = TOL,
                  max_iter: int = 2000, progress=None, patience: int | None = None, residual: str = "folded",
                  guards: bool = True) -> Levels:
    """The ``n_want`` eigenstates of H nearest ``sigma`` (Hartree) to residual ``tol`` (Hartree), ascending;
    more when the last one is degenerate (the whole multiplet is returned).

    ``apply(Y)`` is H Y for a block of row vectors (real or complex); ``X`` (m, N), m > n_want, is the
    starting block (the m - n_want guard vectors speed convergence and need not converge). With
    ``residual="folded"``, ``precondition(R)`` approximates (H - sigma)^-2 on a block of folded residuals
    (A x - lambda x; identity if None); with ``residual="h"``, ``precondition(R, beta)`` maps the residuals
    of H, (H - e) x with beta = e - sigma per row, to the correction (H - sigma)^-2 (H - sigma + beta)
    would give (the folded residual's, without applying H to it). ``progress(iteration, energies,
    residuals)`` is called every iteration. With ``patience`` the run stops (not converged) when the largest
    wanted residual has not fallen below 0.9 x its lowest for that many iterations (a float32 run at its
    rounding floor). With ``guards=False`` only the wanted vectors (their multiplets completed) get new
    directions; the guard vectors stay in the basis, turned by the Rayleigh-Ritz steps (for a start that
    already holds them, see ``grid_states``)."""
    m, n = X.shape
    best, best_it = float("inf"), 0
    applications = 0
    sigma = float(sigma)

    def shifted(Y):
        nonlocal applications
        applications += Y.shape[0]
        return apply(Y) - sigma * Y

    # The basis [X, P, W] and its image under B live in two alternating pairs of buffers: the next X and P
    # are one product of the Ritz coefficients with the basis, written into the other pair, and only the
    # new directions W (and B W) are copied in.
    buffers = [(X.new_empty(3 * m, n), X.new_empty(3 * m, n)) for _ in range(2)]
    S, BS = buffers[0]
    BX = shifted(X)
    C, _ = _svqb(X, BX, m)
    torch.matmul(C.T, X, out=S[:m])
    torch.matmul(C.T, BX, out=BS[:m])
    n_p, turn = 0, 0
    converged = False
    for it in range(1, max_iter + 1):
        X, BX = S[:m], BS[:m]
        if it % REFRESH == 0:
            BX.copy_(shifted(X))
        beta = _rayleigh(X, BX)
        R = BX - beta[:, None] * X
        res_h = R.norm(dim=1)
        k = _complete_multiplet(beta, n_want)
        if bool((res_h[:k] < tol).all()):
            # Check with exact B X, after diagonalizing H among the wanted vectors (separates sigma +- delta).
            Xe, BXe, beta, res_h = _exact_ritz(X, BX, k, shifted)
            X.copy_(Xe)
            BX.copy_(BXe)
            if bool((res_h[:k] < tol).all()):
                converged = True
                break
            R = BX - beta[:, None] * X
        if progress is not None:
            progress(it, beta[:k] + sigma, res_h[:k])
        worst = float(res_h[:k].max())
        if worst < 0.9 * best:
            best, best_it = worst, it
        elif patience is not None and it - best_it >= patience:
            break
        elif not guards and it - best_it >= GUARD_PATIENCE:
            guards = True   # stalled: the guards need directions of their own (a start far from these states)
        active = res_h >= tol
        if not guards:
            active[k:] = False
        if residual == "h":
            W = precondition(R[active], beta[active])
        else:
            BXa = BX[active]   # rows of X are orthonormal: A's Rayleigh quotient is ||B x||^2
            RA = shifted(BXa) - (BXa.conj() * BXa).sum(dim=1).real[:, None] * X[active]
            W = RA if precondition is None else precondition(RA)
        W = _normalize_rows(W)
        q = m + n_p
        s = q + W.shape[0]
        S[q:s] = W
        BS[q:s] = shifted(W)
        C, G = _svqb(S[:s], BS[:s], m)
        # Next P: the Ritz vectors' components outside X, normalized (norms from the Gram matrix).
        rest = C[m:]
        norms = (rest.conj() * (G[m:s, m:s] @ rest)).sum(dim=0).real.clamp_min(torch.finfo(S.dtype).tiny).sqrt()
        coeff = torch.cat([C, torch.cat([torch.zeros_like(C[:m]), rest / norms])], dim=1)
        turn = 1 - turn
        S2, BS2 = buffers[turn]
        torch.matmul(coeff.T, S[:s], out=S2[:2 * m])
        torch.matmul(coeff.T, BS[:s], out=BS2[:2 * m])
        S, BS, n_p = S2, BS2, m
    X, BX = S[:m], BS[:m]
    if not converged:
        X, BX, beta, res_h = _exact_ritz(X, BX, k, shifted)
    e = beta[:k] + sigma
    order = torch.argsort(e)
    return Levels(e[order], res_h[:k][order], X[:k][order], it, applications, converged, X.clone())


def _exact_ritz(X, BX, k: int, shifted):
    """Rotate the first k vectors to the eigenvectors of H in their span (from the carried B X); then exact
    B X, and the B Rayleigh quotients (e - sigma) and residual norms ||H x - e x|| of the whole block."""
    _, C = torch.linalg.eigh(_gram(X[:k], BX[:k]))
    X = torch.cat([C.T @ X[:k], X[k:]])
    BX = shifted(X)
    beta = _rayleigh(X, BX)
    return X, BX, beta, (BX - beta[:, None] * X).norm(dim=1)


def dense_levels(H) -> torch.Tensor:
    """Every level of H by dense diagonalization (tiny grids only), Hartree, ascending."""
    return torch.linalg.eigvalsh(H.dense())


def _coarsens(H) -> bool:
    """Whether H has a coarse grid for the start and the two-grid preconditioner: even shapes and a coarse
    spacing <= COARSE_SPACING."""
    return 2.0 * H.grid.spacing.max() <= COARSE_SPACING and all(n % 2 == 0 for n in H.shape)


def _own_grid(H, two_grid: bool, start: bool) -> bool | None:
    """Whether ``grid_states`` preconditions H by :class:`.two_grid.TwoGridPreconditioner`: True on H's own grid
    (a coarse-grid start that does not coarsen further), False on the coarse grid, None for (T + s)^-2."""
    if not (two_grid and isinstance(H, GridHamiltonian)):
        return None
    return False if _coarsens(H) else True if start else None


def _two_grid(H, two_grid: bool) -> bool:
    """Whether H is preconditioned two-grid (it has a coarse grid)."""
    return _own_grid(H, two_grid, False) is False


def _tuned(H, two_grid: bool) -> bool:
    """Whether H is preconditioned two-grid on at least ``TUNED_POINTS`` points, where ``grid_states`` idles the
    guards once started and places the reference after the start (see ``Guards``)."""
    return _two_grid(H, two_grid) and H.size >= TUNED_POINTS


def _preconditioner(H, sigma: float, shift: float, two_grid: bool, start: bool) -> dict:
    """``folded_lobpcg``'s preconditioner options for H."""
    own = _own_grid(H, two_grid, start)
    if own is None:
        return dict(precondition=lambda R: H.precondition(R, shift))
    return dict(precondition=TwoGridPreconditioner(H, sigma, shift, coarse=not own, placed=_tuned(H, two_grid)),
                residual="h")


def _method(H, coarse: bool, single: bool, two_grid: bool, recentred: bool) -> str:
    """What ``grid_states`` runs on H, in words (dot.json's solver.method)."""
    parts = ["folded-spectrum LOBPCG on (H - sigma)^2, Rayleigh-Ritz from (H - sigma) S",
             "coarse-grid start" if coarse and _coarsens(H) else "smooth random start"]
    if single:
        parts.append("single-precision run first")
    if _tuned(H, two_grid):
        parts.append("guard vectors without new directions once started (coarse grid or float32 run)")
    if recentred and coarse and _two_grid(H, two_grid):
        parts.append(f"reference placed {REFERENCE_DISTANCE * HARTREE_EV:g} eV from the start's levels"
                     + ("" if _tuned(H, two_grid) else " when that is away from the gap"))
    if _own_grid(H, two_grid, False) is None:
        parts.append("(T + s)^-2 preconditioner on folded residuals")
    else:
        parts.append("two-grid preconditioner on H residuals: coarse-grid CG on [(H_c - sigma)^2 + eps]^-1 "
                     "(H_c - sigma + beta) below the coarse Nyquist frequency, (T + s)^-1 above"
                     + ("; the start's coarsest grid preconditioned by CG on its own folded operator"
                        if coarse else ""))
    return "; ".join(parts)


def grid_states(H, sigma: float, n_want: int, n_guard: int = GUARD, shift: float = SHIFT, seed: int = 0,
                coarse: bool = True, single: bool = True, two_grid: bool = True, start: bool = False,
                recentre=None, **options) -> Levels:
    """``folded_lobpcg`` on a GridHamiltonian, preconditioned by (T + shift)^-2 (with ``two_grid`` by
    :class:`.two_grid.TwoGridPreconditioner`: two-grid where H coarsens, on its own grid where it does not and
    the run is a coarse-grid ``start``, as this function calls itself), from the states of the coarse grid
    (``coarse``, even shapes and a coarse spacing <= COARSE_SPACING; recursively) or from smooth random
    vectors. The coarse applications (start and preconditioner) count on ``H.applications`` as N_coarse / N
    each.

    With ``single`` (and an H that offers ``single()``) the whole ladder first runs in float32 to
    max(tol, SINGLE_TOL) and the double-precision run starts from its block: the float32 applications
    count as applications, the iterations of both runs are added, and every residual is confirmed
    below ``tol`` in double precision."""
    m = n_want + n_guard
    low = H.single() if single and hasattr(H, "single") else None
    method = _method(H, coarse, low is not None, two_grid, recentre is not None)
    if low is not None:
        tol = options.get("tol", TOL)
        first = grid_states(low, sigma, n_want, n_guard, shift, seed, coarse, two_grid=two_grid, start=start,
                            recentre=recentre, **{**options, "tol": max(tol, SINGLE_TOL), "patience": SINGLE_PATIENCE})
        progress = options.pop("progress", None)
        report = None if progress is None else (lambda it, e, r: progress(first.iterations + it, e, r))
        block = first.block.to(torch.promote_types(first.block.dtype, H.V.dtype))   # complex blocks stay complex
        levels = folded_lobpcg(H.apply, block, first.sigma, n_want, progress=report,
                               guards=not _tuned(H, two_grid),
                               **_preconditioner(H, first.sigma, shift, two_grid, start), **options)
        return replace(levels, iterations=first.iterations + levels.iterations, method=method, sigma=first.sigma)
    if coarse and _coarsens(H):
        Hc = H.coarsened()
        first = grid_states(Hc, sigma, n_want, n_guard, shift, seed, coarse, single, two_grid=two_grid, start=True,
                            **{**options, "tol": COARSE_TOL_TWO_GRID if _tuned(H, two_grid) else COARSE_TOL,
                               "progress": None})
        X, guards = H.prolonged(first.block, Hc), not _tuned(H, two_grid)
        if recentre is not None and _two_grid(H, two_grid):
            sigma = recentre(first.energies, sigma, inward=_tuned(H, two_grid))
    else:
        X, guards = H.smooth_random(m, seed), True
    levels = folded_lobpcg(H.apply, X, sigma, n_want, guards=guards,
                           **_preconditioner(H, sigma, shift, two_grid, start), **options)
    return replace(levels, method=method, sigma=float(sigma))


def _recentring(edge: float, mid: float, conduction: bool):
    """The ``recentre(energies, sigma, inward)`` of ``grid_states`` for the states at a bulk band edge (see
    ``Reference energy``): the reference for the start's level ``energies``; with ``inward=False`` sigma
    itself when that reference lies nearer the gap than sigma."""
    other, toward = 2.0 * mid - edge, 1.0 if not conduction else -1.0

    def recentre(energies: torch.Tensor, sigma: float, inward: bool = True) -> float:
        wanted = energies[energies > mid] if conduction else energies[energies < mid]
        if len(wanted) == 0:
            return sigma
        near = float(wanted.min() if conduction else wanted.max())
        far = float(wanted.max() if conduction else wanted.min())
        target = near + toward * REFERENCE_DISTANCE
        cap = (far + REFERENCE_RATIO * other) / (1.0 + REFERENCE_RATIO)
        moved = min(target * toward, cap * toward) * toward
        if not inward and (moved - sigma) * toward > 0:
            return sigma
        log.info("coarse-grid %s levels %.4f to %.4f eV: reference placed at %.4f eV (from %.4f)", "conduction"
                 if conduction else "valence", near * HARTREE_EV, far * HARTREE_EV, moved * HARTREE_EV,
                 sigma * HARTREE_EV)
        return moved

    return recentre


def edge_states(H, edge: float, n_want: int, mid: float, conduction: bool, max_moves: int = 8, **options):
    """The ``n_want`` states of the GridHamiltonian ``H`` nearest the bulk band ``edge`` (``grid_states``, with
    its ``options``) and the mask of those on the wanted side of ``mid`` (above it for ``conduction``),
    moving the reference away from mid until that side has a state; and the references of the runs.

    Each run places its reference after its coarse-grid start (``Reference energy``); when a state found
    from a placed reference lies across mid, the run is repeated without placing it. The window
    [sigma - d, sigma + d] searched by one run (d the distance of the farthest level kept) holds every state
    in it, so when none of them is on the wanted side the band edge lies beyond sigma + d (below sigma - d
    for the valence side) and the next run starts there: nothing is skipped. This happens when confinement
    moves an edge far from the bulk one (tiny dots)."""
    tried, sigma, recentre = [], edge, _recentring(edge, mid, conduction)
    label = "conduction" if conduction else "valence"
    for _ in range(max_moves + 1):
        levels = grid_states(H, sigma, n_want, recentre=recentre, **options)
        tried.append(levels.sigma)
        side = levels.energies > mid if conduction else levels.energies < mid
        if levels.sigma != sigma and not bool(side.all()):
            log.info("%d of the %d %s states found near %.4f eV lie across mid-gap: again without moving the "
                     "reference from %.4f eV", int((~side).sum()), len(side), label, levels.sigma * HARTREE_EV,
                     sigma * HARTREE_EV)
            recentre = None
            continue
        if bool(side.any()):
            return levels, side, tried
        reach = float((levels.energies - sigma).abs().max())
        sigma = sigma + reach if conduction else sigma - reach
        log.info("no %s state within %.4f eV of the reference: moving it to %.4f eV", label, reach * HARTREE_EV,
                 sigma * HARTREE_EV)
    raise RuntimeError(f"no {label} state found after {max_moves} moves of the "
                       "reference energy: the dot's gap holds many states (check the passivation and the potential)")
