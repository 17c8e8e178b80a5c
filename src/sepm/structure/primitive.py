"""Conventional -> primitive cell with spglib (DeepPseudopot's convert_convCell_to_primCell).

spglib finds the space group of the input cell (tolerance ``symprec`` in Bohr), then returns the
standardized primitive cell: lattice rows P (Bohr), fractional atoms, idealized to the exact symmetry
and rigidly rotated into the standard orientation. The rotation R relates Cartesian vectors of the
two frames, ``r_std = R r_in``; the same R maps wave vectors, ``k_std = R k_in``, so a band energy
E_in(k) of the input cell equals E_std(R k) of the result (spectra, not coordinates, are invariant).
For an input that is a supercell of the primitive cell (e.g. the 8-atom conventional zinc-blende cell,
4 primitive cells), the input's levels at k are the primitive levels at every k + G_in folded onto k.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..crystal import Crystal
from ..errors import Defect, InputError

log = logging.getLogger("sepm")


@dataclass(frozen=True)
class PrimitiveCell:
    """Result of :func:`primitive_cell`. ``rotation``: r_std = rotation @ r_in (Cartesian)."""

    crystal: Crystal
    conventional_length: float
    rotation: np.ndarray
    international: str
    number: int
    input_atoms: int

    @property
    def cells_in_input(self) -> float:
        """How many primitive cells the input cell held (4 for a conventional fcc cell)."""
        return self.input_atoms / len(self.crystal.atom_species)

    def kpoints_from_input(self, k_cartesian) -> np.ndarray:
        """Cartesian k of the input frame -> Cartesian k of the primitive cell's frame (1/Bohr)."""
        return np.asarray(k_cartesian, dtype=np.float64).reshape(-1, 3) @ self.rotation.T


def spglib_cell(crystal: Crystal):
    """``(lattice, positions, numbers)`` for spglib; each species gets one integer type."""
    types = {s: i + 1 for i, s in enumerate(dict.fromkeys(crystal.atom_species))}
    return crystal.lattice, crystal.frac, [types[s] for s in crystal.atom_species]


def _no_symmetry(source, symprec, crystal: Crystal) -> InputError:
    return InputError(Defect(Path(source or "<cell>"), None, f"spglib found no space group for this cell "
                             f"({len(crystal.atom_species)} atoms) with symprec = {symprec:g} Bohr; "
                             "check the positions or raise --symprec"))


def primitive_cell(crystal: Crystal, symprec: float = 1e-4, source=None) -> PrimitiveCell:
    """The standardized primitive cell of ``crystal`` (spglib ``standardize_cell(to_primitive=True)``).

    ``symprec`` is the spglib distance tolerance in Bohr. ``source`` names the input file in errors.
    """
    import spglib

    cell = spglib_cell(crystal)
    with warnings.catch_warnings():  # spglib >= 2.5 warns about its legacy None-on-failure mode, used here
        warnings.simplefilter("ignore", DeprecationWarning)
        dataset = spglib.get_symmetry_dataset(cell, symprec=symprec)
        result = spglib.standardize_cell(cell, to_primitive=True, no_idealize=False, symprec=symprec)
    if dataset is None or result is None:
        raise _no_symmetry(source, symprec, crystal)
    lattice, frac, numbers = result
    names = {n: s for s, n in zip(crystal.atom_species, cell[2])}
    prim = Crystal(lattice, tuple(names[int(n)] for n in numbers), np.mod(frac, 1.0), crystal.species)
    rotation = np.asarray(dataset.std_rotation_matrix, dtype=np.float64)
    out = PrimitiveCell(prim, float(np.linalg.norm(dataset.std_lattice[0])), rotation,
                        str(dataset.international), int(dataset.number), len(crystal.atom_species))
    ratio = out.cells_in_input
    if abs(ratio - round(ratio)) > 1e-9 or abs(crystal.volume / prim.volume - ratio) > 1e-6 * ratio:
        raise InputError(Defect(Path(source or "<cell>"), None, f"inconsistent primitive cell: "
                                f"{len(crystal.atom_species)} -> {len(prim.atom_species)} atoms but volume ratio "
                                f"{crystal.volume / prim.volume:.6f}; try another --symprec"))
    angle = np.degrees(np.arccos(np.clip((np.trace(rotation) - 1.0) / 2.0, -1.0, 1.0)))
    log.info("space group %s (%d) at symprec %g Bohr; primitive cell: %d atoms (%s), %d cell(s) in the input, "
             "volume %.4f Bohr^3, standard orientation %s", out.international, out.number, symprec,
             len(prim.atom_species), " ".join(prim.atom_species), round(ratio), prim.volume,
             "= input orientation" if angle < 1e-8 else f"rotated by {angle:.4f} deg from the input")
    return out
