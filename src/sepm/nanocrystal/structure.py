r"""A dot's atoms for any material: symbols, positions, which are ligands, and the electron count.

The occupied levels come from counting valence electrons, not from a bonding rule of one crystal family:
N_e = sum over atoms of the valence electrons of its species (``VALENCE_ELECTRONS``, or the caller's own
table for species it does not hold). Ligand pseudo-atoms carry none. A spinor level holds one electron, a
spin-free level two, so the 0-based HOMO index is N_e - 1 (spinor) or N_e / 2 - 1 (spin-free); an odd
N_e has no closed shell and is refused.

The valence electrons are those of the pseudopotential's valence bands, the states its bulk fit
describes: for the lead-halide perovskites A = Cs, Rb, K, Na: 1 (the s electron; the A cation's
semicore p shell is not in the fitted bands), B = Pb, Sn, Ge: 4 (s2 p2), X = I, Br, Cl, F: 7 (s2 p5);
CsPbI3 has 1 + 4 + 21 = 26 electrons per formula unit, 13 doubly occupied bands (I 5s x 3, Pb 6s, I 5p x
9), its valence band top the I 5p - Pb 6s antibonding band. The zinc-blende species: groups 12-16 (Zn,
Cd, Hg: 2; B, Al, Ga, In: 3; C, Si, Ge, Sn: 4; N, P, As, Sb: 5; O, S, Se, Te: 6). For a charge-balanced
structure (sum of formal charges zero) this count fills exactly the bulk valence bands.

User structures (:func:`read_structure`): ``.xyz`` (count line, comment line, ``Sym x y z`` in Angstrom)
or the client's ``conf.par`` (count line, ``Sym x y z`` in Bohr), any element symbol; P1-P4 are ligands.
Each defect names its file and line. Their surface atoms (for the location checks of :mod:`.location`)
are those carrying a ligand: a user structure without ligands has none, so only the energy and vacuum
checks can flag it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from ..constants import BOHR_PER_ANGSTROM
from ..errors import Defect, InputError
from .ligands import LIGAND_A

#: Valence electrons per species in the fitted bands (see the module docstring).
VALENCE_ELECTRONS = {
    "Li": 1, "Na": 1, "K": 1, "Rb": 1, "Cs": 1,
    "Zn": 2, "Cd": 2, "Hg": 2, "Mg": 2, "Ca": 2, "Sr": 2, "Ba": 2,
    "B": 3, "Al": 3, "Ga": 3, "In": 3,
    "C": 4, "Si": 4, "Ge": 4, "Sn": 4, "Pb": 4,
    "N": 5, "P": 5, "As": 5, "Sb": 5, "Bi": 5,
    "O": 6, "S": 6, "Se": 6, "Te": 6,
    "F": 7, "Cl": 7, "Br": 7, "I": 7,
}


@dataclass
class DotStructure:
    """Atoms then ligands of a dot: ``symbols[i]`` at ``positions[i]`` (Bohr); the first ``n_core`` are atoms."""

    symbols: list[str]
    positions: np.ndarray
    n_core: int
    valence: dict[str, int] = field(default_factory=dict)
    notes: dict = field(default_factory=dict)
    #: Atoms (of the first n_core) that are surface atoms besides those carrying a ligand; None: none.
    surface: np.ndarray | None = None
    #: Bond length (Bohr) for the location regions; None: the shortest distance between atoms.
    bond: float | None = None

    def __post_init__(self):
        table = {**VALENCE_ELECTRONS, **self.valence}
        missing = sorted(set(self.symbols[: self.n_core]) - set(table))
        if missing:
            raise ValueError(f"no valence electron count for {', '.join(missing)}: give it (valence={{symbol: n}})")
        self.valence = {s: int(table[s]) for s in sorted(set(self.symbols[: self.n_core]))}

    @property
    def bond_length(self) -> float:
        if self.bond is not None:
            return float(self.bond)
        d, _ = cKDTree(self.positions[: self.n_core]).query(self.positions[: self.n_core], k=2)
        return float(d[:, 1].min())

    @property
    def counts(self) -> dict[str, int]:
        names, counts = np.unique(np.asarray(self.symbols), return_counts=True)
        return {str(s): int(n) for s, n in zip(names, counts)}

    @property
    def n_electrons(self) -> int:
        return sum(self.valence[s] for s in self.symbols[: self.n_core])

    def homo_index(self, spinor: bool) -> int:
        """0-based index of the highest occupied level: N_e - 1 (spinor) or N_e / 2 - 1 (spin-free)."""
        n = self.n_electrons
        if n % 2:
            raise ValueError(f"{n} valence electrons ({self.counts}): an odd count has no closed shell; "
                             f"the structure is not charge-balanced")
        return n - 1 if spinor else n // 2 - 1


def read_structure(path, valence: dict[str, int] | None = None) -> DotStructure:
    """A user's dot from ``.xyz`` (Angstrom) or ``conf.par`` (Bohr), ligands (P1-P4) moved after the atoms."""
    path = Path(path)
    lines = path.read_text().splitlines()
    xyz = path.suffix.lower() == ".xyz"
    try:
        count = int(lines[0].split()[0])
    except (ValueError, IndexError):
        raise InputError(Defect(path, 1, "first line must be the number of sites")) from None
    first = 3 if xyz else 2
    body = lines[first - 1:]
    known = {**VALENCE_ELECTRONS, **(valence or {}), **LIGAND_A}
    defects, symbols, rows = [], [], []
    for lineno, line in enumerate(body, start=first):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) < 4:
            defects.append(Defect(path, lineno, f"expected 'Sym x y z', found {len(tokens)} fields"))
            continue
        try:
            rows.append([float(t) for t in tokens[1:4]])
        except ValueError:
            defects.append(Defect(path, lineno, "coordinates are not numbers"))
            continue
        if tokens[0] not in known:
            defects.append(Defect(path, lineno, f"species {tokens[0]!r} has no valence electron count: give it "
                                                f"(valence={{symbol: n}}) or use a ligand P1-P4"))
        symbols.append(tokens[0])
    if not defects and count != len(symbols):
        defects.append(Defect(path, 1, f"count {count} but {len(symbols)} site lines follow"))
    if defects:
        raise InputError(defects)
    positions = np.asarray(rows, dtype=np.float64).reshape(-1, 3) * (BOHR_PER_ANGSTROM if xyz else 1.0)
    ligand = np.array([s in LIGAND_A for s in symbols], dtype=bool)
    order = np.concatenate([np.nonzero(~ligand)[0], np.nonzero(ligand)[0]])
    return DotStructure([symbols[i] for i in order], positions[order], int((~ligand).sum()), valence or {},
                        notes={"source": str(path)})
