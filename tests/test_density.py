"""Charge density from the occupied eigenvectors: electron count, positivity, translations, symmetry,
SOC occupations, and the cube / XSF files (read back with ASE)."""

import json

import numpy as np
import pytest
from ase.io import read as ase_read
from ase.io.cube import read_cube_data
from ase.io.xsf import read_xsf

from crystals import BUNDLES
from sepm.analysis.density import (
    bond_line,
    charge_density,
    electron_count,
    fold_wigner_seitz,
    grid_density,
    monkhorst_pack,
    time_reversal_pairs,
    valence_electrons,
)
from sepm.bands import system_hamiltonian
from sepm.basis import PlaneWaveBasis
from sepm.cli import main
from sepm.constants import BOHR_PER_ANGSTROM
from sepm.hamiltonian import Hamiltonian
from sepm.io import read_bundle
from sepm.pseudopotential import Pseudopotential
from small_bundles import small_gaas

GRID = (10, 10, 10)


def read_cube(path) -> dict:
    """Read a cube file written by sepm.analysis.volumetric.write_cube (its layout, independently of ASE):
    {"data" (M1, M2, M3), "lattice" (3, 3) Bohr,
    "numbers", "charges", "positions" (Bohr), "origin" (Bohr)}."""
    with open(path) as handle:
        handle.readline()
        handle.readline()
        head = handle.readline().split()
        natoms, origin = abs(int(head[0])), np.array(head[1:4], dtype=np.float64)
        axes = np.array([handle.readline().split() for _ in range(3)], dtype=np.float64)
        atoms = np.array([handle.readline().split() for _ in range(natoms)], dtype=np.float64).reshape(natoms, 5)
        values = np.array(handle.read().split(), dtype=np.float64)
    shape = tuple(int(m) for m in axes[:, 0])
    if values.size != np.prod(shape):
        raise ValueError(f"{path}: {values.size} values for a {shape} grid")
    return {"data": values.reshape(shape), "lattice": axes[:, 1:] * axes[:, :1], "origin": origin,
            "numbers": atoms[:, 0].astype(int), "charges": atoms[:, 1], "positions": atoms[:, 2:]}


@pytest.fixture(scope="module")
def gaas():
    """GaAs bundle, analytic potential, maxKE 3 Ha (65 plane waves), 2x2x2 k-grid folded (15 points)."""
    bundle = read_bundle(BUNDLES / "GaAs")
    pp = Pseudopotential.from_bundle(bundle)
    crystal = system_hamiltonian(bundle.systems[0], pp).basis.crystal
    ham = Hamiltonian(PlaneWaveBasis(crystal, 3.0), pp)
    kfrac, weights = fold_wigner_seitz(monkhorst_pack((2, 2, 2)), crystal.reciprocal)
    grid_points = (np.array([[0, 0, 0], [1, 2, 3], [9, 4, 7], [5, 5, 5]]) / np.array(GRID)) @ crystal.lattice
    result = charge_density(ham, kfrac, weights, 8, GRID, points=grid_points, progress=False)
    return bundle, pp, crystal, kfrac, weights, result


def test_gaas_density_integrates_to_8_and_is_positive(gaas):
    bundle, _, crystal, kfrac, weights, result = gaas
    assert len(kfrac) == 15 and weights.sum() == pytest.approx(1.0, abs=1e-14)  # Gamma + 4 L x 2 + 3 X x 2
    assert electron_count(bundle.systems[0], bundle.path) == (8, "s+p valence electrons (Ga 3 + As 5)")
    assert result.n_occupied == 4 and result.occupancy == 2.0 and not result.spinor
    assert abs(result.rho.sum() * crystal.volume / np.prod(GRID) - 8.0) < 1e-8
    assert result.rho.min() > 5e-4  # positive everywhere (the pseudo-density has no nodes in GaAs)
    assert 0.05 < result.rho.max() < 0.2
    # the FFT grid values are the direct plane-wave sums at the grid points
    j = np.array([[0, 0, 0], [1, 2, 3], [9, 4, 7], [5, 5, 5]])
    np.testing.assert_allclose(result.point_values, result.rho[tuple(j.T)], rtol=0, atol=1e-13)
    # the valence band edges at Gamma: 4 occupied levels and a gap to the 5th
    assert np.all(result.energies[:, 4] - result.energies[:, 3] > 0.02)


