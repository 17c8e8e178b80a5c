"""The Snakemake pipeline on a small configuration: outputs, caching, and reruns of changed stages only."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from pipeline_copy import copy_pipeline, run_snakemake


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return copy_pipeline(tmp_path_factory.mktemp("pipeline"))


def snakemake(work, *args):
    return run_snakemake(work, *args, "--configfile", ".test/config.yaml")


def test_pipeline_runs_and_caches(workdir):
    snakemake(workdir, "all")
    pot = workdir / "results" / "GaAs" / "final_pot.dat"
    header = [line for line in pot.read_text().splitlines() if line.startswith("#")]
    assert header[-1].split() == ["#", "r", "v_As", "v_Ga"]
    data = np.loadtxt(pot)
    assert data.shape[1] == 3 and np.all(np.isfinite(data))
    assert (workdir / "results" / "GaAs" / "eval" / "bands_0.png").is_file()
    assert (workdir / "results" / "GaAs" / "optimize" / "1_gradient" / "training_cost.dat").is_file()
    assert "Nothing to be done" in snakemake(workdir, "all")


def test_changing_training_config_reruns_only_training_and_downstream(workdir):
    config = workdir / ".test" / "config.yaml"
    config.write_text(config.read_text().replace("max_num_epochs: 3", "max_num_epochs: 4"))
    plan = snakemake(workdir, "all", "-n")
    jobs = {line.split()[0] for line in plan.split("Job stats:")[1].splitlines()[3:] if line.strip()
            and not line.startswith(("total", "Reasons", "This"))}
    assert {"optimize", "export", "eval_bands_final"} <= jobs
    assert "prior" not in jobs


def test_hybrid_chain_mc_then_gradient(tmp_path):
    """prior -> Monte Carlo -> gradient as DAG edges: each step starts from the previous one's potential."""
    work = copy_pipeline(tmp_path / "chain")
    (work / "chain.yaml").write_text(
        "materials:\n"
        "  GaAs:\n"
        "    bundle: resources/bundles/GaAs\n"
        "    set: {PPmodel: ZeroFunction, trainable_params: [a0, a1, a2, a3]}\n"
        "    optimize:\n"
        "      - method: mc\n"
        "        set: {mc_iter: 2, mc_percentage: 0.5, mc_beta: 100}\n"
        "      - method: gradient\n"
        "        set: {max_num_epochs: 2, optimizer_lr: 0.001}\n")
    run_snakemake(work, "results/GaAs/final_pot.dat", "--configfile", "chain.yaml")
    mc = json.loads((work / "results/GaAs/optimize/1_mc/mc_summary.json").read_text())
    gradient = json.loads((work / "results/GaAs/optimize/2_gradient/fit_summary.json").read_text())
    assert gradient["initialization"]["coefficients_from"].endswith("1_mc/best_<Sym>Params.par")
    assert gradient["start_cost"] == pytest.approx(mc["best_cost"], rel=1e-9)
    assert (work / "results/GaAs/final_pot.dat").is_file()


def test_optional_tools_run_on_the_final_potential(tmp_path):
    """`tools:` in the config adds decomposition, density, masses and movie outputs to `all`."""
    from PIL import Image

    work = copy_pipeline(tmp_path / "tools", small_gaas=True)
    run_snakemake(work, "all", "--configfile", ".test/tools.yaml")
    results = work / "results" / "GaAs"
    from sepm.structure.kpath import read_kpoint_labels

    labels = read_kpoint_labels(results / "kpath" / "kpath_0.par")
    assert list(labels.values()) == ["Γ", "X", "U", "K", "Γ", "L", "W", "X"]
    assert len(np.loadtxt(results / "kpath" / "bands_0.dat")) == len(np.loadtxt(results / "kpath" / "kpath_0.par"))
    dec = np.loadtxt(results / "decompose" / "0" / "decomposition.dat")
    assert dec.shape == (4, 8) and dec[:, 1].tolist() == [8, 9, 8, 9]  # k 0 and 3, bands 8 and 9 (E_8, E_9)
    assert np.allclose(dec[:, 2], dec[:, 3:7].sum(axis=1), atol=1e-8)
    density = json.loads((results / "density" / "density_0.json").read_text())
    assert density["kgrid"] == [2, 2, 2] and density["electrons"] == 8
    assert density["electrons_integrated"] == pytest.approx(8.0, abs=1e-8)
    assert density["potential"] == "results/GaAs/optimize/1_gradient/final_"
    gaps = json.loads((results / "masses" / "gaps_0.json").read_text())
    bands = np.loadtxt(results / "eval" / "bands_0.dat")[:, 2:]
    table_gap = bands[:, 8].min() - bands[:, 7].max()
    assert 0.0 < gaps["gap_eV"] <= table_gap + 1e-6  # the search adds Γ, X, L and refines along the path
    with Image.open(results / "optimize" / "1_gradient" / "movie.gif") as gif:
        assert gif.format == "GIF" and gif.n_frames == 2  # checkpoints after epochs 2 and 4
    # The export left client files for the nanocrystal codes; the dots used them.
    side = json.loads((results / "nanocrystal" / "nanocrystal_potentials.json").read_text())
    assert not side["long_range"]["included"] and side["decayed"]
    for s in ("As", "Ga", "P1", "P2", "P3", "P4"):
        rows = np.loadtxt(results / "nanocrystal" / f"pot{s}.par")
        assert rows.shape == (1024, 2) and rows[0, 0] == 0.0
    series = np.loadtxt(results / "nanocrystal" / "gap_vs_size.dat")
    dot = json.loads((results / "nanocrystal" / "dots" / "R10" / "dot.json").read_text())
    assert list(series[:, 0]) == [10.0, 12.0] and series[0, 6] > series[1, 6] > dot["bulk"]["gap"]
    assert "Nothing to be done" in run_snakemake(work, "all", "--configfile", ".test/tools.yaml")


