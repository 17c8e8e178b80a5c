"""`sepm dot` on a spinor dot: a 1-cell CsPbI3 cube with the shipped bundle's SOC + NL terms (its analytic local
part: it decays, so the export is quick), exported with their sidecar, end to end (coarse grid, one Kramers pair
per edge)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sepm.cli import main
from sepm.nanocrystal.client_export import export_for_client
from sepm.nanocrystal.spinor_dot import sidecar_terms
from sepm.io.bundle import read_bundle
from sepm.pseudopotential import Pseudopotential
from threads import single_thread  # noqa: F401

BUNDLE = Path(__file__).resolve().parents[1] / "tests" / "data" / "deeppseudopot" / "test_parallel_inputs_SOC_noPara"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    pp = Pseudopotential.from_bundle(read_bundle(BUNDLE))
    folder = tmp_path_factory.mktemp("pot")
    export_for_client(folder, pp, source="checkpoint", write_ligands=False)
    return pp, folder


def test_sidecar_carries_the_fits_terms_per_species(exported):
    pp, folder = exported
    coeffs, soc, nonlocal_ = sidecar_terms(folder)
    assert soc and nonlocal_
    for s, p in zip(pp.species, pp.params.numpy()):
        assert np.array_equal(coeffs[s], p[5:8])


def test_sepm_dot_cube_is_a_spinor_dot_with_its_bulk_edges_and_flags(exported, tmp_path, capfd):
    _, folder = exported
    out = tmp_path / "dot"
    assert main(["dot", str(BUNDLE), str(out), "--pot-dir", str(folder), "--cube", "1", "--spacing", "0.9",
                 "--vacuum", "2.5", "--n-valence", "1", "--n-conduction", "1", "--tol", "1e-3", "--kinetic-cap",
                 "3"]) == 0
    rec = json.loads((out / "dot.json").read_text())
    assert rec["spinor"] and rec["terms"]["soc"] and rec["terms"]["nonlocal"]
    assert rec["atoms"] == {"Cs": 4, "I": 6, "Pb": 1} and rec["n_electrons"] == 50 and rec["homo_index"] == 49
    bulk, fit = rec["bulk"], rec["bulk_fit_basis"]
    assert bulk["maxke"] == 3.0 and fit["maxke"] == 1.5   # the dot's basis (its kinetic cap), the fit's
    assert fit["k_vbm"] == fit["k_cbm"] == [0.5, 0.5, 0.5]
    assert bulk["k_vbm"] == bulk["k_cbm"] == [0.5, 0.5, 0.5] and 1.0 < bulk["gap"] < fit["gap"] < 2.5
    # the analytic potential's edges move by 1 eV from the fit's basis (1.5 Ha) to the dot's (3 Ha): said
    # loudly; and this coarse, all-surface one-octahedron cluster has both edges inside the bulk gap (HOMO
    # 0.2 eV above the VBM, LUMO 0.8 eV below the CBM): flagged, never a confinement gap
    flags = rec["sanity"]["flags"]
    assert ("homo_above_bulk_vbm" in flags) == (rec["homo_ev"] > bulk["vbm"])
    assert ("lumo_below_bulk_cbm" in flags) == (rec["lumo_ev"] < bulk["cbm"])
    assert not rec["sanity"]["ok"] and abs(fit["cbm"] - bulk["cbm"]) > 0.5
    err = capfd.readouterr().err
    assert "UNPHYSICAL" in err and "the bulk edges move by up to" in err
    assert "spinor dot N1, spacing 0.9 Bohr: about 11 atoms, a grid of about 18 x 18 x 18" in err   # the estimate
    # every level a Kramers pair; the HOMO index is the electron count's
    e = np.array([lv["energy_ev"] for lv in rec["levels"]])
    # every level has a partner to ~ tol^2 / spacing at tol 1e-3 Ha (a level may be fourfold: the cube is cubic)
    partner = np.abs(e[:, None] - e[None, :]) + np.eye(len(e))
    assert len(e) >= 4 and partner.min(axis=1).max() < 2e-3
    assert [lv["index"] for lv in rec["levels"] if lv["edge"] == "valence"][-1] == 49
    # the HOMO density integrates to one electron per state
    lines = (out / "homo.cube").read_text().splitlines()
    n_atoms = int(lines[2].split()[0])
    shape = [int(lines[3 + i].split()[0]) for i in range(3)]
    dv = np.prod([float(lines[3 + i].split()[1 + i]) for i in range(3)])
    rho = np.array(" ".join(lines[6 + n_atoms:]).split(), dtype=float)
    assert rho.size == np.prod(shape) and abs(rho.sum() * dv - 1.0) < 1e-6
    assert (out / "dot.xyz").read_text().splitlines()[0] == "11"


def test_spinor_dots_over_the_memory_limit_are_refused_before_any_solve(exported, tmp_path, capfd):
    """Cubes of 1 and 2 cells at h = 0.5 Bohr (bulk reference at a 3 Ha cap: small): about 0.85 and 2.5 GiB
    estimated; with a limit of 1 GiB the larger one is named and nothing is computed."""
    _, folder = exported
    out = tmp_path / "dots"
    assert main(["dot", str(BUNDLE), str(out), "--pot-dir", str(folder), "--cube", "1", "2", "--spacing", "0.5",
                 "--vacuum", "4", "--n-valence", "1", "--n-conduction", "1", "--kinetic-cap", "3",
                 "--memory-limit-gb", "1"]) == 2
    err = capfd.readouterr().err
    assert "--cube: N2: about 64 atoms, a grid of about 64 x 64 x 64" in err and "--memory-limit-gb 1" in err
    assert "Traceback" not in err and not list(out.rglob("dot.json"))


def test_example_config_plans_the_cube_series(tmp_path):
    """config/examples/cspbi3_dots.yaml: prior (checkpoint reuse), export, one dot_cube per size, the series."""
    import shutil

    from pipeline_copy import copy_pipeline, run_snakemake

    work = copy_pipeline(tmp_path / "pipeline")
    shutil.copytree(BUNDLE, work / "tests" / "data" / "deeppseudopot" / BUNDLE.name)
    out = run_snakemake(work, "-n", "results/CsPbI3/nanocrystal/gap_vs_size.png", "--configfile",
                        "config/examples/cspbi3_dots.yaml")
    counts = dict(line.split() for line in out.splitlines() if line.split()[:1] in (["prior"], ["export"],
                                                                                        ["dot_cube"], ["gap_vs_size"]))
    assert counts == {"prior": "1", "export": "1", "dot_cube": "2", "gap_vs_size": "1"}
    assert "results/CsPbI3/nanocrystal/dots/N2/dot.xyz" in out and "optimize" not in counts
