"""Crystal structure: lattice, reciprocal lattice, volume and atoms.

Conventions (SPEC section 2): lattice rows a1, a2, a3 in Bohr; reciprocal rows b_i with
a_i . b_j = 2 pi delta_ij, i.e. B = 2 pi (A^-1)^T; cell volume Omega = |a1 . (a2 x a3)|;
atom positions are fractional, tau = frac @ A; k-points are fractional in the reciprocal basis,
k = frac @ B. Species are ordered alphabetically.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Crystal:
    """A periodic crystal. ``lattice`` rows are the lattice vectors in Bohr."""

    lattice: np.ndarray
    atom_species: tuple[str, ...]
    frac: np.ndarray
    species: tuple[str, ...] = field(default=())

    def __post_init__(self):
        lattice = np.asarray(self.lattice, dtype=np.float64).reshape(3, 3)
        frac = np.asarray(self.frac, dtype=np.float64).reshape(-1, 3)
        if len(self.atom_species) != len(frac):
            raise ValueError("one species symbol per atom is required")
        if abs(np.linalg.det(lattice)) < 1e-12:
            raise ValueError("the lattice vectors are linearly dependent")
        object.__setattr__(self, "lattice", lattice)
        object.__setattr__(self, "frac", frac)
        object.__setattr__(self, "atom_species", tuple(self.atom_species))
        species = tuple(self.species) or tuple(sorted(set(self.atom_species)))
        missing = set(self.atom_species) - set(species)
        if missing:
            raise ValueError(f"atoms of species {sorted(missing)} not in the species list")
        object.__setattr__(self, "species", species)

    @classmethod
    def from_system(cls, system, species=None) -> "Crystal":
        """Build from a :class:`sepm.io.SystemSpec` (lattice = scale x cell)."""
        return cls(system.scale * np.asarray(system.cell), tuple(system.atom_species), system.frac,
                   tuple(species or ()))

    @property
    def volume(self) -> float:
        return float(abs(np.linalg.det(self.lattice)))

    @property
    def reciprocal(self) -> np.ndarray:
        """Rows b1, b2, b3 (1/Bohr) with a_i . b_j = 2 pi delta_ij."""
        return 2.0 * np.pi * np.linalg.inv(self.lattice).T

    @property
    def positions(self) -> np.ndarray:
        """Cartesian atom positions (Bohr)."""
        return self.frac @ self.lattice

    @property
    def species_index(self) -> np.ndarray:
        """For each atom, the index of its species in ``species``."""
        lookup = {s: i for i, s in enumerate(self.species)}
        return np.array([lookup[s] for s in self.atom_species], dtype=np.int64)

    def kpoints_cartesian(self, kfrac) -> np.ndarray:
        """Fractional reciprocal coordinates -> Cartesian k (1/Bohr)."""
        return np.asarray(kfrac, dtype=np.float64).reshape(-1, 3) @ self.reciprocal

    def kpoints_fractional(self, kcart) -> np.ndarray:
        """Cartesian k (1/Bohr) -> fractional reciprocal coordinates (the inverse of kpoints_cartesian)."""
        return np.asarray(kcart, dtype=np.float64).reshape(-1, 3) @ self.lattice.T / (2.0 * np.pi)

    def scaled(self, s: float) -> "Crystal":
        """The same crystal with every lattice vector multiplied by ``s`` (volume x s^3)."""
        return Crystal(self.lattice * s, self.atom_species, self.frac, self.species)

    def translated(self, shift_cartesian) -> "Crystal":
        """All atoms moved by a common Cartesian vector (Bohr)."""
        shift_frac = np.asarray(shift_cartesian, dtype=np.float64) @ np.linalg.inv(self.lattice)
        return Crystal(self.lattice, self.atom_species, self.frac + shift_frac, self.species)

    def supercell(self, reps) -> "Crystal":
        """An n1 x n2 x n3 supercell (lattice rows multiplied by reps)."""
        reps = np.asarray(reps, dtype=np.int64)
        shifts = np.stack(np.meshgrid(*[np.arange(r) for r in reps], indexing="ij"), -1).reshape(-1, 3)
        frac = ((self.frac[None, :, :] + shifts[:, None, :]) / reps).reshape(-1, 3)
        atoms = tuple(self.atom_species) * len(shifts)
        return Crystal(self.lattice * reps[:, None], atoms, frac, self.species)
