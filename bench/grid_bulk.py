"""Where the dot's bulk reference moves between the fit's plane waves and the dot's grid (not a test; see
tests/test_grid_bulk.py).

For one material (a bundle's first system, a folder of pot<Sym>.par tables) prints the bulk VBM and CBM at
Gamma and L (the zincblende edges) in eV, each step adding one of the grid's differences:

1. plane waves at the system's maxKE (the fit's basis, what ``sepm dot`` compared with before);
2. plane waves at maxKE = the kinetic cap (the basis the grid's cap allows, a sphere);
3. the grid, V's Fourier series cut at the grid's frequencies (``alias`` 1: the grid's cube of plane waves,
   capped kinetic energy, the product V psi on grid points);
4. the grid, V summed to 3x the Nyquist frequency (the dot's V at its grid points, aliased), at two offsets of
   the atoms from the grid points: what :func:`sepm.nanocrystal.grid_bulk.grid_bulk_edges` uses.

Usage: python bench/grid_bulk.py BUNDLE POTDIR SPACING [SPACING ...]   (spacings in Bohr; the cell grid takes
the odd point count nearest, as grid_bulk does)
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace

import numpy as np
import torch

from sepm.constants import HARTREE_EV
from sepm.crystal import Crystal
from sepm.io.bundle import read_bundle
from sepm.nanocrystal.dot import bulk_edges
from sepm.nanocrystal.grid_bulk import OFFSET, bloch_levels, box_cell, cell_grid, grid_potential
from sepm.nanocrystal.hamiltonian import KINETIC_CAP
from sepm.nanocrystal.ligands import is_cation
from sepm.nanocrystal.potfiles import read_library
from sepm.nanocrystal.radial import LibraryFormFactor


def main(bundle, potdir, spacings):
    torch.set_num_threads(1)
    system = read_bundle(bundle).systems[0]
    species = sorted(set(system.atom_species))
    tables = read_library(potdir, species)
    for maxke in (system.maxke, KINETIC_CAP):
        e = bulk_edges(replace(system, maxke=maxke), tables, species)
        print(f"plane waves, maxKE {maxke:g} Hartree: VBM {e['vbm'] * HARTREE_EV:.4f} CBM {e['cbm'] * HARTREE_EV:.4f} eV "
              f"(k {e['k_vbm']}, {e['k_cbm']})", flush=True)
    crystal = Crystal.from_system(system, species=species)
    cell = box_cell(crystal)
    n_occ = 4 * sum(1 for s in cell.atom_species if not is_cation(s))
    ks = crystal.kpoints_cartesian([[0.0, 0.0, 0.0], [0.5, 0.5, 0.5]])
    form_factor = LibraryFormFactor(tables, species)
    for h in spacings:
        grid = cell_grid(cell, [h] * 3)
        for alias, offsets in ((1, [(0.0, 0.0, 0.0)]), (3, [(0.0, 0.0, 0.0), OFFSET])):
            for offset in offsets:
                start = time.perf_counter()
                Vq = grid_potential(cell.translated(np.asarray(offset) * grid.spacing), form_factor, grid.shape, alias)
                bands = np.array([bloch_levels(grid, Vq, k, KINETIC_CAP)[n_occ - 1:n_occ + 1].numpy() for k in ks])
                print(f"grid h {grid.spacing[0]:.4f} ({grid.shape[0]}^3 per cell, asked {h:g}), V to {alias}x Nyquist, "
                      f"offset {offset}: VBM {bands[:, 0].max() * HARTREE_EV:.4f} CBM {bands[:, 1].min() * HARTREE_EV:.4f} "
                      f"eV (Gamma/L VBM {np.round(bands[:, 0] * HARTREE_EV, 4)}, CBM {np.round(bands[:, 1] * HARTREE_EV, 4)}; "
                      f"{time.perf_counter() - start:.1f} s)", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], [float(x) for x in sys.argv[3:]])
