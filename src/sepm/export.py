r"""Export of fitted local potentials: the v(q) table, the real-space potential, and plots.

Every function takes the potential as a callable ``vq(q) -> (nq, n_species)`` (q in 1/Bohr, a float64
tensor; v in Hartree·Bohr^3) plus the species names in bundle (alphabetical) order. Every column
of every file is named in its last ``#`` header line (``# q v_Ga v_As`` / ``# r v_Ga v_As``).

Spherical transform
-------------------
For a spherically symmetric potential the 3-D inverse Fourier transform reduces to

    v(r) = 1/(2 pi^2) ∫_0^qmax q^2 v(q) j0(q r) dq,     j0(x) = sin(x)/x,  j0(0) = 1,

(v in Hartree, r in Bohr). It is evaluated by Gauss–Legendre quadrature as one matrix product
``v(r) = K @ (q^2 v(q))`` with ``K[i, n] = w_n j0(q_n r_i) / (2 pi^2)``.

The q -> 0 end: the long-range tail -a4 4 pi/q^2 exp(-q^2/(4 gamma^2)) diverges, but q^2 v(q) stays
finite (-> -4 pi a4), so the integrand is regular. The callable, however, sets the tail to 0 below
q0 = LR_QMIN (the G = G' convention of the Hamiltonian), which would make the integral depend on
whether a node happens to fall below q0 (an error up to 2 a4 q0 / pi ~ 6e-5 a4 Hartree). So the
Gauss–Legendre nodes are placed on [q0, qmax] only, and the sliver [0, q0] is added as
q0 · q1^2 v(q1) j0(q1 r) at the first node q1 (the integrand is constant there to O(q0^2)); the
transform is then that of the physical potential, tail included, to ~1e-10.

Analytic checks (tests/test_export.py): (pi/alpha)^{3/2} exp(-q^2/(4 alpha)) <-> exp(-alpha r^2),
and -4 pi/q^2 exp(-q^2/(4 gamma^2)) <-> -erf(gamma r)/r.

Convergence
-----------
The quadrature has two parameters: the cutoff qmax (truncation) and the node count nq (j0(q r)
oscillates ~ qmax rmax / pi times on [0, qmax], so nq must exceed ~ qmax rmax / 2). When they are not
given, ``export_realspace`` doubles nq at each qmax of ``QMAX_SCHEDULE`` until v(r) changes by less
than ``tol`` (max over r >= 0.5 Bohr and species), and takes the first qmax whose nq-converged v(r)
differs from that of the previous qmax by less than ``tol`` (the scan runs on through the schedule so
the convergence plot shows the whole curve). The chosen grids and the achieved change are written in
the header of ``final_pot.dat`` and returned.
"""

from __future__ import annotations

import functools
import logging
import math
from pathlib import Path

import numpy as np
import torch
from scipy.special import roots_legendre
from matplotlib.figure import Figure

from .constants import LR_QMIN
from .errors import Defect, InputError
from .output import save_figure, write_table

log = logging.getLogger("sepm")

#: qmax values (1/Bohr) tried in turn by ``export_realspace`` when qmax is not given.
QMAX_SCHEDULE = (8.0, 12.0, 16.0, 24.0, 32.0)
#: Convergence target for v(r), Hartree, and the r from which it is measured, Bohr.
CONVERGENCE_TOL = 1e-6
CONVERGENCE_RMIN = 0.5
#: Largest node count tried when refining nq.
NQ_MAX = 8192
#: Smallest node count of an nq scan (recorded for the plot; not accepted below the oscillation bound).
NQ_MIN = 32

_FMT = "%.12e"


def _columns(first: str, species) -> list[str]:
    return [first, *(f"v_{s}" for s in species)]


def _evaluate(vq, q: torch.Tensor) -> torch.Tensor:
    """vq(q) as a (nq, n_species) float64 tensor, without building a graph."""
    with torch.no_grad():
        v = torch.as_tensor(vq(q), dtype=torch.float64)
    return v.reshape(len(q), -1)


# ----------------------------------------------------------------------------------------- q space


def write_qspace_table(path, vq, species, qmax: float = 10.0, nq: int = 1001) -> Path:
    """Write ``v(q)`` on a uniform grid of ``nq`` points on [0, qmax] (a ``*_qSpace_pot.dat`` file).

    Columns ``q v_<Sym1> v_<Sym2> ...``; q in 1/Bohr, v in Hartree·Bohr^3. Written atomically.
    """
    species = list(species)
    q = torch.linspace(0.0, float(qmax), int(nq), dtype=torch.float64)
    v = _evaluate(vq, q)
    if v.shape[1] != len(species):
        raise ValueError(f"vq returned {v.shape[1]} columns for {len(species)} species {species}")
    header = [
        "sepm local pseudopotential form factors v(q) (reciprocal space)",
        "units: q in 1/Bohr, v(q) in Hartree*Bohr^3",
        f"grid: {int(nq)} uniform points on [0, {float(qmax):g}] 1/Bohr",
        "long-range tail (if any) included for q >= %g 1/Bohr, omitted below" % LR_QMIN,
    ]
    data = torch.cat([q[:, None], v], dim=1).numpy()
    return write_table(path, _columns("q", species), data, header_lines=header, fmt=_FMT)


