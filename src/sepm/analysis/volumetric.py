r"""Volumetric data files: Gaussian cube (Bohr, e/Bohr^3) and XCrySDen XSF (Angstrom, e/Angstrom^3).

A periodic field f on an M1 x M2 x M3 grid has f[j1, j2, j3] = f(r_j) at r_j = sum_i (j_i / M_i) a_i, the
origin at the cell corner. Both writers vectorize the number formatting (one ``%`` over the whole array)
and write atomically.

Cube: two comment lines; ``natoms  ox oy oz``; three lines ``M_i  (a_i / M_i)`` (Bohr, M_i > 0);
one line per atom ``Z  q  x y z`` (Bohr); then the values, the third index fastest, 6 per line and a
new line after every run of M3 values.

XSF: ``CRYSTAL`` / ``PRIMVEC`` (Angstrom) / ``PRIMCOORD`` (Z x y z in Angstrom), then a
``BEGIN_BLOCK_DATAGRID_3D`` with a *periodic general grid*: M_i + 1 points per axis, the last plane a
copy of the first, spanned by the full lattice vectors, the first index fastest.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..constants import BOHR_PER_ANGSTROM
from ..output import write_text

#: Values per line in both formats.
PER_LINE = 6
_FMT = "% .10E"


def atomic_number(symbol: str) -> int:
    """Atomic number of an element symbol (0 when the species label is not an element)."""
    from ase.data import atomic_numbers

    return int(atomic_numbers.get(symbol, 0))


def _format_rows(values: np.ndarray, row_length: int) -> str:
    """Format a flat array as consecutive rows of ``row_length`` numbers, ``PER_LINE`` per text line."""
    full, rest = divmod(row_length, PER_LINE)
    row = ((" ".join([_FMT] * PER_LINE) + "\n") * full + (" ".join([_FMT] * rest) + "\n" if rest else ""))
    n_rows = values.size // row_length
    return (row * n_rows) % tuple(values.ravel().tolist())


def write_cube(path, data: np.ndarray, lattice: np.ndarray, numbers, positions, charges=None,
               comment: str = "sepm") -> Path:
    """Write ``data`` (M1, M2, M3) on the periodic cell ``lattice`` (rows, Bohr) as a Gaussian cube file.

    ``numbers``: atomic numbers; ``positions``: Cartesian Bohr (n, 3); ``charges``: the second atom
    column (default 0). Units are whatever ``data`` holds (the density writer passes e/Bohr^3).
    """
    data = np.asarray(data, dtype=np.float64)
    lattice = np.asarray(lattice, dtype=np.float64)
    positions = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    charges = np.zeros(len(positions)) if charges is None else np.asarray(charges, dtype=np.float64)
    lines = [comment.replace("\n", " "), "OUTER LOOP: X, MIDDLE LOOP: Y, INNER LOOP: Z",
             f"{len(positions):5d} {0.0:14.8f} {0.0:14.8f} {0.0:14.8f}"]
    for m, a in zip(data.shape, lattice):
        step = a / m
        lines.append(f"{m:5d} {step[0]:14.8f} {step[1]:14.8f} {step[2]:14.8f}")
    for z, q, r in zip(numbers, charges, positions):
        lines.append(f"{int(z):5d} {q:14.8f} {r[0]:14.8f} {r[1]:14.8f} {r[2]:14.8f}")
    return write_text(path, "\n".join(lines) + "\n" + _format_rows(data, data.shape[2]))


def write_xsf(path, data: np.ndarray, lattice: np.ndarray, numbers, positions, comments=(),
              name: str = "density") -> Path:
    """Write ``data`` (M1, M2, M3) as an XSF periodic general grid (M_i + 1 points per axis).

    ``lattice`` rows and ``positions`` are in Bohr and are written in Angstrom; ``data`` is written as
    given (the density writer converts to e/Angstrom^3 first). ``comments`` become ``#`` lines.
    """
    data = np.asarray(data, dtype=np.float64)
    lattice_a = np.asarray(lattice, dtype=np.float64) / BOHR_PER_ANGSTROM
    positions_a = np.asarray(positions, dtype=np.float64).reshape(-1, 3) / BOHR_PER_ANGSTROM
    wrapped = np.pad(data, [(0, 1)] * 3, mode="wrap")
    lines = [f"# {c}" for c in comments]
    lines += ["CRYSTAL", "PRIMVEC", *(f"  {a[0]:.10f} {a[1]:.10f} {a[2]:.10f}" for a in lattice_a), "PRIMCOORD",
              f"  {len(positions_a)} 1"]
    lines += [f"  {int(z):3d} {r[0]:.10f} {r[1]:.10f} {r[2]:.10f}" for z, r in zip(numbers, positions_a)]
    lines += ["BEGIN_BLOCK_DATAGRID_3D", f"  {name}", f"  BEGIN_DATAGRID_3D_{name}",
              "  " + " ".join(str(m) for m in wrapped.shape), "  0.0 0.0 0.0",
              *(f"  {a[0]:.10f} {a[1]:.10f} {a[2]:.10f}" for a in lattice_a)]
    body = _format_rows(wrapped.transpose(2, 1, 0), wrapped.size)  # first index fastest
    tail = "  END_DATAGRID_3D\nEND_BLOCK_DATAGRID_3D\n"
    return write_text(path, "\n".join(lines) + "\n" + body + tail)
