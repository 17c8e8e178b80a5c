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

With ``--supercell R N``: the check of step 4 against a grid that is not commensurate with the cell, as a
dot's is not: R x R x R cubes, periodic, N points per edge (N / R not an integer: the cubes sit at R offsets
from the grid points per axis), V on the points the same way, the states at Gamma nearest the step-4 edges
(the dot's solver, :func:`sepm.nanocrystal.solver.grid_states`). Its Gamma holds the cube's Gamma (so the
zincblende VBM and a Gamma CBM), not L unless R is even.

Usage: python bench/grid_bulk.py BUNDLE POTDIR SPACING [SPACING ...] [--supercell R N]   (spacings in Bohr;
the cell grid takes the odd point count nearest, as grid_bulk does)
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
import torch

from sepm.constants import HARTREE_EV
from sepm.crystal import Crystal
from sepm.io.bundle import read_bundle
from sepm.nanocrystal.dot import bulk_edges
from sepm.nanocrystal.grid import DotGrid
from sepm.nanocrystal.grid_bulk import OFFSET, bloch_levels, box_cell, cell_grid, grid_potential
from sepm.nanocrystal.hamiltonian import KINETIC_CAP, GridHamiltonian
from sepm.nanocrystal.ligands import is_cation
from sepm.nanocrystal.potfiles import read_library
from sepm.nanocrystal.radial import LibraryFormFactor
from sepm.nanocrystal.solver import grid_states


def main(bundle, potdir, spacings, supercell=None):
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
    if supercell:
        incommensurate(cell, form_factor, *supercell, bands[0, 0], bands[0, 1])


def incommensurate(cell, form_factor, reps: int, n: int, vbm: float, cbm: float):
    """Gamma levels of ``reps``^3 cubes on an n^3 grid nearest ``vbm`` and ``cbm`` (Hartree). V's coefficients
    are the cube's (the supercell's structure factor vanishes off the cube's reciprocal vectors), at supercell
    frequency reps g, each added to its grid frequency mod n, to 3x the grid's Nyquist frequency."""
    start = time.perf_counter()
    L = np.diag(cell.lattice)[0]
    reach = 3 * n // (2 * reps)
    g = np.arange(-reach, reach + 1)
    miller = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
    G = torch.as_tensor(2.0 * np.pi * miller / L)
    q, inverse = torch.unique(G.norm(dim=1).round(decimals=10), return_inverse=True)
    vq = form_factor(q)[inverse]
    coeff = (torch.exp(-1j * (G @ torch.as_tensor(cell.positions).T)) * vq[:, torch.as_tensor(cell.species_index)]).sum(1)
    flat = torch.as_tensor((((reps * miller) % n) * np.array([n * n, n, 1])).sum(axis=1))
    Vq = torch.zeros(n**3, dtype=torch.complex128).index_add_(0, flat, coeff / cell.volume).reshape(n, n, n)
    grid = DotGrid((reps * L / 2,) * 3, (n, n, n))
    H = GridHamiltonian(grid, (torch.fft.ifftn(Vq) * n**3).real.contiguous(), KINETIC_CAP)
    for name, sigma in (("VBM", vbm), ("CBM", cbm)):
        levels = grid_states(H, float(sigma), 3, tol=1e-6).energies.numpy()
        print(f"{reps}^3 cubes on {n}^3 points (h {grid.spacing[0]:.4f}, {n / reps:.2f} per cube): levels nearest the "
              f"{name} {np.round(levels * HARTREE_EV, 4)} eV", flush=True)
    print(f"  ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("bundle")
    parser.add_argument("potdir")
    parser.add_argument("spacings", type=float, nargs="+")
    parser.add_argument("--supercell", type=int, nargs=2, metavar=("R", "N"))
    args = parser.parse_args()
    main(args.bundle, args.potdir, args.spacings, args.supercell)
