"""Reading and writing crystal-structure files: POSCAR / CIF (via ASE, in Angstrom) and system_X.par (Bohr).

``system_X.par`` is parsed by :func:`sepm.io.read_system_file` (the bundle reader's parser), so a file
that ``sepm primcell`` accepts is exactly one that ``read_bundle`` accepts. Lattice rows in Bohr are
``scale * cell``; POSCAR/CIF lengths are converted with :data:`sepm.constants.BOHR_PER_ANGSTROM`.
Species must be chemical symbols (spglib needs one type per species and POSCAR needs element names).
All writes are atomic (temporary file, then rename).
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np

from ..constants import BOHR_PER_ANGSTROM
from ..crystal import Crystal
from ..errors import Defect, InputError
from ..io import read_system_file
from ..output import write_text

log = logging.getLogger("sepm")

#: File-name patterns read with ASE, and the ASE format name used for each.
_ASE_FORMATS = {".cif": "cif", ".vasp": "vasp", ".poscar": "vasp"}


def _chemical_symbols() -> set[str]:
    from ase.data import chemical_symbols

    return set(chemical_symbols[1:])


def _ase_format(path: Path) -> str | None:
    name = path.name.upper()
    if name.startswith(("POSCAR", "CONTCAR")):
        return "vasp"
    return _ASE_FORMATS.get(path.suffix.lower())


def resolve_input(path, index: int = 0) -> Path:
    """``path`` itself, or ``path/system_<index>.par`` when ``path`` is a bundle folder."""
    path = Path(path)
    return path / f"system_{index}.par" if path.is_dir() else path


def read_system_par(path) -> Crystal:
    """A :class:`Crystal` (Bohr) from ``system_X.par``; bad lines or non-element species raise InputError."""
    path = Path(path)
    defects: list[Defect] = []
    scale, cell, species, frac, lines = read_system_file(path, defects)
    elements = _chemical_symbols()
    for sym, line in zip(species, lines):
        if sym not in elements:
            defects.append(Defect(path, line, f"column 1: {sym!r} is not a chemical element symbol "
                                  "(structure tools need element names, e.g. Ga, As)"))
    if defects:
        raise InputError(defects)
    return Crystal(scale * cell, tuple(species), frac)


def read_ase_file(path, fmt: str | None = None) -> Crystal:
    """A :class:`Crystal` (Bohr) from a POSCAR/CIF/any ASE-readable structure file (Angstrom)."""
    import ase.io

    path = Path(path)
    if not path.is_file():
        raise InputError(Defect(path, None, "file not found"))
    fmt = fmt or _ase_format(path)
    try:
        atoms = ase.io.read(path, format=fmt)
    except Exception as exc:  # ASE raises many exception types for malformed files
        raise InputError(Defect(path, None, f"cannot read as {fmt or 'a structure file'}: {exc}")) from exc
    lattice = np.asarray(atoms.cell[:], dtype=np.float64) * BOHR_PER_ANGSTROM
    if len(atoms) == 0:
        raise InputError(Defect(path, None, "no atoms"))
    if abs(np.linalg.det(lattice)) < 1e-8:
        raise InputError(Defect(path, None, "the cell is missing or singular (a periodic 3D cell is required)"))
    return Crystal(lattice, tuple(atoms.get_chemical_symbols()), atoms.get_scaled_positions(wrap=False))


def read_cell(path, index: int = 0) -> Crystal:
    """Read a crystal from ``system_X.par`` (or a bundle folder: its ``system_<index>.par``), POSCAR or CIF."""
    path = resolve_input(path, index)
    if path.suffix == ".par":
        crystal = read_system_par(path)
    else:
        crystal = read_ase_file(path)
    log.info("read %s: %d atoms (%s), cell volume %.4f Bohr^3", path, len(crystal.atom_species),
             " ".join(crystal.atom_species), crystal.volume)
    return crystal


def _grouped(crystal: Crystal) -> tuple[tuple[str, ...], np.ndarray]:
    """Atoms regrouped by species (first-appearance order, stable within a species), as POSCAR needs."""
    order_of = {s: i for i, s in enumerate(dict.fromkeys(crystal.atom_species))}
    perm = np.argsort([order_of[s] for s in crystal.atom_species], kind="stable")
    return tuple(crystal.atom_species[i] for i in perm), crystal.frac[perm]


def system_par_text(crystal: Crystal, scale: float, comment: str = "") -> str:
    """The ``system_X.par`` text: ``scale`` (Bohr), ``cell`` rows = lattice / scale, fractional atoms."""
    if scale <= 0:
        raise ValueError("scale must be > 0")
    species, frac = _grouped(crystal)
    lines = [f"# {line}" for line in comment.splitlines()] + [f"scale = {scale:.12g}", "", "cell"]
    lines += [" ".join(f"{x:.14f}" for x in row) for row in crystal.lattice / scale]
    lines += ["", "atoms"]
    lines += [f"{sym} " + " ".join(f"{x:.14f}" for x in row) for sym, row in zip(species, frac)]
    return "\n".join(lines) + "\n"


def write_system_par(path, crystal: Crystal, scale: float, comment: str = "") -> Path:
    """Write ``system_X.par`` atomically (see :func:`system_par_text`)."""
    return write_text(path, system_par_text(crystal, scale, comment))


def write_poscar(path, crystal: Crystal, comment: str = "") -> Path:
    """Write a VASP POSCAR (Angstrom, direct coordinates, species grouped) atomically."""
    import ase.io
    from ase import Atoms

    species, frac = _grouped(crystal)
    atoms = Atoms(symbols=list(species), scaled_positions=frac, cell=crystal.lattice / BOHR_PER_ANGSTROM, pbc=True)
    buffer = io.StringIO()
    ase.io.write(buffer, atoms, format="vasp", direct=True)
    lines = buffer.getvalue().splitlines()
    if comment:
        lines[0] = comment.replace("\n", " ")  # POSCAR line 1 is a free comment
    return write_text(path, "\n".join(lines) + "\n")
