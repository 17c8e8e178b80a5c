r"""High-symmetry k-paths from the crystal structure (seekpath, Hinuma et al. 2017) and labelled k-point files.

seekpath standardizes the cell: its primitive lattice rows P_s live in a rotated Cartesian frame,
r_s = R_s^T r_in, so that the input frame's primitive rows are P_s R_s (``rotation_matrix`` of
seekpath), and the input lattice rows are integer combinations of them, A = M P_s R_s (M unimodular
for a primitive input, |det M| cells for a supercell; checked). A high-symmetry point with fractional
coordinates f in seekpath's reciprocal basis B_s = 2 pi (P_s^{-1})^T is, in the input frame, the
Cartesian k = f B_s R_s (1/Bohr), and its fractional coordinates in the reciprocal basis
B_in = 2 pi (A^{-1})^T of the input lattice are k A^T / (2 pi) = f B_s R_s R_s^T P_s^T M^T / (2 pi)
= f M^T: exact rationals, whatever the rotation. Those are what ``kpoints_X.par`` holds, so the path
is valid for the input cell as given (for a supercell input the same path is sampled and bands fold).

Each segment X -> Y of length L = |k_Y - k_X| gets n = max(2, ceil(L * density)) equal steps
(density in points per 1/Bohr, so every step is <= 1/density), or a fixed number of points. A
segment always has an interior point, so two labelled rows in a row mean a jump in the path (X|U).
Labels are kept as trailing comments, ``k1 k2 k3 weight  # Γ``, which every reader of the bundle
format ignores; :func:`read_kpoint_labels` gets them back.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..crystal import Crystal
from ..errors import Defect, InputError
from ..io.parfile import read_kpoint_labels  # noqa: F401  (re-exported)
from ..output import write_text
from .primitive import spglib_cell

log = logging.getLogger("sepm")

#: Default path density, points per 1/Bohr (the GaAs bundle's path has about 34).
DEFAULT_DENSITY = 30.0

#: seekpath point names -> printed labels.
_NAMES = {"GAMMA": "Γ"}


@dataclass(frozen=True)
class KPath:
    """A k-path for one cell: ``kfrac`` (n, 3) in the cell's reciprocal basis, ``labels`` {row: name}."""

    kfrac: np.ndarray
    labels: dict[int, str]
    segments: list[tuple[str, str]] = field(default_factory=list)
    spacegroup: str = ""
    bravais: str = ""

    @property
    def jumps(self) -> list[int]:
        """Rows i where the path jumps from row i-1 (both labelled: a segment ends, another starts)."""
        return [i for i in sorted(self.labels) if i - 1 in self.labels]

    def label_string(self) -> str:
        """E.g. ``Γ-X-U|K-Γ-L-W-X``."""
        out = ""
        for i in sorted(self.labels):
            out += ("|" if i in self.jumps else "-" if out else "") + self.labels[i]
        return out


def printed_label(name: str) -> str:
    return _NAMES.get(name, name)


def _seekpath(crystal: Crystal, symprec: float, time_reversal: bool, source):
    import seekpath

    try:
        with warnings.catch_warnings():  # spglib's legacy error-handling notice, raised inside seekpath
            warnings.simplefilter("ignore", DeprecationWarning)
            return seekpath.get_path(spglib_cell(crystal), with_time_reversal=time_reversal, symprec=symprec)
    except Exception as exc:  # seekpath raises SymmetryDetectionError and ValueError subclasses
        raise InputError(Defect(Path(source or "<cell>"), None, f"seekpath could not find a k-path: {exc} "
                                f"(symprec = {symprec:g} Bohr)")) from exc


