"""Quantum dots: the passivated builder against independent neighbour counts, the grid potential against a
direct sum, the spectral kinetic energy, folded-spectrum LOBPCG against dense diagonalization (HOMO index
4 N_anion - 1), and `sepm dot` over a small size series."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.spatial.distance import pdist, squareform

from crystals import BUNDLES
from sepm.cli import main
from sepm.crystal import Crystal
from sepm.io import read_bundle
from sepm.nanocrystal.builder import build_nanocrystal
from sepm.nanocrystal.dot import DotSettings, bulk_edges, run_dot
from sepm.nanocrystal.grid import DotGrid, centred, potential_on_grid
from sepm.nanocrystal.hamiltonian import GridHamiltonian
from sepm.nanocrystal.ligands import Passivation, ligand_tables
from sepm.nanocrystal.potfiles import read_library
from sepm.nanocrystal.solver import dense_levels, edge_states

LIBRARY = Path(__file__).resolve().parents[1] / "resources" / "potentials-realspace"
GAAS = BUNDLES / "GaAs"
BOND = 10.683 * np.sqrt(3) / 4


@pytest.fixture(scope="module")
def gaas():
    bundle = read_bundle(GAAS)
    return bundle.systems[0], Crystal.from_system(bundle.systems[0])


@pytest.fixture(scope="module")
def tables():
    t = read_library(LIBRARY, ["As", "Ga"])
    t.update(ligand_tables(1024, t["Ga"].dr))
    return t


def test_builder_matches_independent_shell_and_bond_counts(gaas):
    _, crystal = gaas
    dot = build_nanocrystal(crystal, 10.0)
    core = dot.positions[: dot.n_core]
    # Shells of zinc blende around a cation within 10 Bohr: Ga 1 + 12 (a/sqrt2), As 4 (d) + 12 (sqrt(11)a/4).
    assert dot.counts["Ga"] == 13 and dot.counts["As"] == 16 and dot.removed == 0
    assert abs(dot.bond_length - BOND) < 1e-9
    bonds = squareform(pdist(core)) < 1.1 * BOND
    np.fill_diagonal(bonds, False)
    internal = bonds.sum(axis=1)
    cation = np.array([s == "Ga" for s in dot.symbols[: dot.n_core]])
    # Every atom has 4 bonds, internal or passivated: one P1 per cation and one P2 per anion dangling bond.
    assert dot.counts["P1"] == int((4 - internal[cation]).sum()) == 12
    assert dot.counts["P2"] == int((4 - internal[~cation]).sum()) == 24
    assert internal.min() >= 2 and dot.homo_index == 4 * 16 - 1
    # Each ligand sits at 0.55 d (P1) or 0.25 d (P2) from exactly one atom of the right kind.
    lig = dot.positions[dot.n_core:]
    d = np.linalg.norm(lig[:, None, :] - core[None, :, :], axis=2)
    nearest = d.argmin(axis=1)
    for i, s in enumerate(dot.symbols[dot.n_core:]):
        assert np.isclose(d[i, nearest[i]], (0.55 if s == "P1" else 0.25) * BOND, atol=1e-9)
        assert (dot.symbols[nearest[i]] == "Ga") == (s == "P1")


def test_weakly_bonded_atoms_are_removed_and_the_centre_can_be_an_anion(gaas):
    _, crystal = gaas
    dot = build_nanocrystal(crystal, 12.0)
    core = dot.positions[: dot.n_core]
    bonds = squareform(pdist(core)) < 1.1 * BOND
    np.fill_diagonal(bonds, False)
    assert dot.removed == 12 and bonds.sum(axis=1).min() >= 2
    anion = build_nanocrystal(crystal, 5.0, center_atom=1, min_bonds=1)
    assert anion.counts == {"As": 1, "Ga": 4, "P1": 12} and anion.homo_index == 3
    shifted = build_nanocrystal(crystal, 5.0, center_atom=1, min_bonds=1,
                                passivation=Passivation(cation_fraction=0.5))
    ligand = shifted.positions[shifted.n_core:]
    assert np.allclose(np.linalg.norm(ligand - shifted.positions[1], axis=1).min(), 0.5 * BOND, atol=1e-9)


def test_sites_are_centred_where_the_client_puts_them(gaas):
    # The client subtracts the sites' mean from conf.par; an off-atom sphere's bounding-box centre is ~1 Bohr
    # away from it, so the grid would sample the dot elsewhere than the client does.
    _, crystal = gaas
    dot = build_nanocrystal(crystal, 10.0, center=(1.0, 0.5, 0.2))
    pos = centred(dot.positions)
    assert np.abs(pos - (dot.positions - dot.positions.mean(axis=0))).max() < 1e-12
    assert np.abs(0.5 * (pos.max(axis=0) + pos.min(axis=0))).max() > 0.5


def test_grid_potential_equals_a_direct_sum_of_atom_potentials(gaas, tables):
    _, crystal = gaas
    dot = build_nanocrystal(crystal, 5.0, min_bonds=1)
    pos = centred(dot.positions)
    grid = DotGrid.around(pos, 1.0)
    V, cuts = potential_on_grid(grid, dot.symbols, pos, tables)
    axes = grid.axes()
    rng = np.random.default_rng(0)
    for _ in range(20):
        idx = tuple(rng.integers(0, n) for n in grid.shape)
        r = np.array([axes[i][idx[i]] for i in range(3)])
        direct = 0.0
        for s, p in zip(dot.symbols, pos):
            t = tables[s]
            direct += np.interp(np.linalg.norm(r - p), t.r, t.v - t.v[-1], right=0.0)
        assert abs(float(V[idx]) - direct) < 1e-12  # the whole tables: the cut drops < 1e-13 per atom
    assert set(cuts) == {"As", "Ga", "P2"} and cuts["As"] == cuts["Ga"] == tables["As"].r[-1] and cuts["P2"] < 9.0


def test_grid_potential_interpolates_between_the_rows_as_printed():
    # The library prints r with 6 significant digits (25.1327 for 1000 pi/125 = 25.13274): the client
    # interpolates between the rows as printed, so the dot must too (at i dr its levels moved by 0.01 meV).
    symbols, pos = ["Ga", "As"], centred(np.array([[0.0, 0.0, 0.0], [BOND / np.sqrt(3)] * 3]))
    grid = DotGrid.around(pos, 0.8)
    V, _ = potential_on_grid(grid, symbols, pos, read_library(LIBRARY, symbols))
    points = np.stack(np.meshgrid(*grid.axes(), indexing="ij"), axis=-1)
    printed, uniform = np.zeros(grid.shape), np.zeros(grid.shape)
    for s, p in zip(symbols, pos):
        r, v = np.loadtxt(LIBRARY / f"pot{s}.par", unpack=True)
        dist = np.linalg.norm(points - p, axis=-1)
        printed += np.interp(dist, r, v - v[-1], right=0.0)
        uniform += np.interp(dist, r[-1] / (len(r) - 1) * np.arange(len(r)), v - v[-1], right=0.0)
    assert np.abs(V.numpy() - printed).max() < 1e-12
    assert np.abs(uniform - printed).max() > 1e-7  # the rows at i dr: a different potential


def test_kinetic_energy_is_spectral_and_capped():
    grid = DotGrid((6.0, 6.0, 6.0), (12, 12, 12))
    H = GridHamiltonian(grid, torch.zeros(grid.shape, dtype=torch.float64), kinetic_cap=3.0)
    x = torch.as_tensor(np.meshgrid(*grid.axes(), indexing="ij")[0])
    for m in (1, 3, 5):
        g = 2 * np.pi * m / 12.0
        psi = torch.cos(g * x).reshape(1, -1)
        out = H.apply(psi)
        assert torch.allclose(out, min(0.5 * g * g, 3.0) * psi, atol=1e-12)


@pytest.mark.parametrize("center_atom, homo_index", [(0, 15), (1, 3)])
def test_folded_lobpcg_equals_dense_diagonalization_and_homo_index_is_4_n_anion_minus_1(
        gaas, tables, center_atom, homo_index):
    system, crystal = gaas
    dot = build_nanocrystal(crystal, 5.0, center_atom=center_atom, min_bonds=1)
    assert dot.homo_index == homo_index
    pos = centred(dot.positions)
    grid = DotGrid.around(pos, 1.4)
    V, _ = potential_on_grid(grid, dot.symbols, pos, tables)
    H = GridHamiltonian(grid, V)
    levels = dense_levels(H)
    edges = bulk_edges(system, tables, ["As", "Ga"])
    mid = 0.5 * (edges["vbm"] + edges["cbm"])
    # The dense spectrum's gap (around the bulk mid-gap) sits after 4 N_anion states.
    assert int((levels < mid).sum()) == homo_index + 1
    homo, lumo = float(levels[homo_index]), float(levels[homo_index + 1])
    val, vb, _ = edge_states(H, edges["vbm"], 3, mid, False, tol=1e-7)
    con, cb, tried = edge_states(H, edges["cbm"], 3, mid, True, tol=1e-7)
    assert val.converged and con.converged
    assert abs(float(val.energies[vb].max()) - homo) < 1e-6
    assert abs(float(con.energies[cb].min()) - lumo) < 1e-6
    # The anion-centred 5-atom cluster's LUMO lies so far above the bulk CBM that the reference moves.
    assert (len(tried) > 1) == (center_atom == 1)
    found = torch.cat([val.energies, con.energies])
    nearest = levels[torch.argmin((levels[:, None] - found[None, :]).abs(), dim=0)]
    assert float((nearest - found).abs().max()) < 1e-6
    assert float(torch.cat([val.residuals, con.residuals]).max()) < 1e-7


def test_sepm_dot_size_series_falls_toward_the_bulk_gap(tmp_path):
    out = tmp_path / "dots"
    assert main(["dot", str(GAAS), str(out), "--pot-dir", str(LIBRARY), "--radius", "10", "12", "--spacing",
                 "1.0", "--n-valence", "2", "--n-conduction", "2"]) == 0
    records = [json.loads((out / f"R{r}" / "dot.json").read_text()) for r in (10, 12)]
    gaps = [r["gap_ev"] for r in records]
    bulk = records[0]["bulk"]["gap"]
    assert gaps[0] > gaps[1] > bulk + 0.5
    assert records[0]["homo_index"] == 63 and records[1]["atoms"] == {"As": 16, "Ga": 19, "P1": 24, "P2": 12}
    for r in records:
        assert r["sanity"]["ok"], r["sanity"]["flags"]  # the published library, passivated: confinement only
        assert r["solver"]["valence"]["converged"] and r["solver"]["conduction"]["converged"]
        assert max(level["residual_hartree"] for level in r["levels"]) < 1e-4
        homo = [level for level in r["levels"] if level["index"] == r["homo_index"]]
        assert homo and abs(homo[0]["energy_ev"] - r["homo_ev"]) < 1e-9
    table = np.loadtxt(out / "gap_vs_size.dat")
    assert np.allclose(table[:, 6], gaps) and (out / "gap_vs_size.png").is_file()
    cube = (out / "R10" / "lumo.cube").read_text().split("\n")
    natoms, shape = int(cube[2].split()[0]), [int(cube[3 + i].split()[0]) for i in range(3)]
    values = np.array(" ".join(cube[6 + natoms:]).split(), dtype=float)
    step = [float(cube[3 + i].split()[1 + i]) for i in range(3)]
    assert values.size == np.prod(shape) and abs(values.sum() * np.prod(step) - 1.0) < 1e-6  # steps printed to 1e-8
    assert (out / "R10" / "conf.par").read_text().split("\n")[0] == str(29 + 36)


@pytest.mark.skipif(not os.environ.get("SEPM_SLOW_TESTS"), reason="two dots at 0.8 and 0.4 Bohr; set SEPM_SLOW_TESTS=1")
def test_gap_is_converged_in_the_grid_spacing(gaas, tables, tmp_path):
    """The 29-atom dot's gap changes by less than 10 meV when the grid spacing is halved (0.8 -> 0.4 Bohr)."""
    system, _ = gaas
    gaps = [run_dot(system, tables, DotSettings(radius=10.0, spacing=h, n_valence=1, n_conduction=1),
                    tmp_path / str(h))["gap_ev"] for h in (0.8, 0.4)]
    assert abs(gaps[0] - gaps[1]) < 0.010
