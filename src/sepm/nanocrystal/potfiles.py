r"""The nanocrystal codes' potential files, ``pot<Sym>.par``: one per atom type (``potGa.par``, ``potP1.par``).

The client's rules (shared notes, observed on its filter-diagonalization code), which every file we
write obeys and :func:`read_pot_file` checks:

- each line is ``r v``: r in Bohr, v(r) in Hartree, exactly two numbers; **no header or comment line**
  (a ``#`` line makes the client's reader loop forever; a third column is read out of step);
- the r grid is uniform and starts at r = 0 (the client takes dr = r[1] - r[0] and looks values up by
  index); at most ``MAX_ROWS`` rows;
- the client subtracts the last row's v from every row and takes v = 0 beyond the last r, so v must
  have decayed by then (:func:`tail_value` measures it).

v(r) is the same quantity as sepm's v(r) = (1/2 pi^2) ∫ q^2 v(q) j0(q r) dq with v(q) in Hartree·Bohr^3
(no volume factor).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import Defect, InputError
from ..output import atomic_path

#: The client reads at most this many rows.
MAX_ROWS = 8192
#: The group's grid (its published library): 1024 rows from r = 0 with dr = pi/125 Bohr (r up to 25.71 Bohr).
DEFAULT_ROWS = 1024
DEFAULT_DR = math.pi / 125.0
#: Relative tolerance on the uniformity of a file's r grid.
GRID_RTOL = 1e-4
#: No atom potential reaches this magnitude (Hartree; the shipped ones stay below 2): a typo in the exponent.
V_LIMIT = 1e3
#: No table needs to reach beyond this radius (Bohr; the group's ends at 25.7).
R_LIMIT = 1e3


@dataclass(frozen=True)
class RadialTable:
    """v(r) of one atom type on a uniform grid r_i = i dr (Bohr, Hartree); ``nodes``, when given, are the r
    values as a file wrote them (the published library prints 6 significant digits, up to 5e-5 Bohr off
    i dr), which the client interpolates between and so do we."""

    symbol: str
    dr: float
    v: np.ndarray
    nodes: np.ndarray | None = None

    @property
    def r(self) -> np.ndarray:
        return self.dr * np.arange(len(self.v)) if self.nodes is None else self.nodes

    @property
    def rmax(self) -> float:
        return self.dr * (len(self.v) - 1)


def pot_path(folder, symbol: str) -> Path:
    return Path(folder) / f"pot{symbol}.par"


def write_pot_file(path, table: RadialTable) -> Path:
    """Write ``table`` in the client's format (two columns, no header), atomically."""
    if not 2 <= len(table.v) <= MAX_ROWS:
        raise ValueError(f"{len(table.v)} rows: the client reads 2..{MAX_ROWS}")
    data = np.column_stack([table.r, np.asarray(table.v, dtype=np.float64)])
    with atomic_path(path) as tmp:
        np.savetxt(tmp, data, fmt=("%.10f", "%.12e"))
    return Path(path)


def read_pot_file(path, symbol: str | None = None) -> RadialTable:
    """Read and check one ``pot<Sym>.par`` against the client's rules; every defect names its line."""
    path = Path(path)
    symbol = symbol or path.stem.removeprefix("pot")
    if not path.is_file():
        raise InputError(Defect(path, None, f"missing: no potential file for {symbol}"))
    rows, defects = [], []
    try:
        lines = path.read_text().splitlines()
    except UnicodeDecodeError as err:
        raise InputError(Defect(path, None, f"not a text file ({err.reason} at byte {err.start})")) from None
    for lineno, line in enumerate(lines, start=1):
        tokens = line.split()
        if not tokens:
            defects.append(Defect(path, lineno, "blank line: the client reads every line as 'r v'"))
            continue
        if tokens[0].startswith("#"):
            defects.append(Defect(path, lineno, "comment or header line: the client reads no header (it loops "
                                                "forever on '#')"))
            continue
        if len(tokens) != 2:
            defects.append(Defect(path, lineno, f"{len(tokens)} columns: the client reads exactly two, 'r v'"))
            continue
        try:
            values = [float(t) for t in tokens]
        except ValueError:
            defects.append(Defect(path, lineno, f"not a number: {line.strip()!r}"))
            continue
        if not all(math.isfinite(x) for x in values):
            defects.append(Defect(path, lineno, "not a finite number"))
            continue
        if abs(values[0]) > R_LIMIT or abs(values[1]) > V_LIMIT:
            defects.append(Defect(path, lineno, f"r = {values[0]:g} Bohr, v = {values[1]:g} Hartree: beyond "
                                  f"{R_LIMIT:g} Bohr or {V_LIMIT:g} Hartree, which no atom potential reaches (a typo "
                                  "in the exponent?)"))
            continue
        rows.append((lineno, *values))
    if defects:
        raise InputError(defects)
    if len(rows) < 2:
        raise InputError(Defect(path, None, f"{len(rows)} data row(s): need at least 2"))
    if len(rows) > MAX_ROWS:
        raise InputError(Defect(path, rows[MAX_ROWS][0], f"{len(rows)} rows: the client reads at most {MAX_ROWS}"))
    data = np.asarray(rows)
    r, v = data[:, 1], data[:, 2]
    if r[0] != 0.0:
        raise InputError(Defect(path, int(data[0, 0]), f"r starts at {r[0]:g}: the client's grid starts at r = 0"))
    dr = r[1] - r[0]
    if dr <= 0:
        raise InputError(Defect(path, int(data[1, 0]), "r does not increase"))
    off = np.abs(r - dr * np.arange(len(r))) > GRID_RTOL * dr * np.maximum(1, np.arange(len(r)))
    if off.any():
        i = int(np.argmax(off))
        raise InputError(Defect(path, int(data[i, 0]), f"r = {r[i]:g} is off the uniform grid r = i * {dr:g}: the "
                                                       "client looks values up by index"))
    # The printed r values carry ~7 digits; the spacing is best estimated from the whole grid, and the values
    # are interpolated between the rows as printed (the client's reading).
    dr = float(r[-1] / (len(r) - 1))
    return RadialTable(symbol, dr, v, r)


def read_library(folder, symbols) -> dict[str, RadialTable]:
    """``pot<Sym>.par`` of every symbol in ``folder``; all defects of all files reported together."""
    tables, defects = {}, []
    for s in symbols:
        try:
            tables[s] = read_pot_file(pot_path(folder, s), s)
        except InputError as err:
            defects.extend(err.defects)
    if defects:
        raise InputError(defects)
    return tables


def tail_value(table: RadialTable, width: float = 1.0) -> float:
    """max |v| over the last ``width`` Bohr of the table (Hartree): what the client's shift removes."""
    keep = table.r >= table.rmax - width
    return float(np.abs(table.v[keep]).max())