def read_qspace_table(path):
    """Read a v(q) table: ours (``*_qSpace_pot.dat``) or DeepPseudopot's ``init_qSpace_pot.par``.

    Rows are ``q v_1 ... v_n``; ``#`` lines and blank lines are skipped. Returns ``(q (nq,),
    values (nq, n_species), species)`` as numpy arrays; ``species`` is the list of names when the
    last ``#`` header line reads ``# q v_<Sym1> ...`` with the right column count, else None.
    Raises ``InputError`` naming the line for non-numeric entries, ragged rows, or an empty table.
    """
    path = Path(path)
    rows, defects, names, ncol = [], [], None, None
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        text = line.strip()
        if not text:
            continue
        if text.startswith("#"):
            tokens = text.lstrip("#").split()
            if len(tokens) >= 2 and tokens[0] == "q" and all(t.startswith("v_") for t in tokens[1:]):
                names = [t[2:] for t in tokens[1:]]
            continue
        tokens = text.split()
        try:
            values = [float(t) for t in tokens]
        except ValueError:
            bad = next(t for t in tokens if not _is_float(t))
            defects.append(Defect(path, lineno, f"not a number: {bad!r}"))
            continue
        if not all(math.isfinite(x) for x in values):
            defects.append(Defect(path, lineno, "not a finite number (nan or inf)"))
            continue
        if ncol is None:
            ncol = len(values)
            if ncol < 2:
                defects.append(Defect(path, lineno, f"expected columns 'q v_1 ... v_n', found {ncol} value"))
        elif len(values) != ncol:
            defects.append(Defect(path, lineno, f"ragged row: {len(values)} values, expected {ncol}"))
            continue
        rows.append(values)
    if not rows and not defects:
        defects.append(Defect(path, None, "no data rows"))
    if defects:
        raise InputError(defects)
    table = np.asarray(rows, dtype=float)
    if names is not None and len(names) != table.shape[1] - 1:
        names = None
    return table[:, 0], table[:, 1:], names


