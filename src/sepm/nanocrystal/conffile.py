r"""The client's atom file ``conf.par``: first line the number of sites, then one ``Sym x y z`` line per
site (Bohr). The client accepts only the symbols of ``CLIENT_SYMBOLS``; atoms and ligands alike."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import Defect, InputError
from ..output import write_text

#: Atom and ligand symbols the client's conf.par reader accepts.
CLIENT_SYMBOLS = ("Cd", "Se", "In", "As", "Si", "H", "Zn", "S", "P1", "P2", "P3", "P4", "Te", "Cdz", "Sez", "Ga", "P")


def write_conf(path, symbols, positions) -> Path:
    """Write ``conf.par``; refuses a symbol the client does not know."""
    unknown = sorted(set(symbols) - set(CLIENT_SYMBOLS))
    if unknown:
        raise ValueError(f"the nanocrystal client has no atom type {', '.join(unknown)} "
                         f"(it knows {' '.join(CLIENT_SYMBOLS)})")
    positions = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    lines = [str(len(positions))] + [f"{s} {x:.8f} {y:.8f} {z:.8f}" for s, (x, y, z) in zip(symbols, positions)]
    return write_text(path, "\n".join(lines) + "\n")


def read_conf(path) -> tuple[list[str], np.ndarray]:
    """Read ``conf.par`` by the client's rules; each defect names its line."""
    path = Path(path)
    lines = path.read_text().splitlines()
    defects = []
    try:
        count = int(lines[0].split()[0]) if lines else -1
    except (ValueError, IndexError):
        raise InputError(Defect(path, 1, "first line must be the number of sites")) from None
    symbols, rows = [], []
    for lineno, line in enumerate(lines[1:], start=2):
        tokens = line.split()
        if len(tokens) != 4:
            defects.append(Defect(path, lineno, f"expected 'Sym x y z', found {len(tokens)} fields"))
            continue
        if tokens[0] not in CLIENT_SYMBOLS:
            defects.append(Defect(path, lineno, f"atom type {tokens[0]!r} is not one the client knows"))
        try:
            rows.append([float(t) for t in tokens[1:]])
        except ValueError:
            defects.append(Defect(path, lineno, "coordinates are not numbers"))
            continue
        symbols.append(tokens[0])
    if count != len(lines) - 1:
        defects.append(Defect(path, 1, f"count {count} but {len(lines) - 1} site lines follow"))
    if defects:
        raise InputError(defects)
    return symbols, np.asarray(rows)
