"""Electron-phonon coupling files of a bundle system X (optional; SPEC section 4).

``qpoints_X.par``
    Rows ``q1 q2 q3 weight``, fractional reciprocal coordinates like kpoints_X.par. For every q,
    k_g + q (k_g = k-point idxGap of input_X.par) must equal a k-point of kpoints_X.par up to a
    reciprocal-lattice vector G0; input_X.par must give idxVB, idxCB and idxGap.
``expCoupling_X.par`` (optional, needs qpoints_X.par): target couplings in eV/Bohr, one block per atom::

    Atom idx = 0   atom = Pb   position = XXX
    vb-vb coupling elements. polarization of derivative = x
    0.028   0.69
    polarization of derivative = y
    0.12   0.69
    polarization of derivative = z
    0.009   0.69
    cb-cb coupling elements. polarization of derivative = x
    ...

  i.e. per atom (0-based index in system_X.par) and edge (vb, cb) a row of one value per q-point for
  each direction x, y, z. Every atom, edge and direction must be given once. ``Not-fit`` (written by
  DeepPseudopot for values it did not compute) leaves that entry out of the loss. The text after
  ``atom =`` is not used. ``couplingBands_X.dat`` files written by sepm have this layout too (with
  ``#`` comment lines), so they can serve as targets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import Defect
from .parfile import data_lines, parse_float, read_table

DIRECTIONS = "xyz"
EDGES = ("vb", "cb")
#: Fractional tolerance for k_g + q to match a k-point up to an integer vector.
MATCH_TOL = 1e-6

_ATOM = re.compile(r"^Atom\s+idx\s*=\s*(\S+)", re.IGNORECASE)
_EDGE = re.compile(r"^(vb|cb)-(vb|cb)\s+coupling\s+elements\.?(.*)$", re.IGNORECASE)
_POL = re.compile(r"^polarization\s+of\s+derivative\s*=\s*(\S+)\s*$", re.IGNORECASE)


@dataclass
class CouplingInputs:
    """Phonon q-points of one system, the k-point k_g + q - G0 of each, and the optional targets."""

    qpoints: np.ndarray  # (nq, 3) fractional
    qweights: np.ndarray  # (nq,)
    partner: np.ndarray  # (nq,) index of the k-point equal to k_g + q - G0
    umklapp: np.ndarray  # (nq, 3) integer G0 (fractional)
    reference: np.ndarray | None  # (n_atoms, 3, nq, 2) eV/Bohr, NaN = not fitted; edges (vb, cb)
    qfile: Path
    reffile: Path | None


def match_kpoints(kpoints: np.ndarray, kgap: int, qpoints: np.ndarray, tol: float = MATCH_TOL):
    """For each q the first k-point k' with k_g + q - k' integral (an exact match preferred), and G0 =
    k_g + q - k'; index -1 where none."""
    partner = np.full(len(qpoints), -1, dtype=np.int64)
    g0 = np.zeros((len(qpoints), 3), dtype=np.int64)
    for i, q in enumerate(qpoints):
        diff = kpoints[kgap] + q - kpoints
        shift = np.round(diff)
        ok = np.all(np.abs(diff - shift) < tol, axis=1)
        if ok.any():
            hits = np.flatnonzero(ok)
            exact = hits[np.all(shift[hits] == 0, axis=1)]
            partner[i] = exact[0] if len(exact) else hits[0]
            g0[i] = shift[partner[i]].astype(np.int64)
    return partner, g0


def read_coupling_inputs(root: Path, x: int, settings: dict, where: dict, kpoints: np.ndarray | None,
                         natoms: int, defects: list[Defect]) -> CouplingInputs | None:
    """qpoints_X.par and expCoupling_X.par of system X, or None when the system has no qpoints_X.par."""
    qfile, reffile = root / f"qpoints_{x}.par", root / f"expCoupling_{x}.par"
    inp = root / f"input_{x}.par"
    if not qfile.is_file():
        if reffile.is_file():
            defects.append(Defect(reffile, None, f"coupling targets need the phonon q-points: {qfile.name} is missing"))
        return None
    table, lines = read_table(qfile, 4, defects, columns="q1 q2 q3 weight")
    if len(table) == 0:
        defects.append(Defect(qfile, None, "no q-points (rows q1 q2 q3 weight)"))
    for w, n in zip(table[:, 3], lines):
        if w < 0:
            defects.append(Defect(qfile, n, f"column 4: weight must be >= 0, got {w:g}"))
    missing = [k for k in ("idxVB", "idxCB", "idxGap") if k not in settings]
    if missing:
        defects.append(Defect(inp, None, f"{qfile.name} asks for couplings, which need {', '.join(missing)} "
                              "(band slots of the edges and the k-point index of the gap, 0-based)"))
    nk = 0 if kpoints is None else len(kpoints)
    kgap = settings.get("idxGap")
    partner, g0 = np.full(len(table), -1), np.zeros((len(table), 3), dtype=np.int64)
    if not nk:
        defects.append(Defect(qfile, None, f"couplings need the k-points k_gap and k_gap + q in kpoints_{x}.par"))
    elif kgap is not None and not 0 <= kgap < nk:
        defects.append(Defect(inp, where.get("idxGap"), f"idxGap = {kgap} out of range 0..{nk - 1} "
                              f"(kpoints_{x}.par has {nk} k-points)"))
    elif kgap is not None and np.all(np.isfinite(table)):
        partner, g0 = match_kpoints(kpoints, kgap, table[:, :3])
        for i in np.flatnonzero(partner < 0):
            kq = kpoints[kgap] + table[i, :3]
            defects.append(Defect(qfile, lines[i], f"k_gap + q = ({' '.join(f'{v:g}' for v in kq)}) (k-point idxGap = "
                                  f"{kgap} plus this q) is not a k-point of kpoints_{x}.par, not even up to a "
                                  "reciprocal-lattice vector; add it there"))
    reference = read_expcoupling(reffile, natoms, len(table), defects) if reffile.is_file() else None
    return CouplingInputs(table[:, :3], table[:, 3], partner, g0, reference, qfile,
                          reffile if reffile.is_file() else None)