def test_gaas_density_has_the_crystal_symmetry_and_bond_charge_near_as(gaas):
    _, pp, crystal, kfrac, weights, result = gaas
    rho = result.rho
    # a1 <-> a2 is the mirror x <-> y, the cyclic a1 -> a2 -> a3 the C3 rotation about [111]: both in Td
    assert np.abs(rho - rho.transpose(1, 0, 2)).max() < 1e-12
    assert np.abs(rho - rho.transpose(1, 2, 0)).max() < 1e-12
    # no inversion symmetry in zinc blende: rho(r) != rho(-r)
    inverted = np.roll(rho[::-1, ::-1, ::-1], 1, axis=(0, 1, 2))
    assert np.abs(rho - inverted).max() > 1e-3
    s, points, length, neighbour = bond_line(crystal)
    assert crystal.atom_species[0] == "Ga" and crystal.atom_species[neighbour] == "As"
    assert length == pytest.approx(np.sqrt(3) / 4 * 10.683, abs=1e-12)
    ham = Hamiltonian(PlaneWaveBasis(crystal, 3.0), pp)
    line = charge_density(ham, kfrac, weights, 8, GRID, points=points, progress=False).point_values
    peak = s[np.argmax(line)]
    assert 0.5 * length < peak < length  # the bond charge sits between the atoms, closer to As
    assert line.max() > 2.0 * line[np.argmin(np.abs(s))]  # and is well above the density at Ga


def test_time_reversal_pairing_gives_the_same_density(gaas):
    _, pp, crystal, kfrac, weights, result = gaas
    paired, paired_weights = time_reversal_pairs(kfrac, weights)
    assert len(paired) == 8 and paired_weights.sum() == pytest.approx(1.0, abs=1e-14)
    ham = Hamiltonian(PlaneWaveBasis(crystal, 3.0), pp)
    rho = charge_density(ham, paired, paired_weights, 8, GRID, progress=False).rho
    assert np.abs(rho - result.rho).max() < 1e-12


def test_translating_the_atoms_moves_the_density(gaas):
    _, pp, crystal, kfrac, weights, result = gaas
    shift = np.array([3, 1, 7])
    moved = crystal.translated((shift / np.array(GRID)) @ crystal.lattice)
    rho = charge_density(Hamiltonian(PlaneWaveBasis(moved, 3.0), pp), kfrac, weights, 8, GRID, progress=False).rho
    # atoms moved by t = sum_i (j_i / M_i) a_i: rho'(r) = rho(r - t), i.e. the grid rolls by +j
    assert np.abs(rho - np.roll(result.rho, tuple(shift), axis=(0, 1, 2))).max() < 1e-8
    assert np.abs(rho - result.rho).max() > 1e-2  # a real move
    lattice_moved = crystal.translated(np.array([1, -2, 1]) @ crystal.lattice)
    rho = charge_density(Hamiltonian(PlaneWaveBasis(lattice_moved, 3.0), pp), kfrac, weights, 8, GRID,
                         progress=False).rho
    assert np.abs(rho - result.rho).max() < 1e-10


def test_cspbi3_with_soc_integrates_to_26_and_matches_spin_free_at_zero_soc():
    bundle = read_bundle(BUNDLES / "CsPbI3_soc")
    assert bundle.config["SObool"]
    system = bundle.systems[0]
    assert electron_count(system, bundle.path)[0] == 26  # Cs 1 + Pb 4 + 3 I 7
    mc = read_bundle(BUNDLES / "CsPbI3_mc")
    assert electron_count(mc.systems[0], mc.path, spinor=True) == (26, "input_0.par: idxVB + 1")  # an SOC bundle
    assert electron_count(mc.systems[0], mc.path) == (52, "input_0.par: 2 (idxVB + 1)")  # read as spatial levels
    pp = Pseudopotential.from_bundle(bundle)
    crystal = system_hamiltonian(system, pp).basis.crystal
    ham = Hamiltonian(PlaneWaveBasis(crystal, 2.0), pp)
    assert ham.spinor
    result = grid_density(ham, (1, 1, 1), False, 26, progress=False)
    assert result.n_occupied == 26 and result.occupancy == 1.0
    assert abs(result.integrated_electrons - 26.0) < 1e-8
    assert result.rho.min() > 0
    # SOC switched off: spin-free levels of 2 e against spinors of 1 e with a5 = 0 give the same rho
    params = pp.params.clone()
    params[:, 5] = 0.0
    spinor = Pseudopotential(pp.species, params, soc=True, nonlocal_=True)
    spin_free = Pseudopotential(pp.species, params, soc=False, nonlocal_=True)
    kfrac = np.array([[0.0, 0.0, 0.0], [0.25, 0.1, 0.0]])
    a = charge_density(Hamiltonian(PlaneWaveBasis(crystal, 2.0), spinor), kfrac, [1, 3], 26, progress=False)
    b = charge_density(Hamiltonian(PlaneWaveBasis(crystal, 2.0), spin_free), kfrac, [1, 3], 26, progress=False)
    assert a.spinor and not b.spinor
    assert np.abs(a.rho - b.rho).max() < 1e-10
    assert np.abs(a.rho - result.rho).max() > 1e-4  # SOC and the k-set do change rho
    # time reversal with SOC on: the spinor density at -k is the one at k
    k = np.array([[0.2, 0.1, 0.05]])
    at_k, at_minus_k = (charge_density(ham, kk, [1], 26, progress=False).rho for kk in (k, -k))
    assert np.abs(at_k - at_minus_k).max() < 1e-12 and np.abs(at_k - result.rho).max() > 1e-4


