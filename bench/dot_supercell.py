"""Supercell check of the dot's spinor grid Hamiltonian at converged grids (not a test; see tests/test_dot_spinor.py).

A periodic supercell in the grid box has at Gamma the bulk levels at the k-points folding onto Gamma. For each
grid spacing the grid Hamiltonian (local part from the exported radial tables, SOC/NL as atom-centred
projectors, periodic images of every term) and the plane-wave Hamiltonian of ``sepm.hamiltonian`` (what
``sepm bands`` diagonalizes) are both diagonalized in the same plane waves, |G|^2/2 < maxKE at Gamma
(:func:`sepm.nanocrystal.supercell.galerkin_levels`), so the difference is the error of the grid's matrix
elements alone. Printed, in meV over the lowest N levels: max |E_grid - E_pw| for the local part alone and its
spread (max - min: a constant offset is the tables' shift by their last value), the error of the SOC + NL
shifts, max |(E_full - E_local)_grid - (E_full - E_local)_pw|, and max |E_grid - E_pw| of the full
Hamiltonian when the plane-wave side's local part is the grid's own radial tables back-transformed
(:class:`sepm.nanocrystal.radial.LibraryFormFactor`): what is left is the grid's error alone.

Usage: python bench/dot_supercell.py {gaas,cspbi3} SPACING [SPACING ...] [--maxke 2] [--levels 32]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from sepm.constants import HARTREE_EV
from sepm.crystal import Crystal
from sepm.nanocrystal.radial import LibraryFormFactor, tables_from_form_factor
from sepm.nanocrystal.supercell import checkpoint_pseudopotential, galerkin_levels, grid_hamiltonian

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT_BUNDLE = ROOT / "tests" / "data" / "deeppseudopot" / "test_parallel_inputs_SOC_noPara"


def material(name):
    if name == "gaas":
        from sepm.io.bundle import read_bundle
        from sepm.pseudopotential import Pseudopotential

        bundle = read_bundle(ROOT / "resources" / "bundles" / "GaAs")
        pp = replace(Pseudopotential.from_bundle(bundle), long_range=False)
        frac = np.array([[0, 0, 0], [.25, .25, .25], [0, .5, .5], [.25, .75, .75], [.5, 0, .5], [.75, .25, .75],
                         [.5, .5, 0], [.75, .75, .25]])
        return Crystal(np.eye(3) * bundle.systems[0].scale, ("Ga", "As") * 4, frac, pp.species), pp
    pp, system = checkpoint_pseudopotential(CHECKPOINT_BUNDLE)
    return Crystal.from_system(system, species=pp.species), pp


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("material", choices=["gaas", "cspbi3"])
    ap.add_argument("spacing", type=float, nargs="+")
    ap.add_argument("--maxke", type=float, default=2.0)
    ap.add_argument("--levels", type=int, default=32)
    args = ap.parse_args()
    torch.set_num_threads(1)
    cell, pp = material(args.material)
    local = replace(pp, soc=False, nonlocal_=False)
    tables, _ = tables_from_form_factor(pp.local_form_factor, list(pp.species))
    same_tables = replace(pp, local=LibraryFormFactor(tables, pp.species))
    n, mev = args.levels, 1e3 * HARTREE_EV
    print(f"{args.material}: {len(cell.atom_species)} atoms, lowest {n} levels at Gamma in the plane waves of maxKE "
          f"{args.maxke} Ha; grid - plane waves in meV; 1 thread")
    print("spacing  grid        local_max  local_spread  soc_nl_shift_max  full_same_tables_max  seconds")
    for h in args.spacing:
        t = time.perf_counter()
        H0 = grid_hamiltonian(cell, local, h)
        g0, p0 = (x[:n].numpy() for x in galerkin_levels(H0, cell, local, args.maxke))
        d0 = g0 - p0
        H1 = grid_hamiltonian(cell, pp, h)
        g1, p1 = (x[:n].numpy() for x in galerkin_levels(H1, cell, pp, args.maxke))
        shift = np.abs((g1 - g0) - (p1 - p0)).max() * mev
        same = np.abs(g1 - galerkin_levels(H1, cell, same_tables, args.maxke)[1][:n].numpy()).max() * mev
        print(f"{h:7.3f}  {'x'.join(map(str, H0.grid.shape)):10s} {np.abs(d0).max() * mev:9.2f} "
              f"{np.ptp(d0) * mev:12.2f} {shift:14.2f} {same:18.2f} {time.perf_counter() - t:12.1f}", flush=True)


if __name__ == "__main__":
    main()