def read_expcoupling(path: Path, natoms: int, nq: int, defects: list[Defect]) -> np.ndarray:
    """Targets (natoms, 3, nq, 2) of ``expCoupling_X.par`` (layout in the module docstring)."""
    out = np.full((natoms, 3, nq, 2), np.nan)
    seen: dict[tuple, int] = {}
    atom = edge = direction = None
    for n, content in data_lines(path, defects) or []:
        if m := _ATOM.match(content):
            try:
                atom = int(m.group(1))
            except ValueError:
                atom = None
                defects.append(Defect(path, n, f"atom index {m.group(1)!r} is not an integer"))
                continue
            if not 0 <= atom < natoms:
                defects.append(Defect(path, n, f"atom index {atom} out of range 0..{natoms - 1} (atoms of the system)"))
                atom = None
            edge = direction = None
            continue
        if m := _EDGE.match(content):
            if m.group(1).lower() != m.group(2).lower():
                defects.append(Defect(path, n, f"only vb-vb and cb-cb couplings are fitted, not {m.group(1)}-"
                                      f"{m.group(2)}"))
            edge, direction = EDGES.index(m.group(1).lower()), None
            content = m.group(3).strip()
            if not content:
                continue
        if m := _POL.match(content):
            direction = DIRECTIONS.find(m.group(1).lower()) if len(m.group(1)) == 1 else -1
            if direction < 0:
                defects.append(Defect(path, n, f"polarization {m.group(1)!r}: expected x, y or z"))
                direction = None
            continue
        if atom is None or edge is None or direction is None:
            defects.append(Defect(path, n, f"values {content!r} without their 'Atom idx = i', 'vb-vb/cb-cb coupling "
                                  "elements.' and 'polarization of derivative = x|y|z' lines before them"))
            continue
        fields = content.split()
        key = (atom, direction, edge)
        if key in seen:
            defects.append(Defect(path, n, f"atom {atom} {EDGES[edge]} {DIRECTIONS[direction]} given twice "
                                  f"(first on line {seen[key]})"))
            continue
        seen[key] = n
        if len(fields) != nq:
            defects.append(Defect(path, n, f"expected {nq} values (one per q-point of the qpoints file), "
                                  f"found {len(fields)}"))
            continue
        for i, tok in enumerate(fields):
            if tok.lower() == "not-fit":
                continue
            try:
                out[atom, direction, i, edge] = parse_float(tok)
            except ValueError:
                defects.append(Defect(path, n, f"column {i + 1}: {tok!r} is not a number (or Not-fit)"))
        direction = None
    absent = [f"atom {a} {EDGES[e]} {DIRECTIONS[d]}" for a in range(natoms) for e in range(2) for d in range(3)
              if (a, d, e) not in seen]
    if absent and path.is_file():
        more = f" and {len(absent) - 3} more" if len(absent) > 3 else ""
        defects.append(Defect(path, None, f"no values for {', '.join(absent[:3])}{more} (every atom of the system, "
                              "both edges, x y z)"))
    return out


def format_couplings(values: np.ndarray, atom_species, frac: np.ndarray, header_lines=()) -> str:
    """Couplings (n_atoms, 3, nq, 2) in the expCoupling_X.par layout, ``#`` header lines first."""
    lines = [f"# {h}" for h in header_lines]
    for a, (sym, pos) in enumerate(zip(atom_species, frac)):
        lines.append(f"Atom idx = {a}   atom = {sym}   position = {' '.join(f'{p:.6f}' for p in pos)}")
        for e, edge in enumerate(EDGES):
            for d, name in enumerate(DIRECTIONS):
                lead = f"{edge}-{edge} coupling elements. " if d == 0 else ""
                lines.append(f"{lead}polarization of derivative = {name}")
                lines.append("   ".join(f"{v:.6e}" for v in values[a, d, :, e]))
            lines.append("")
        lines.append("")
    return "\n".join(lines)
