"""Range checks that keep absurd input away from the solver, each a :class:`~sepm.errors.Defect` on the
line that sets the value, found before anything is allocated:

- parameters a0..a8 beyond ``PARAM_LIMIT`` in magnitude, and a Wang-Zunger pole: the denominator
  a2 exp(a3 q^2) - 1 is monotonic in q^2, so it vanishes for some q in [0, qmax] exactly when it changes
  sign (or is zero) between q = 0 and q = qmax;
- fractional k-point coordinates beyond ``KPOINT_LIMIT``;
- the plane-wave basis of maxKE: its size from the sphere volume, N ~ Omega (2 maxKE)^(3/2) / (6 pi^2), and
  the working memory of one k-point, dim^2 x ``BYTES_PER_ELEMENT`` (dim = N, 2N with spin-orbit), against
  NN_config memory_limit_GB when given, else the machine's memory; then nBands against the basis (counted
  exactly once the estimate is small).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from sepm.constants import BYTES_PER_ELEMENT, PRIOR_Q_MAX
from sepm.errors import Defect
from sepm.settings import setting

#: No SEPM coefficient comes near this magnitude (the shipped ones stay below 300).
PARAM_LIMIT = 1e5
#: Fractional k coordinates beyond this are a typo (fold the point into the first zones).
KPOINT_LIMIT = 100.0


def param_defects(path: Path, values: np.ndarray, lines: list[int], qmax: float) -> list[Defect]:
    """Magnitude of each of a0..a8 and the Zunger pole on [0, qmax] (qmax in 1/Bohr)."""
    out = [Defect(path, n, f"a{i} = {v:g} is beyond +-{PARAM_LIMIT:g}, which no pseudopotential "
                  "coefficient reaches (a typo in the exponent?)")
           for i, (v, n) in enumerate(zip(values, lines)) if abs(v) > PARAM_LIMIT]
    if out or len(values) < 4:
        return out
    a2, a3 = values[2], values[3]
    ends = (a2 - 1.0, a2 * math.exp(min(a3 * qmax * qmax, 700.0)) - 1.0)  # at q = 0 and q = qmax
    if ends[0] * ends[1] <= 0:  # then a2 > 0; with a3 = 0 the denominator is zero everywhere (a2 = 1)
        pole = math.sqrt(max(-math.log(a2) / a3, 0.0)) if a3 != 0 else 0.0
        out.append(Defect(path, lines[2], f"a2 = {a2:g} with a3 = {a3:g} (line {lines[3]}): the Zunger denominator "
                          f"a2 exp(a3 q^2) - 1 is zero at q = {pole:.4g} 1/Bohr, inside the q range used "
                          f"(0 .. {qmax:.3g} 1/Bohr); the potential would be infinite there"))
    return out


def kpoint_defects(path: Path, kfrac: np.ndarray, lines: list[int]) -> list[Defect]:
    out = []
    for row, n in zip(kfrac, lines):
        bad = np.flatnonzero(np.abs(row) > KPOINT_LIMIT)
        if len(bad):
            c = int(bad[0])
            out.append(Defect(path, n, f"column {c + 1}: k{c + 1} = {row[c]:g} is beyond +-{KPOINT_LIMIT:g} "
                              "(fractional reciprocal coordinates); fold the point into the first Brillouin zones"))
    return out


def zunger_qmax(maxkes) -> float:
    """The largest q (1/Bohr) the Zunger form is evaluated at: |G - G'| <= 2 sqrt(2 maxKE), and the prior fit."""
    return max([PRIOR_Q_MAX] + [2.0 * math.sqrt(2.0 * m) for m in maxkes if np.isfinite(m) and m > 0])


def machine_memory_gb() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        return math.inf


def estimated_basis_size(lattice: np.ndarray, maxke: float) -> float:
    """Plane waves with (1/2)|G|^2 < maxke: the sphere's volume over the reciprocal cell's."""
    volume = abs(float(np.linalg.det(lattice)))
    return volume * (2.0 * maxke) ** 1.5 / (6.0 * math.pi**2)


def basis_defects(root: Path, systems, config: dict, limit_origin: str | None) -> list[Defect]:
    """Basis size and one k-point's memory of every system, then nBands against the basis.

    ``limit_origin`` names where memory_limit_GB was set (e.g. ``NN_config.par line 4``, ``--set``); None: the
    limit is this machine's memory."""
    spinor = setting(config, "SObool")
    if limit_origin is None:
        limit = machine_memory_gb()
        limit_text = f"this machine's memory ({limit:.0f} GiB; memory_limit_GB is not set)"
        change = ""
    else:
        limit = float(config["memory_limit_GB"])
        limit_text, change = f"memory_limit_GB = {limit:g} ({limit_origin})", " or raise memory_limit_GB"
    out = []
    for spec in systems:
        lattice = spec.scale * np.asarray(spec.cell)
        if not (np.all(np.isfinite(lattice)) and np.isfinite(spec.maxke) and spec.maxke > 0) or \
                abs(np.linalg.det(lattice)) <= 1e-8 * np.prod(np.linalg.norm(lattice, axis=1)):  # an all-zero cell too
            continue  # the reader reports the value or the singular cell
        path, line = root / f"input_{spec.index}.par", spec.where.get("maxKE")
        n_pw = estimated_basis_size(lattice, spec.maxke)
        dim = n_pw * (2 if spinor else 1)
        need = dim * dim * BYTES_PER_ELEMENT / 2**30
        if not need <= limit:
            fits = spec.maxke * (limit / need) ** (1 / 3) if need < math.inf else 0.0
            out.append(Defect(path, line, f"maxKE = {spec.maxke:g} Ha gives about {n_pw:.3g} plane waves "
                              f"(Hamiltonian dimension {dim:.3g}{' with spin-orbit' if spinor else ''}); one "
                              f"k-point needs about {need:.3g} GiB, more than {limit_text}; lower maxKE (about "
                              f"{fits:.3g} Ha fits){change}"))
            continue
        if spec.nbands > 0.5 * n_pw:  # maybe near the basis size (levels <= nBands): count exactly
            from sepm.bands import levels_needed
            from sepm.basis import sphere_miller_indices

            reciprocal = 2.0 * np.pi * np.linalg.inv(lattice).T
            n_exact = len(sphere_miller_indices(reciprocal, lattice, spec.maxke, spec.deeppseudopot_basis))
            states, levels = n_exact * (2 if spinor else 1), levels_needed(spec.nbands, spinor)
            if levels > states:
                out.append(Defect(path, spec.where.get("nBands"), f"nBands = {spec.nbands} needs {levels} "
                                  f"{'spinor ' if spinor else ''}levels but maxKE = {spec.maxke:g} Ha (line "
                                  f"{line}) gives a basis of only {states} states; raise maxKE or lower nBands"))
    return out