def test_valence_rule():
    assert [valence_electrons(s) for s in ("Si", "Ga", "As", "Cd", "Se", "In", "P", "Cs", "Pb", "I", "Hg")] == \
        [4, 3, 5, 2, 6, 3, 5, 1, 4, 7, 2]
    assert valence_electrons("Fe") is None and valence_electrons("Xy") is None


def test_density_cli_writes_cube_xsf_json_and_plot(tmp_path, capsys):
    folder = small_gaas(tmp_path, maxke=3.0)
    out = tmp_path / "out"
    assert main(["density", str(folder), str(out), "--kgrid", "2", "2", "2", "--fft-grid", "10", "10", "10"]) == 0
    # fcc 2x2x2: Γ inside the cell; 4 L and 3 X points on its boundary, each with the two images +-k
    assert ("k-grid 2x2x2 (Gamma-centred): 8 grid points; 7 of them lie on the Wigner-Seitz cell's boundary and are "
            "replaced by their 14 equidistant images (sharing the point's weight), so the sum runs over 15 k-points, "
            "of which 8 are computed (k and -k once)") in capsys.readouterr().err
    summary = json.loads((out / "density_0.json").read_text())
    assert abs(summary["electrons_integrated"] - 8.0) < 1e-8
    assert summary["fft_grid"] == [10, 10, 10] and summary["kgrid"] == [2, 2, 2]
    assert summary["n_kpoints_computed"] == 8 and summary["occupied_levels"] == 4  # 15 folded, paired k / -k
    assert 0 < summary["rho_min_e_per_bohr3"] < summary["rho_max_e_per_bohr3"]
    assert summary["gap_on_grid_eV"] > 0.5

    ours = read_cube(out / "density_0.cube")
    assert ours["data"].shape == (10, 10, 10)
    assert abs(ours["data"].sum() * abs(np.linalg.det(ours["lattice"])) / 1000 - 8.0) < 1e-8
    np.testing.assert_allclose(ours["lattice"], 10.683 * np.array([[0, .5, .5], [.5, 0, .5], [.5, .5, 0]]),
                               atol=1e-7)
    assert list(ours["numbers"]) == [31, 33] and list(ours["charges"]) == [3.0, 5.0]
    data, atoms = read_cube_data(str(out / "density_0.cube"))  # ASE: Angstrom, values as written
    np.testing.assert_allclose(data, ours["data"], rtol=0, atol=1e-15)
    assert atoms.get_chemical_symbols() == ["Ga", "As"]
    # ASE's Bohr (0.52917721 Angstrom) differs from the bundle format's 0.529177 by 4e-7
    assert atoms.get_volume() * BOHR_PER_ANGSTROM**3 == pytest.approx(10.683**3 / 4, rel=2e-6)

    with open(out / "density_0.xsf") as handle:
        grid, origin, span, xatoms = read_xsf(handle, read_data=True)
    assert grid.shape == (11, 11, 11)  # periodic general grid: the first plane repeated at the end
    np.testing.assert_allclose(grid[-1], grid[0], atol=0)
    np.testing.assert_allclose(grid[:-1, :-1, :-1] / BOHR_PER_ANGSTROM**3, ours["data"], rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(span, xatoms.cell[:], atol=1e-9)
    assert ase_read(out / "density_0.xsf").get_chemical_symbols() == ["Ga", "As"]
    for name in ("density_0.png", "density_0.pdf"):
        assert (out / name).stat().st_size > 1000


def test_density_cli_rejects_bad_counts_and_grids(tmp_path, capsys):
    folder = small_gaas(tmp_path, maxke=3.0)
    out = str(tmp_path / "out")
    assert main(["density", str(folder), out, "--kgrid", "1", "1", "1", "--electrons", "7"]) == 2
    assert "7 electrons (--electrons) is odd" in capsys.readouterr().err
    (folder / "input_0.par").write_text("maxKE = 3.0\nnBands = 16\nidxVB = 3\n")  # spatial level (no SOC)
    assert main(["density", str(folder), out, "--kgrid", "1", "1", "1", "--fft-grid", "4", "5", "5"]) == 2
    err = capsys.readouterr().err
    assert "--fft-grid: 4 5 5 is too small for the basis" in err and "need at least 5 5 5" in err
    assert not (tmp_path / "out" / "density_0.cube").exists()
    assert main(["density", str(folder), out, "--kgrid", "1", "1", "1", "--fft-grid", "5", "5", "5"]) == 0
    assert json.loads((tmp_path / "out" / "density_0.json").read_text())["electrons_source"] == \
        "input_0.par: 2 (idxVB + 1)"

