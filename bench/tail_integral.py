"""How much of the bulk's average potential a dot's interior misses: the tail integral (issue 18; not a test).

A point of a dot at depth R below the surface sees the atoms of the crystal within R, not those beyond. In
the bulk crystal the atoms farther than R from a point add, on average,

    I_s(R) = (N_s / Omega) 4 pi ∫_R^inf r^2 v_s(r) dr            (species s, N_s atoms per cell of volume Omega)

to the potential there (I_s(0) = N_s v_s(q = 0) / Omega, the G = 0 term). So the dot's interior sits
-sum_s I_s(R) above the bulk: an attractive tail (I < 0) raises the interior levels, and a core state may
rise above the bulk VBM. Computed from each folder's client tables as the client uses them (v - v_last on
[0, r_last], zero beyond), by the trapezoid rule on the file's grid, in eV.

Usage: python bench/tail_integral.py NAME=POTDIR ... [--bundle resources/bundles/GaAs] [--radii 5 10 ... 30]
       e.g. fit=results/GaAs/nanocrystal library=resources/potentials-realspace zunger=ZUNGER_OUT
       (a Zunger folder: python bench/passivation.py zunger ZUNGER_OUT)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def tail_integrals(table, density: float, radii) -> np.ndarray:
    """density x 4 pi ∫_R^r_last r^2 (v - v_last) dr for each R (Hartree), trapezoid on the table's grid."""
    r, v = table.r, table.v - table.v[-1]
    f = 4 * np.pi * r**2 * v
    cumulative = np.concatenate([[0.0], np.cumsum(0.5 * (f[1:] + f[:-1]) * np.diff(r))])
    return density * (cumulative[-1] - np.interp(radii, r, cumulative))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folders", nargs="+", metavar="NAME=POTDIR")
    ap.add_argument("--bundle", default=str(ROOT / "resources/bundles/GaAs"))
    ap.add_argument("--radii", type=float, nargs="+", default=[5, 7.5, 10, 12.5, 15, 20, 25, 30])
    args = ap.parse_args()

    from sepm.constants import HARTREE_EV
    from sepm.crystal import Crystal
    from sepm.io import read_bundle
    from sepm.nanocrystal.potfiles import read_library

    system = read_bundle(args.bundle).systems[0]
    species = sorted(set(system.atom_species))
    crystal = Crystal.from_system(system, species=species)
    radii = np.array(args.radii)
    print("I_s(R) (meV): the bulk's average potential from atoms farther than R; R (Bohr):",
          " ".join(f"{r:g}" for r in radii))
    for item in args.folders:
        name, folder = item.split("=", 1)
        tables = read_library(Path(folder), species)
        total = 0.0
        for s in species:
            density = sum(a == s for a in system.atom_species) / crystal.volume
            i_s = HARTREE_EV * 1000 * tail_integrals(tables[s], density, radii)
            total = total + i_s
            print(f"  {name:10s} {s:3s} (r_last {tables[s].r[-1]:6.1f}) " + " ".join(f"{x:+8.1f}" for x in i_s))
        print(f"  {name:10s} sum                " + " ".join(f"{x:+8.1f}" for x in total))


if __name__ == "__main__":
    main()
