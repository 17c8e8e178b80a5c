r"""Ligand pseudo-atoms that passivate a dot's dangling bonds, as the nanocrystal codes model them.

Each ligand is a Gaussian v(r) = a exp(-r^2 / b) (Hartree, r in Bohr) with b = 2.2287033 Bohr^2 and
a = +0.64 (P1), -0.384 (P2), +0.64 (P3), -0.20 (P4) Hartree, the client's values when it has no ligand
files. The base client puts a ``P1`` on every dangling bond of a cation at 0.55 d along the missing
bond and a ``P2`` on every dangling bond of an anion at 0.25 d (d the bulk bond length); its strain
versions use 0.30 d for an anion with a single dangling bond. A repulsive P1 pushes cation
dangling-bond states into the conduction band, an attractive P2 pulls anion ones into the valence
band, so a fully passivated III-V or II-VI dot holds 4 valence states per anion.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .potfiles import RadialTable

#: Gaussian width parameter b (Bohr^2) of every ligand.
LIGAND_B = 2.2287033
#: Gaussian amplitudes a (Hartree).
LIGAND_A = {"P1": 0.64, "P2": -0.384, "P3": 0.64, "P4": -0.20}

#: Groups of the elements the dot builder classifies as cation (group <= 13) or anion (group >= 15).
GROUP = {"Zn": 12, "Cd": 12, "Hg": 12, "B": 13, "Al": 13, "Ga": 13, "In": 13, "Tl": 13,
         "N": 15, "P": 15, "As": 15, "Sb": 15, "O": 16, "S": 16, "Se": 16, "Te": 16}


@dataclass(frozen=True)
class Passivation:
    """Which ligand sits where: symbol and fraction of the bond length from the dot atom."""

    cation_ligand: str = "P1"
    cation_fraction: float = 0.55
    anion_ligand: str = "P2"
    anion_fraction: float = 0.25
    #: Fraction for an anion with exactly one dangling bond (the strain codes use 0.30; base 0.25).
    anion_single_fraction: float = 0.25

    def __post_init__(self):
        for name in (self.cation_ligand, self.anion_ligand):
            if name not in LIGAND_A:
                raise ValueError(f"unknown ligand {name!r}: choose one of {', '.join(LIGAND_A)}")
        for f in (self.cation_fraction, self.anion_fraction, self.anion_single_fraction):
            if not 0.0 < f < 1.0:
                raise ValueError(f"ligand bond fraction {f} is not between 0 and 1")


def ligand_potential(symbol: str, r, amplitudes: dict[str, float] = LIGAND_A) -> np.ndarray:
    """v(r) of ligand ``symbol`` at radii ``r`` (Bohr), Hartree."""
    r = np.asarray(r, dtype=np.float64)
    return amplitudes[symbol] * np.exp(-(r**2) / LIGAND_B)


def ligand_tables(rows: int, dr: float, amplitudes: dict[str, float] = LIGAND_A) -> dict[str, RadialTable]:
    """Every ligand on the grid r_i = i dr (amplitudes a in Hartree, default the client's)."""
    r = dr * np.arange(rows)
    return {s: RadialTable(s, dr, ligand_potential(s, r, amplitudes)) for s in amplitudes}


def is_cation(symbol: str) -> bool:
    """True for a group-12/13 element, False for group 15/16; KeyError for anything else."""
    return GROUP[symbol] <= 13