def _input_combinations(crystal: Crystal, res, symprec: float, source) -> np.ndarray:
    """The integer matrix M with A = M P_s R_s (input lattice rows from seekpath's rotated primitive rows)."""
    rotation = np.asarray(res["rotation_matrix"], dtype=np.float64)
    prim_in = np.asarray(res["primitive_lattice"], dtype=np.float64) @ rotation
    combos = crystal.lattice @ np.linalg.inv(prim_in)
    tolerance = max(1e-4, 10.0 * symprec / float(np.linalg.norm(prim_in, axis=1).min()))
    if not np.allclose(combos, np.round(combos), atol=tolerance):
        raise InputError(Defect(Path(source or "<cell>"), None, "the standardized primitive cell of seekpath does "
                                f"not tile the input cell (largest misfit {np.abs(combos - np.round(combos)).max():.2e}"
                                "); is the cell symmetric only within a loose symprec?"))
    combos = np.round(combos)
    cells = abs(round(np.linalg.det(combos)))
    if cells > 1:
        log.warning("the input cell holds %d primitive cells: the path is that of the primitive Brillouin zone "
                    "and the input cell's bands fold onto it (use sepm primcell first)", cells)
    return combos


def high_symmetry_path(crystal: Crystal, density: float | None = None, segment_points: int | None = None,
                       symprec: float = 1e-4, time_reversal: bool = True, source=None) -> KPath:
    """The seekpath high-symmetry path of ``crystal``, as fractional k-points of its own reciprocal basis.

    ``density``: points per 1/Bohr along the path (default :data:`DEFAULT_DENSITY`); ``segment_points``:
    instead, this many points on every segment including both ends (>= 3). ``symprec`` in Bohr.
    """
    if segment_points is not None and segment_points < 3:
        raise ValueError("segment_points must be >= 3 (a segment needs an interior point)")
    density = DEFAULT_DENSITY if density is None else float(density)
    if segment_points is None and density <= 0:
        raise ValueError("density must be > 0 points per 1/Bohr")
    res = _seekpath(crystal, symprec, time_reversal, source)
    combos = _input_combinations(crystal, res, symprec, source)
    frac = {name: np.asarray(f, dtype=np.float64) @ combos.T for name, f in res["point_coords"].items()}

    points, labels, previous = [], {}, None
    for start, end in res["path"]:
        a, b = frac[start], frac[end]
        length = float(np.linalg.norm((b - a) @ crystal.reciprocal))
        steps = segment_points - 1 if segment_points is not None else max(2, int(np.ceil(length * density - 1e-9)))
        t = np.arange(steps + 1) / steps
        seg = a[None, :] + t[:, None] * (b - a)[None, :]
        seg[-1] = b  # the end point exactly, not a + (b - a)
        if previous == start:
            seg = seg[1:]
        else:
            labels[len(points)] = printed_label(start)
        points.extend(seg)
        labels[len(points) - 1] = printed_label(end)
        previous = end
    kfrac = np.array(points) + 0.0  # no -0.0 in the file
    kcart = kfrac @ crystal.reciprocal
    path = KPath(kfrac, labels, [(printed_label(a), printed_label(b)) for a, b in res["path"]],
                 str(res["spacegroup_international"]), str(res["bravais_lattice_extended"]))
    total = float(np.sum(np.linalg.norm(np.diff(kcart, axis=0), axis=1)[[i not in path.jumps for i in
                                                                          range(1, len(kcart))]]))
    log.info("k-path for space group %s (%d), Bravais lattice %s: %s, %d points, length %.4f 1/Bohr (%s)",
             path.spacegroup, res["spacegroup_number"], path.bravais, path.label_string(), len(kfrac), total,
             f"{segment_points} points per segment" if segment_points else f"density {density:g} per 1/Bohr")
    return path


def kpoints_text(path: KPath, header: str = "", weight: float = 1.0) -> str:
    """``kpoints_X.par`` text: rows ``k1 k2 k3 weight``, high-symmetry rows with a trailing ``# label``."""
    lines = [f"# {line}" for line in header.splitlines()]
    lines.append("# k1 k2 k3 weight (fractional, reciprocal basis of the cell); '# name' marks high-symmetry points")
    for i, k in enumerate(path.kfrac):
        row = " ".join(f"{x:.12f}" for x in k) + f" {weight:g}"
        lines.append(row + (f"  # {path.labels[i]}" if i in path.labels else ""))
    return "\n".join(lines) + "\n"


def write_kpoints(target, path: KPath, header: str = "", weight: float = 1.0) -> Path:
    """Write the path as a labelled ``kpoints_X.par`` (atomic)."""
    return write_text(target, kpoints_text(path, header, weight))