def test_deeppseudopot_bundle_is_a_material_as_it_is(tmp_path):
    """An original DeepPseudopot bundle (its checkpoint, keys and model class) runs through the pipeline
    and the evaluated bands are the original code's (tests/data/deeppseudopot)."""
    import shutil
    from pathlib import Path

    data = Path(__file__).parent / "data" / "deeppseudopot" / "test_memory_inputs_vanilla"
    work = copy_pipeline(tmp_path / "original")
    shutil.copytree(data, work / "resources" / "bundles" / "CsPbI3")
    (work / "original.yaml").write_text(
        "materials:\n"
        "  CsPbI3:\n"
        "    bundle: resources/bundles/CsPbI3\n"
        "    optimize:\n"
        "      - method: gradient\n"
        "        set: {max_num_epochs: 0}\n")
    run_snakemake(work, "results/CsPbI3/final_pot.dat", "results/CsPbI3/eval/bands_0.png",
                  "--configfile", "original.yaml")
    bands = np.loadtxt(work / "results" / "CsPbI3" / "eval" / "bands_0.dat")[:, 2:]
    np.testing.assert_allclose(bands, np.loadtxt(data / "reference_network.dat"), rtol=0, atol=1e-6)


@pytest.mark.skipif(not os.environ.get("SEPM_SLOW_TESTS"), reason="~1 min of Snakemake runs; set SEPM_SLOW_TESTS=1")
def test_killed_pipeline_unlocks_and_resumes_training(tmp_path):
    """kill -9 of Snakemake during training: the rerun reports the lock (README: `snakemake --unlock`), and
    after the unlock the training resumes from its train_state.pth instead of starting again."""
    work = copy_pipeline(tmp_path / "killed", small_gaas=True)
    (work / "kill.yaml").write_text(
        "materials:\n"
        "  GaAs:\n"
        "    bundle: resources/bundles/GaAs\n"
        "    set: {PPmodel: ZeroFunction, trainable_params: [a0, a1, a2, a3]}\n"
        "    optimize:\n"
        "      - method: gradient\n"
        "        set: {max_num_epochs: 300, optimizer_lr: 0.001}\n")
    target = ["results/GaAs/optimize/1_gradient/fit_summary.json", "--configfile", "kill.yaml"]
    state = work / "results/GaAs/optimize/1_gradient/train_state.pth"
    run = subprocess.Popen([sys.executable, "-m", "snakemake", "--cores", "1", *target], cwd=work,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not (state.is_file() and torch.load(state, weights_only=True)["epoch"] >= 3):
            assert run.poll() is None and time.monotonic() < deadline, "training did not start or ended too soon"
            time.sleep(0.1)
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
    killed_at = torch.load(state, weights_only=True)["epoch"]
    assert killed_at < 300
    again = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1", *target], cwd=work, capture_output=True,
                           text=True)
    assert again.returncode != 0 and "LockException" in again.stdout + again.stderr
    run_snakemake(work, "--unlock", *target[1:])
    run_snakemake(work, *target)
    log = (work / "logs/GaAs/optimize_1_gradient_fit_summary.json.log").read_text()
    assert f"resuming training from {state.relative_to(work)} at epoch {killed_at}" in log
    cost = np.loadtxt(work / "results/GaAs/optimize/1_gradient/training_cost.dat")
    assert list(cost[:, 0]) == list(range(1, 301))
