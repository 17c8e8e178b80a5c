"""The bulk edges of the dot's own grid Hamiltonian (sepm.nanocrystal.grid_bulk): the box cell, V on the grid
against a direct periodic sum, the Bloch blocks against a dense diagonalization of the periodic supercell's
grid Hamiltonian (the dot's own code), and the plane-wave fallback."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from crystals import BUNDLES, zincblende
from sepm.crystal import Crystal
from sepm.io import read_bundle
from sepm.nanocrystal.grid import DotGrid
from sepm.nanocrystal.grid_bulk import bloch_levels, box_cell, grid_bulk_edges, grid_potential
from sepm.nanocrystal.hamiltonian import GridHamiltonian
from sepm.nanocrystal.potfiles import RadialTable, read_library
from sepm.nanocrystal.radial import LibraryFormFactor

DR, ROWS = math.pi / 125, 1000
LIBRARY = Path(__file__).resolve().parents[1] / "resources" / "potentials-realspace"


def gaussian_tables(species, depths=(-1.0, -0.6), width=1.0) -> dict:
    r = DR * np.arange(ROWS)
    return {s: RadialTable(s, DR, a * np.exp(-(r / width) ** 2)) for s, a in zip(species, depths)}


def test_box_cells_of_fcc_and_hexagonal_lattices():
    cube = box_cell(zincblende())
    assert np.allclose(cube.lattice, 10.683 * np.eye(3)) and len(cube.atom_species) == 8
    assert sorted(cube.atom_species) == ["As"] * 4 + ["Ga"] * 4 and np.allclose(cube.frac[0], 0.0)
    # Every atom of the cube is an atom of the crystal (its fractional coordinates differ by integers).
    prim = zincblende()
    for s, x in zip(cube.atom_species, cube.positions + prim.positions[0]):
        f = x @ np.linalg.inv(prim.lattice) - prim.frac[list(prim.atom_species).index(s)]
        assert np.allclose(f, np.rint(f), atol=1e-9)
    a, c = 7.0, 11.4
    hexagonal = Crystal(np.array([[a, 0, 0], [-a / 2, a * 3**0.5 / 2, 0], [0, 0, c]]), ("Cd", "Se"),
                        np.array([[1 / 3, 2 / 3, 0.0], [1 / 3, 2 / 3, 0.375]]))
    ortho = box_cell(hexagonal)
    assert np.allclose(np.diag(ortho.lattice), [a, a * 3**0.5, c]) and len(ortho.atom_species) == 4
    assert box_cell(Crystal(np.array([[1.0, 0.1, 0.0], [0.2, 1.0, 0.3], [0.0, 0.4, 1.0]]), ("Ga",), [[0, 0, 0]])) is None


def test_grid_potential_is_the_periodic_sum_of_the_atoms_at_the_grid_points():
    cell = Crystal(6.0 * np.eye(3), ("Ga", "As"), np.array([[0.3, 0.1, 0.2], [0.7, 0.55, 0.9]]))
    tables = gaussian_tables(("As", "Ga"))
    shape = (8, 8, 8)
    V = torch.fft.ifftn(grid_potential(cell, LibraryFormFactor(tables, ("As", "Ga")), shape, 3)) * 512
    assert float(V.imag.abs().max()) < 1e-12
    points = np.stack(np.meshgrid(*[np.arange(8) * 0.75] * 3, indexing="ij"), -1)
    images = np.stack(np.meshgrid(*[np.arange(-2, 3)] * 3, indexing="ij"), -1).reshape(-1, 3) * 6.0
    direct = np.zeros(shape)
    for s, R in zip(cell.atom_species, cell.positions):
        d = np.linalg.norm(points[..., None, :] - R - images, axis=-1)
        direct += (tables[s].v[0] * np.exp(-d**2)).sum(-1)
    assert np.abs(V.real.numpy() - direct).max() < 1e-8


def test_bloch_blocks_are_the_periodic_supercells_grid_hamiltonian():
    """Two cells along x on a coarse grid (5 points per cell edge, kinetic cap 2 Hartree so that it acts): the
    dense grid Hamiltonian of the dot's own code, periodic, has the levels of the cell's Bloch blocks at
    k = 0 (real-space path) and k = pi / L x (plane-wave path) together."""
    cube = box_cell(zincblende())
    L, m, cap = 10.683, 5, 2.0
    cell_grid = DotGrid((L / 2,) * 3, (m,) * 3)
    Vq = grid_potential(cube, LibraryFormFactor(gaussian_tables(("As", "Ga")), ("As", "Ga")), cell_grid.shape, 3)
    V = (torch.fft.ifftn(Vq) * m**3).real
    H = GridHamiltonian(DotGrid((L, L / 2, L / 2), (2 * m, m, m)), torch.cat([V, V]), cap)
    dense = torch.linalg.eigvalsh(H.dense())
    blocks = torch.cat([bloch_levels(cell_grid, Vq, np.array(k), cap) for k in ([0.0, 0, 0], [math.pi / L, 0, 0])])
    assert float((torch.sort(blocks).values - dense).abs().max()) < 1e-8


def test_gaas_edges_on_the_grid_and_the_fallback():
    """The published GaAs library on a coarse grid (h = 1.2 Bohr: the 9^3 cube): the edges are the Bloch blocks'
    bands 16 / 17 (4 per anion) at the generic offset, the larger / smaller of Gamma and L."""
    system = read_bundle(BUNDLES / "GaAs").systems[0]
    species = ["As", "Ga"]
    tables = read_library(LIBRARY, species)
    plane = dict(k_vbm=[0.0, 0.0, 0.0], k_cbm=[0.5, 0.5, 0.5])
    edges = grid_bulk_edges(system, tables, species, [1.2] * 3, 10.0, plane)
    assert edges["cell_shape"] == [9, 9, 9] and edges["cell_atoms"] == 8 and "fallback" not in edges
    assert 0.04 < edges["gap"] < 0.08   # measured 1.405 eV (0.0516 Hartree); the offsets differ by 6.9 meV
    cube = box_cell(zincblende())
    grid = DotGrid((10.683 / 2,) * 3, (9, 9, 9))
    Vq = grid_potential(cube.translated(np.array([0.31, 0.17, 0.43]) * 10.683 / 9), LibraryFormFactor(tables, species),
                        grid.shape, 3)
    levels = [bloch_levels(grid, Vq, k, 10.0) for k in (np.zeros(3), np.full(3, math.pi / 10.683))]
    assert math.isclose(edges["vbm"], max(float(e[15]) for e in levels), abs_tol=1e-12)
    assert math.isclose(edges["cbm"], min(float(e[16]) for e in levels), abs_tol=1e-12)
    # A lattice with no box cell: plane waves at maxKE = the cap, and why.
    skewed = replace(system, cell=np.array([[0.0, 0.5, 0.5], [0.5, 0.0, 0.5], [0.5, 0.52, 0.0]]))
    fallback = grid_bulk_edges(skewed, tables, species, [1.2] * 3, 3.0, plane)
    assert fallback["maxke"] == 3.0 and "no cell" in fallback["fallback"]
