r"""A passivated nanocrystal cut from a bulk crystal.

1. Sites: every atom of the crystal's lattice (basis + integer translations) within the radius R of
   the centre (an atom of the cell, by default the first, or any Cartesian point).
2. Bonds: each basis atom's bulk nearest neighbours (within 10 % of the shortest interatomic
   distance) give its bond vectors; a dot atom's bond is internal when the neighbour site is in the dot.
3. Atoms with fewer than ``min_bonds`` internal bonds (default 2: an atom hanging by one bond carries
   three dangling bonds) are removed, repeatedly, until none is left.
4. Every remaining dangling bond gets a ligand pseudo-atom (:mod:`.ligands`): P1 at 0.55 d along a
   cation's missing bond, P2 at 0.25 d along an anion's (d the bond length).

Positions are Cartesian Bohr with the centre at the origin. Cation/anion come from the elements'
groups (12/13 vs 15/16), so the builder handles III-V and II-VI crystals, alloys included.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree

from .ligands import GROUP, Passivation, is_cation

#: Neighbours are the sites within (1 + BOND_TOL) times the shortest interatomic distance.
BOND_TOL = 0.1


@dataclass
class Nanocrystal:
    """Atoms and ligands of a dot. ``symbols[i]`` sits at ``positions[i]`` (Bohr, centre at the origin);
    the first ``n_core`` entries are the crystal's atoms, the rest ligands."""

    symbols: list[str]
    positions: np.ndarray
    n_core: int
    radius: float
    bond_length: float
    removed: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def n_anion(self) -> int:
        return sum(1 for s in self.symbols[: self.n_core] if not is_cation(s))

    @property
    def n_occupied(self) -> int:
        """Valence (occupied, spin-free) states of a fully passivated dot: 4 per anion."""
        return 4 * self.n_anion

    @property
    def homo_index(self) -> int:
        """0-based index of the highest occupied level, 4 N_anion - 1."""
        return self.n_occupied - 1


def bond_vectors(lattice: np.ndarray, positions: np.ndarray) -> tuple[list[np.ndarray], float]:
    """Per basis atom, the vectors to its bulk nearest neighbours; and the bond length."""
    shifts = np.stack(np.meshgrid(*[np.arange(-2, 3)] * 3, indexing="ij"), -1).reshape(-1, 3) @ lattice
    images = (positions[None, :, :] + shifts[:, None, :]).reshape(-1, 3)
    d = images[None, :, :] - positions[:, None, :]
    dist = np.linalg.norm(d, axis=2)
    shortest = dist[dist > 1e-8].min()
    near = (dist > 1e-8) & (dist <= shortest * (1 + BOND_TOL))
    return [d[a][near[a]] for a in range(len(positions))], float(shortest)


def build_nanocrystal(crystal, radius: float, center=None, center_atom: int = 0,
                      passivation: Passivation | None = None, min_bonds: int = 2) -> Nanocrystal:
    """Cut a sphere of ``radius`` Bohr from ``crystal`` (:class:`sepm.crystal.Crystal`) and passivate it.

    ``center``: a Cartesian point (Bohr); default the position of atom ``center_atom`` of the cell.
    """
    passivation = passivation or Passivation()
    unknown = sorted(set(crystal.atom_species) - set(GROUP))
    if unknown:
        raise ValueError(f"species {', '.join(unknown)}: the dot builder passivates III-V and II-VI crystals "
                         f"(cations of group 12/13, anions of group 15/16)")
    lattice, basis = crystal.lattice, crystal.positions
    c = basis[center_atom] if center is None else np.asarray(center, dtype=np.float64).reshape(3)
    bonds, d = bond_vectors(lattice, basis)
    reach = radius + np.linalg.norm(basis - c, axis=1).max() + d
    span = np.ceil(reach * np.linalg.norm(crystal.reciprocal, axis=1) / (2 * np.pi)).astype(int) + 1
    cells = np.stack(np.meshgrid(*[np.arange(-n, n + 1) for n in span], indexing="ij"), -1).reshape(-1, 3)
    sites = (basis[None, :, :] + (cells @ lattice)[:, None, :]).reshape(-1, 3)
    kind = np.tile(np.arange(len(basis)), len(cells))
    inside = np.linalg.norm(sites - c, axis=1) <= radius + 1e-9
    pos, kind = sites[inside], kind[inside]
    n_sites = len(pos)

    # Neighbour site of every (atom, bond) pair; padded to the largest coordination.
    nb = max(len(b) for b in bonds)
    table = np.full((len(basis), nb, 3), np.nan)
    for a, b in enumerate(bonds):
        table[a, : len(b)] = b
    valid = ~np.isnan(table[kind][:, :, 0])
    targets = pos[:, None, :] + np.nan_to_num(table[kind])
    keep = np.ones(len(pos), dtype=bool)
    while True:
        tree = cKDTree(pos[keep])
        dist, _ = tree.query(targets.reshape(-1, 3), distance_upper_bound=1e-3 * d)
        internal = (np.isfinite(dist).reshape(targets.shape[:2])) & valid
        weak = keep & (internal.sum(axis=1) < min_bonds)
        if not weak.any():
            break
        keep &= ~weak
    pos, kind, targets, internal, valid = pos[keep], kind[keep], targets[keep], internal[keep], valid[keep]
    symbols = np.asarray(crystal.atom_species)[kind]
    cation = np.array([is_cation(s) for s in crystal.atom_species])[kind]
    dangling = valid & ~internal
    fraction = np.where(cation, passivation.cation_fraction, passivation.anion_fraction)[:, None]
    single = (~cation) & (dangling.sum(axis=1) == 1)
    fraction[single] = passivation.anion_single_fraction
    ligand_pos = pos[:, None, :] + fraction[:, :, None] * (targets - pos[:, None, :])
    atom_of, bond_of = np.nonzero(dangling)
    ligand_symbols = np.where(cation[atom_of], passivation.cation_ligand, passivation.anion_ligand)
    all_symbols = np.concatenate([symbols, ligand_symbols])
    positions = np.concatenate([pos, ligand_pos[atom_of, bond_of]]) - c
    names, counts = np.unique(all_symbols, return_counts=True)
    return Nanocrystal(all_symbols.tolist(), positions, n_core=len(pos), radius=float(radius), bond_length=d,
                       removed=n_sites - len(pos), counts={str(s): int(n) for s, n in zip(names, counts)})
