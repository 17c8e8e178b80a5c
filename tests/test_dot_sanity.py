"""Where a dot's states live and the sanity flags (sepm.nanocrystal.location): the regions on hand-placed
sites, and the flags firing on a deliberately bad dot (no passivation: dangling-bond states in the gap)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from crystals import BUNDLES
from sepm.io import read_bundle
from sepm.nanocrystal.dot import DotSettings, run_dot
from sepm.nanocrystal.location import REGIONS, location_weights, region_of_points, sanity_flags
from sepm.nanocrystal.potfiles import RadialTable, read_library
from sepm.nanocrystal.series import write_series

LIBRARY = Path(__file__).resolve().parents[1] / "resources" / "potentials-realspace"


def test_regions_of_hand_placed_sites_and_weights():
    # Atom 0 at the origin (no ligand: core), atom 1 at x = 4 carrying a ligand at x = 5.5; bond length 4.
    sites = np.array([[0.0, 0, 0], [4.0, 0, 0], [5.5, 0, 0]])
    points = np.array([[0.5, 0, 0], [3.5, 0, 0], [5.3, 0, 0], [9.0, 0, 0], [20.0, 0, 0], [0, 3.9, 0]])
    assert region_of_points(points, sites, n_core=2, bond_length=4.0).tolist() == [0, 1, 2, 2, 3, 0]
    vectors = np.array([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 3.0, 4.0]])
    w = location_weights(vectors, np.array([0, 1, 2, 3]))
    assert np.allclose(w, [[0.25] * 4, [0, 0, 9 / 25, 16 / 25]])


def test_flags_follow_the_rules():
    inside = {"core": 0.6, "surface": 0.3, "ligand": 0.1, "vacuum": 0.0}
    outside = {"core": 0.1, "surface": 0.3, "ligand": 0.3, "vacuum": 0.3}
    assert sanity_flags(-6.0, -2.0, -5.4, -3.9, {"homo": inside, "lumo": inside}, 0.3) == []
    assert sanity_flags(-5.0, -4.0, -5.4, -3.9, {"homo": inside, "lumo": outside}, 0.3) == [
        "homo_above_bulk_vbm", "lumo_below_bulk_cbm", "lumo_on_surface", "lumo_in_vacuum"]
    # A tiny dot that is nearly all surface: a state spread over it is not a surface state.
    assert sanity_flags(-6.0, -2.0, -5.4, -3.9, {"homo": outside | {"vacuum": 0.0}, "lumo": inside}, 0.9) == []
    # A solve that ended above its residual target.
    assert sanity_flags(-6.0, -2.0, -5.4, -3.9, {"homo": inside, "lumo": inside}, 0.3,
                        {"valence": True, "conduction": False}) == ["conduction_not_converged"]


def test_unpassivated_dot_is_flagged_in_record_log_and_series(tmp_path, caplog):
    """The 29-atom dot with the published library and zero ligand potentials: its dangling-bond states fall in
    the bulk gap and live on the surface atoms and ligand sites."""
    system = read_bundle(BUNDLES / "GaAs").systems[0]
    tables = read_library(LIBRARY, ["As", "Ga"])
    dr, rows = tables["Ga"].dr, len(tables["Ga"].v)
    tables.update({s: RadialTable(s, dr, np.zeros(rows)) for s in ("P1", "P2")})
    settings = DotSettings(radius=10.0, spacing=1.0, n_valence=1, n_conduction=1)
    with caplog.at_level("WARNING", logger="sepm"):
        rec = run_dot(system, tables, settings, tmp_path / "R10")
    flags = rec["sanity"]["flags"]
    assert "homo_above_bulk_vbm" in flags and "lumo_below_bulk_cbm" in flags and not rec["sanity"]["ok"]
    assert rec["homo_ev"] > rec["bulk"]["vbm"] and rec["lumo_ev"] < rec["bulk"]["cbm"]
    # The reference is the dot's own grid (grid_bulk.py), the fit's plane waves recorded beside it.
    bulk, plane = rec["bulk"], rec["bulk"]["plane_waves"]
    assert "grid Hamiltonian" in bulk["method"] and bulk["cell_shape"] == [11, 11, 11] and plane["maxke"] == system.maxke
    assert bulk["offset"]["cbm"] == pytest.approx(bulk["cbm"] - plane["cbm"], abs=1e-12)
    assert rec["lumo_minus_cbm_ev"] == pytest.approx(rec["lumo_ev"] - bulk["cbm"], abs=1e-12)
    assert flags == sanity_flags(rec["homo_ev"], rec["lumo_ev"], bulk["vbm"], bulk["cbm"],
                                 {"homo": rec["sanity"]["homo_location"], "lumo": rec["sanity"]["lumo_location"]},
                                 rec["sanity"]["surface_volume_share"])
    for level in rec["levels"]:
        assert sum(level["location"].values()) == pytest.approx(1.0, abs=1e-12)
        assert set(level["location"]) == set(REGIONS)
    homo = rec["sanity"]["homo_location"]
    assert homo["surface"] + homo["ligand"] > 0.8  # measured 0.95
    assert any("UNPHYSICAL" in r.getMessage() for r in caplog.records)
    write_series(tmp_path / "gap_vs_size", [rec])
    table = np.loadtxt(tmp_path / "gap_vs_size.dat", ndmin=2)
    assert table[0, 7] == 1 and "FLAGGED R = 10 Bohr" in (tmp_path / "gap_vs_size.dat").read_text()
