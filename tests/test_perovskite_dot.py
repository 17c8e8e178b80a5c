"""Perovskite nanocrystal cubes and user dot structures: counts, charge balance, octahedra, electron count."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from sepm.errors import InputError
from sepm.nanocrystal.perovskite import perovskite_cube
from sepm.nanocrystal.structure import DotStructure, read_structure
from threads import single_thread  # noqa: F401

A_CSPBI3 = 11.884  # Bohr, the shipped CsPbI3 bundle's cubic cell


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_cube_is_neutral_with_complete_octahedra_and_a_x_surface(n):
    dot = perovskite_cube(n, A_CSPBI3)
    c = dot.counts
    assert (c["Pb"], c["I"], c["Cs"]) == (n**3, 3 * n**2 * (n + 1), n**3 + 3 * n**2)
    assert c["Cs"] + 2 * c["Pb"] - c["I"] == 0
    sym, pos = np.asarray(dot.symbols), dot.positions
    # every Pb has its six I at a/2 (complete octahedra); nothing closer than a/2 to anything
    tree = cKDTree(pos[sym == "I"])
    assert all(len(tree.query_ball_point(p, 0.5 * A_CSPBI3 + 1e-6)) == 6 for p in pos[sym == "Pb"])
    d, _ = cKDTree(pos).query(pos, k=2)
    assert abs(d[:, 1].min() - 0.5 * A_CSPBI3) < 1e-9
    # the outermost layer (the X and A planes at +-n a / 2) holds no Pb; corners carry no Cs from n = 3
    half = 0.5 * n * A_CSPBI3
    assert np.abs(pos[sym == "Pb"]).max() < half - 1e-6
    corners = (np.abs(np.abs(pos[sym == "Cs"]) - half) < 1e-6).all(axis=1).sum()
    assert corners == (0 if n >= 3 else 8 - (3 * n + 1))
    # electrons: Cs 1, Pb 4, I 7; a neutral cube fills 8 per I and 2 per Pb (I 5s5p, Pb 6s), spinor levels
    assert dot.n_electrons == 8 * c["I"] + 2 * c["Pb"]
    assert dot.homo_index(spinor=True) == dot.n_electrons - 1 == 2 * dot.homo_index(spinor=False) + 1


def test_other_perovskites_and_unknown_species():
    dot = perovskite_cube(2, 11.1, species=("Rb", "Sn", "Br"))
    assert dot.counts == {"Br": 36, "Rb": 20, "Sn": 8}
    with pytest.raises(ValueError, match="no valence electron count for Ma"):
        perovskite_cube(1, 11.0, species=("Ma", "Pb", "I"))
    assert perovskite_cube(1, 11.0, species=("Ma", "Pb", "I"), valence={"Ma": 1}).n_electrons == 4 + 4 + 42
    with pytest.raises(ValueError, match="no neutral cube"):
        perovskite_cube(2, 11.0, charges=(1, 1, -1))   # needs 28 A ions of 27 sites


def test_user_structures_xyz_and_conf_par_with_ligands(tmp_path):
    xyz = tmp_path / "dot.xyz"
    xyz.write_text("4\nCdSe with two ligands\nP1 0 0 2.0\nCd 0 0 0\nSe 1.47 1.47 1.47\nP2 2 2 2.5\n")
    dot = read_structure(xyz)
    assert dot.symbols == ["Cd", "Se", "P1", "P2"] and dot.n_core == 2
    assert np.allclose(dot.positions[1], np.array([1.47] * 3) / 0.529177)
    assert dot.n_electrons == 8 and dot.homo_index(spinor=False) == 3
    conf = tmp_path / "conf.par"
    conf.write_text("3\nCs 0 0 0\nPb 5.9 0 0\nI 0 5.9 0\n")
    odd = read_structure(conf)
    assert odd.positions[1, 0] == 5.9 and odd.n_electrons == 12
    bad = tmp_path / "bad.par"
    bad.write_text("3\nCs 0 0 0\nXx 1 0 0\nI 0 1 zero\n")
    with pytest.raises(InputError) as err:
        read_structure(bad)
    assert f"{bad}:3: species 'Xx'" in str(err.value) and f"{bad}:4: coordinates" in str(err.value)
    with pytest.raises(ValueError, match="odd count"):
        DotStructure(["Cs", "I", "I"], np.zeros((3, 3)), 3).homo_index(spinor=True)



def test_bulk_edges_of_the_dot_hamiltonian_carry_soc_and_nl():
    """CsPbI3 from the shipped checkpoint: the tables' bulk edges equal the network's own plane-wave bands at
    R (sepm bands' Hamiltonian), direct gap at R; spin-orbit pulls the Pb 6p conduction band down."""
    from dataclasses import replace
    from pathlib import Path

    from sepm.bands import band_energies, system_hamiltonian
    from sepm.constants import HARTREE_EV
    from sepm.nanocrystal.bulk_reference import bulk_band_edges
    from sepm.nanocrystal.radial import tables_from_form_factor
    from sepm.nanocrystal.supercell import checkpoint_pseudopotential

    pp, system = checkpoint_pseudopotential(Path(__file__).parent / "data" / "deeppseudopot" /
                                            "test_parallel_inputs_SOC_noPara")
    tables, _ = tables_from_form_factor(pp.local_form_factor, list(pp.species))
    full = bulk_band_edges(system, pp, tables)
    assert full["occupied_bands"] == 26 and full["soc"] and full["nonlocal_"]
    assert full["k_vbm"] == full["k_cbm"] == [0.5, 0.5, 0.5]
    at_r = band_energies(system_hamiltonian(system, pp), [[0.5, 0.5, 0.5]], 28)[0].numpy() / HARTREE_EV
    # the tables' v(q -> 0) differs from the network's (the real-space transform's tail), a rigid shift of
    # 8 mHa of both edges; what differs beyond it is the transform's small-q error (0.7 mHa in the gap)
    shift_v, shift_c = at_r[25] - full["vbm"], at_r[26] - full["cbm"]
    assert abs(shift_v - shift_c) < 1e-3 and abs(shift_v) < 0.02
    no_soc = bulk_band_edges(system, replace(pp, soc=False), tables)
    assert no_soc["gap"] - full["gap"] > 0.5 / HARTREE_EV
