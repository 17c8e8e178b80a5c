"""DeepPseudopot's own bundles run unmodified through `sepm train` and give the original code's bands.

The reference tables in tests/data/deeppseudopot were computed by the original DeepPseudopot code
(see the README there); sepm computes the same numbers independently.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from sepm.cli import main

DATA = Path(__file__).parent / "data" / "deeppseudopot"
CDSE_ARGS = ["--set", "PPmodel=Net_relu_xavier_decay2", "--set", "SObool=0", "--init-model",
             str(DATA / "test_ham_cdse_epoch199" / "epoch_199_PPmodel.pth")]
BUNDLES = {  # folder: extra arguments (what the original's own test gives the CdSe checkpoint)
    "test_parallel_inputs_SOC_noPara": [],
    "test_memory_inputs_vanilla": [],
    "test_ham_sigFigs": [],
    "test_ham_cdse_epoch199": CDSE_ARGS + ["--set", "deeppseudopot_basis=1"],
}


def reference(folder: str, which: str) -> tuple[np.ndarray, float]:
    path = DATA / folder / f"reference_{which}.dat"
    return np.loadtxt(path), float(path.read_text().splitlines()[0].split()[-1])


def bands(outdir: Path, stem: str) -> np.ndarray:
    return np.loadtxt(outdir / f"{stem}_bands_0.dat")[:, 2:]


@pytest.mark.parametrize("folder", sorted(BUNDLES))
def test_original_bundle_gives_the_originals_bands(folder, tmp_path):
    bundle = tmp_path / folder
    shutil.copytree(DATA / folder, bundle)  # the run must not write into tests/data
    out = tmp_path / "out"
    assert main(["train", str(bundle), str(out), "--set", "max_num_epochs=0", *BUNDLES[folder]]) == 0
    summary = json.loads((out / "fit_summary.json").read_text())
    ref_net, cost_net = reference(folder, "network")
    ref_old, cost_old = reference(folder, "oldFunc")
    # the tables are written with 6 decimals; sepm and the original agree far below that
    np.testing.assert_allclose(bands(out, "final"), ref_net, rtol=0, atol=1e-6)
    np.testing.assert_allclose(bands(out, "initZunger"), ref_net, rtol=0, atol=1e-6)
    np.testing.assert_allclose(bands(out, "oldFunc"), ref_old, rtol=0, atol=1e-6)
    assert summary["start_cost"] == pytest.approx(cost_net, rel=1e-7)
    assert summary["analytic_cost"] == pytest.approx(cost_old, rel=1e-7)
    assert summary["initialization"]["strategy"] == "checkpoint reuse"


def test_cdse_without_the_original_basis_box_keeps_the_whole_sphere(tmp_path, capsys):
    bundle = tmp_path / "cdse"
    shutil.copytree(DATA / "test_ham_cdse_epoch199", bundle)
    assert main(["train", str(bundle), str(tmp_path / "out"), "--set", "max_num_epochs=0", *CDSE_ARGS]) == 0
    assert "search box keeps 95 of the 137 plane waves below maxKE = 4 Ha" in capsys.readouterr().err
    ref_net, _ = reference("test_ham_cdse_epoch199", "network")
    assert np.abs(bands(tmp_path / "out", "final") - ref_net).max() > 0.05  # more plane waves: other bands


def test_cdse_bundle_unmodified_is_refused_in_one_line_without_a_model(tmp_path, capsys):
    bundle = tmp_path / "cdse"
    shutil.copytree(DATA / "test_ham_cdse_epoch199", bundle)
    assert main(["train", str(bundle), str(tmp_path / "out"), "--set", "max_num_epochs=0"]) == 2
    err = capsys.readouterr().err
    assert "NN_config.par: PPmodel is required by the fitting stages" in err and "Traceback" not in err


def test_training_costs_are_the_originals(tmp_path):
    """Four Adam epochs from the bundle's checkpoint: the same costs as the original's own training loop
    (learning-rate decay after epoch schedulerStep + 1, network-only training, no a4 tail)."""
    bundle = tmp_path / "mem"
    shutil.copytree(DATA / "test_memory_inputs_vanilla", bundle)
    out = tmp_path / "out"
    sets = ["max_num_epochs=4", "schedulerStep=2", "scheduler_gamma=0.5", "optimizer_lr=0.01", "plotEvery=0"]
    assert main(["train", str(bundle), str(out), *[a for s in sets for a in ("--set", s)]]) == 0
    ours = np.loadtxt(out / "training_cost.dat")
    ref = np.loadtxt(DATA / "test_memory_inputs_vanilla" / "reference_training.dat")
    np.testing.assert_allclose(ours[:, 1:3], ref[:, 1:3], rtol=1e-9)
    np.testing.assert_allclose(ours[:, 3], [0.01, 0.01, 0.005, 0.005], rtol=1e-12)