def _is_float(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


# -------------------------------------------------------------------------------------- real space


@functools.lru_cache(maxsize=32)
def _legendre(n: int):
    x, w = roots_legendre(n)
    return x, w


def quadrature(qmax: float, nq: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Nodes and weights for ∫_0^qmax f(q) dq: Gauss–Legendre on [LR_QMIN, qmax], the [0, LR_QMIN]
    sliver folded into the weight of the first node (see the module docstring)."""
    x, w = _legendre(int(nq))
    lo, half = LR_QMIN, 0.5 * (float(qmax) - LR_QMIN)
    q = torch.as_tensor(lo + half * (x + 1.0), dtype=torch.float64)
    w = torch.as_tensor(half * w, dtype=torch.float64)
    w[0] += lo
    return q, w


def realspace_potential(vq, r, qmax: float = 16.0, nq: int = 512) -> torch.Tensor:
    """v(r) = 1/(2 pi^2) ∫_0^qmax q^2 v(q) j0(q r) dq for every species: (nr, n_species), Hartree.

    ``r`` in Bohr (array or tensor, r >= 0). One matrix product over Gauss–Legendre nodes; the
    result is differentiable with respect to parameters inside ``vq``.
    """
    r = torch.as_tensor(r, dtype=torch.float64).reshape(-1)
    q, w = quadrature(qmax, nq)
    f = q[:, None] ** 2 * torch.as_tensor(vq(q), dtype=torch.float64).reshape(len(q), -1)
    kernel = torch.special.spherical_bessel_j0(r[:, None] * q[None, :]) * (w / (2.0 * math.pi**2))
    return kernel @ f


def _change(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
    """max |a - b| over the masked r, per species."""
    return (a[mask] - b[mask]).abs().amax(dim=0).numpy()


def converge_realspace(vq, r, qmax=None, nq=None, tol: float = CONVERGENCE_TOL,
                       rmin: float = CONVERGENCE_RMIN) -> dict:
    """Choose (qmax, nq) so that v(r) on r >= rmin changes by < tol between successive refinements.

    At each qmax, nq doubles from ``NQ_MIN`` until the change is below ``tol`` with the coarser rule
    at least ``qmax rmax / 2 + 32`` nodes (so j0(q r) is resolved); the finer rule is kept. Over
    ``QMAX_SCHEDULE`` the first qmax whose v(r) differs from the previous qmax's by < ``tol`` is
    chosen; the scan still runs through the schedule so the record shows the whole curve. With
    ``qmax`` given only nq is refined; with ``nq`` given it is used as is, its error estimated
    against 2 nq. Returns a dict with ``v`` (nr, n_species), ``qmax``, ``nq``, ``max_change`` (and per
    species), ``converged``, ``tol``, ``rmin``, and the histories ``qmax_history`` [(qmax, nq,
    change vs previous qmax per species)] and ``nq_history`` [(nq, change vs previous nq)] at the
    chosen qmax.
    """
    r = torch.as_tensor(r, dtype=torch.float64).reshape(-1)
    mask = r >= rmin
    if not mask.any():
        mask = torch.ones_like(r, dtype=torch.bool)
    rmax = float(r.max())

    def refine_nq(qm):
        if nq is not None:
            v, v2 = realspace_potential(vq, r, qm, int(nq)), realspace_potential(vq, r, qm, 2 * int(nq))
            d = _change(v2, v, mask)
            return v, int(nq), d, [(2 * int(nq), d)]
        n_min = qm * rmax / 2.0 + 32
        n, v, history = NQ_MIN, realspace_potential(vq, r, qm, NQ_MIN), []
        while True:
            v2 = realspace_potential(vq, r, qm, 2 * n)
            d = _change(v2, v, mask)
            history.append((2 * n, d))
            if (n >= n_min and d.max() < tol) or 2 * n >= NQ_MAX:
                return v2, 2 * n, d, history
            n, v = 2 * n, v2

    with torch.no_grad():
        qmax_history, prev, chosen = [], None, None
        for qm in ([float(qmax)] if qmax is not None else QMAX_SCHEDULE):
            v, n, d, nq_history = refine_nq(qm)
            level = dict(qmax=qm, nq=n, v=v, nq_change=d, nq_history=nq_history, qmax_change=np.zeros_like(d))
            if prev is not None:
                level["qmax_change"] = _change(v, prev["v"], mask)
                qmax_history.append((qm, n, level["qmax_change"]))
            ok = max(level["qmax_change"].max(), d.max()) < tol and (prev is not None or qmax is not None)
            if chosen is None and ok:
                chosen = level
            prev = level
        converged = chosen is not None
        chosen = chosen or prev
    change = np.maximum(chosen["nq_change"], chosen["qmax_change"])
    return dict(v=chosen["v"], qmax=chosen["qmax"], nq=chosen["nq"], max_change=float(change.max()),
                max_change_per_species=change, converged=converged, qmax_history=qmax_history,
                nq_history=chosen["nq_history"], tol=tol, rmin=rmin)


def export_realspace(path, vq, species, rmax: float = 15.0, nr: int = 1501, qmax=None, nq=None,
                     convergence_stem=None) -> dict:
    """Write the real-space potentials of all species to ``path`` (``final_pot.dat``), atomically.

    r is uniform on [0, rmax] Bohr with ``nr`` points; rows ``r v_<Sym1> ...`` in Hartree. qmax / nq
    are chosen by ``converge_realspace`` when not given; the header states the transform, units,
    grids and the achieved convergence. With ``convergence_stem`` the convergence plot is saved as
    ``<stem>.png`` and ``<stem>.pdf``. Returns dict(qmax, nq, max_change, rmax, nr, converged,
    path, plot) where ``plot`` lists the figure files (empty without a stem).
    """
    species = list(species)
    r = torch.linspace(0.0, float(rmax), int(nr), dtype=torch.float64)
    res = converge_realspace(vq, r, qmax, nq)
    v = res["v"]
    if v.shape[1] != len(species):
        raise ValueError(f"vq returned {v.shape[1]} columns for {len(species)} species {species}")
    if not res["converged"]:
        log.warning("%s: real-space potential not converged to %g Hartree: max change %.3g at qmax = %g, nq = %d "
                    "(written with 'converged = no' in its header)", path, res["tol"], res["max_change"], res["qmax"],
                    res["nq"])
    per = " ".join(f"{s}={c:.2e}" for s, c in zip(species, res["max_change_per_species"]))
    header = [
        "sepm real-space local pseudopotentials",
        "v(r) = 1/(2 pi^2) * integral_0^qmax q^2 v(q) j0(q r) dq,  j0(x) = sin(x)/x",
        "units: r in Bohr, v(r) in Hartree (v(q) in Hartree*Bohr^3, q in 1/Bohr)",
        f"q grid: qmax = {res['qmax']:g} 1/Bohr, nq = {res['nq']} Gauss-Legendre nodes on "
        f"[{LR_QMIN:g}, qmax] (+ [0, {LR_QMIN:g}] sliver at the first node)",
        f"r grid: {int(nr)} uniform points on [0, {float(rmax):g}] Bohr",
        f"convergence: max |dv(r)| over r >= {res['rmin']:g} Bohr between successive refinements = "
        f"{res['max_change']:.3e} Hartree (target {res['tol']:g}; {per}); "
        f"converged = {'yes' if res['converged'] else 'no'}",
    ]
    data = torch.cat([r[:, None], v], dim=1).numpy()
    write_table(path, _columns("r", species), data, header_lines=header, fmt=_FMT)
    plot = plot_convergence(convergence_stem, res, species) if convergence_stem is not None else []
    return dict(qmax=res["qmax"], nq=res["nq"], max_change=res["max_change"], rmax=float(rmax),
                nr=int(nr), converged=res["converged"], path=Path(path), plot=plot)


# ------------------------------------------------------------------------------------------ plots


def plot_convergence(stem, result: dict, species) -> list[Path]:
    """Left: max|Δv(r)| vs qmax (each qmax against the previous); right: vs nq at the final qmax."""
    fig = Figure(figsize=(11, 4.2))
    left, right = fig.subplots(1, 2)
    qh, nh = result["qmax_history"], result["nq_history"]
    for i, s in enumerate(species):
        if qh:
            left.semilogy([h[0] for h in qh], [h[2][i] for h in qh], "o-", label=s)
        right.semilogy([h[0] for h in nh], [h[1][i] for h in nh], "o-", label=s)
    for ax in (left, right):
        ax.axhline(result["tol"], color="gray", ls="--", lw=1, label=f"target {result['tol']:g}")
        ax.set_ylabel(f"max |Δv(r)| over r ≥ {result['rmin']:g} Bohr (Hartree)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    left.axvline(result["qmax"], color="k", lw=0.8)
    left.set_xlabel("qmax (1/Bohr)")
    left.set_title("change vs previous qmax" if qh else "qmax fixed (no scan)")
    right.axvline(result["nq"], color="k", lw=0.8)
    right.set_xscale("log", base=2)
    right.set_xlabel("nq (Gauss–Legendre nodes)")
    right.set_title(f"change vs previous nq at qmax = {result['qmax']:g} 1/Bohr")
    fig.suptitle(f"Convergence of v(r) = (1/2π²)∫q²v(q)j0(qr)dq: qmax = {result['qmax']:g} 1/Bohr, "
                 f"nq = {result['nq']}, max change = {result['max_change']:.1e} Hartree")
    fig.tight_layout()
    return save_figure(fig, stem)


def plot_potentials(stem, vq, species, qmax: float = 10.0, reference=None, title: str = "",
                    nq: int = 501, reference_name: str = "reference") -> list[Path]:
    """Plot v(q) of every species on [0, qmax] (the training "plotPP" plot) to ``stem``.png/.pdf.

    ``reference`` (another callable with the same columns, e.g. the Zunger prior) is drawn dashed in
    the same colour, labelled ``<Sym> (reference_name)``.
    """
    q = torch.linspace(0.0, float(qmax), int(nq), dtype=torch.float64)
    v = _evaluate(vq, q).numpy()
    ref = _evaluate(reference, q).numpy() if reference is not None else None
    fig = Figure(figsize=(6.5, 4.5))
    ax = fig.subplots()
    for i, s in enumerate(species):
        (line,) = ax.plot(q, v[:, i], label=s)
        if ref is not None:
            ax.plot(q, ref[:, i], "--", color=line.get_color(), label=f"{s} ({reference_name})")
    ax.axhline(0.0, color="gray", lw=0.5)
    # A long-range tail diverges as 1/q^2 at q -> 0 (and is omitted at q = 0 itself): scale the axis
    # to q = 0 and q >= qmax/20 when the values in between would otherwise flatten everything else.
    both = v if ref is None else np.concatenate([v, ref], axis=1)
    keep = both[(q.numpy() >= 0.05 * qmax) | (q.numpy() == 0.0)]
    lo, hi = keep.min(), keep.max()
    span = hi - lo
    if both.min() < lo - span or both.max() > hi + span:
        ax.set_ylim(lo - 0.1 * span, hi + 0.1 * span)
    ax.set_xlabel("q (1/Bohr)")
    ax.set_ylabel("v(q) (Hartree·Bohr³)")
    ax.set_title(title or "Local pseudopotentials v(q)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return save_figure(fig, stem)
