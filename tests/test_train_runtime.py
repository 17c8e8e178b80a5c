"""Training runs that go wrong: divergence, a kill in the middle of a checkpoint set, two runs into one
output folder."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from small_bundles import small_gaas
from sepm.cli import main
from sepm.errors import RunError
from sepm.fitting.folder_lock import folder_lock
from sepm.fitting.stage import FitSetup, run_fit

FOUR = {"trainable_params": ["a0", "a1", "a2", "a3"]}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """GaAs at maxKE 3, 5 k-points, a0..a3 trainable."""
    return small_gaas(tmp_path_factory.mktemp("tiny"), kstride=15, config={"max_num_epochs": 5, **FOUR})


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_divergence_stops_with_best_and_last_good_state_kept(tiny, tmp_path, optimizer):
    out = tmp_path / "out"
    crazy = ["--set", f"optimizer={optimizer}", "--set", "optimizer_lr=1e6"]
    assert main(["train", str(tiny), str(out), *crazy]) == 1
    with pytest.raises(RunError, match=r"^training diverged at epoch 1: the cost after the step, .* exceeds 10000 x "
                       r"the starting cost"):
        run_fit(tiny, tmp_path / "again", overrides=[f"optimizer={optimizer}", "optimizer_lr=1e6"])
    # the first step diverged: the best state is the starting one, and so is the last good state
    for sym in ("Ga", "As"):
        best = np.loadtxt(out / f"best_{sym}Params.par")
        assert best[:4] == pytest.approx(np.loadtxt(tiny / f"init_{sym}Params.par")[:4], rel=1e-12)
    assert (out / "best_bands_0.dat").is_file() and (out / "best_plotBS_0.png").is_file()
    state = torch.load(out / "train_state.pth", weights_only=True)
    assert state["epoch"] == 0 and state["diverged"]["epoch"] == 1
    assert torch.isfinite(state["modules"]["coefficients"]["free"]).all()
    assert not (out / "final_GaParams.par").exists() and not (out / "fit_summary.json").exists()
    # a rerun says so instead of resuming (or crashing), before any compute; a sane lr starts afresh
    with pytest.raises(RunError, match=r"train_state.pth: the run that wrote it diverged at epoch 1 .* holds the "
                       r"last good state \(epoch 0\)"):
        run_fit(tiny, out, overrides=[f"optimizer={optimizer}", "optimizer_lr=1e6"])
    assert not (out / "initZunger_bands_0.dat").exists()
    sane = {"adam": "0.001", "sgd": "1e-6"}[optimizer]  # plain SGD on a0..a3 diverges already at lr 1e-3
    summary = run_fit(tiny, out, overrides=[f"optimizer={optimizer}", f"optimizer_lr={sane}", "max_num_epochs=2"])
    assert summary["epochs"] == 2 and np.isfinite(summary["final_cost"])


class Killed(BaseException):
    """Stands for a kill: nothing catches it."""


def epoch_set(out, epoch):
    return sorted(p.name for p in out.glob(f"epoch_{epoch}_*"))


def test_killed_checkpoint_set_is_never_partial_and_is_completed(tiny, tmp_path, monkeypatch):
    out = tmp_path / "out"
    overrides = ["plotEvery=2", "max_num_epochs=4", "optimizer_lr=0.01", "PPmodel=Net_relu_xavier_decayGaussian",
                 "hiddenLayers=4", "PPmodel_gaussian_std=2.0"]
    real_plot = FitSetup.plot_potential

    def plot_then_die(self, stem, title):
        real_plot(self, stem, title)
        if "epoch_4_" in str(stem):
            raise Killed

    monkeypatch.setattr(FitSetup, "plot_potential", plot_then_die)
    with pytest.raises(Killed):
        run_fit(tiny, out, overrides=overrides)
    complete = epoch_set(out, 2)
    assert len(complete) == 9 and "epoch_2_AdamState.pth" in complete and "epoch_2_PPmodel.pth" in complete
    assert epoch_set(out, 4) == []  # nothing of the interrupted set is visible
    assert torch.load(out / "train_state.pth", weights_only=True)["epoch"] == 3
    (out / ".train_state.pth.x1y2z3.tmp.pth").write_bytes(b"half a file")  # a killed atomic write
    monkeypatch.undo()

    # a kill after the set was complete, while its files were being renamed into place
    renamed, real_replace = [], os.replace

    def replace_then_die(src, dst):
        if Path(src).parent.name == ".epoch_4_set.tmp" and Path(dst).parent == out:
            if renamed:
                raise Killed
            renamed.append(dst)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace_then_die)
    with pytest.raises(Killed):
        run_fit(tiny, out, overrides=overrides)
    monkeypatch.undo()
    assert len(epoch_set(out, 4)) == 1 and (out / ".epoch_4_set.tmp" / "COMPLETE").is_file()
    whole = run_fit(tiny, tmp_path / "whole", overrides=overrides)
    resumed = run_fit(tiny, out, overrides=overrides)
    assert epoch_set(out, 4) == [name.replace("2", "4") for name in complete]
    assert not list(out.glob(".*tmp*"))
    assert resumed["final_cost"] == pytest.approx(whole["final_cost"], rel=1e-10, abs=0)
    assert np.loadtxt(out / "epoch_4_bands_0.dat") == pytest.approx(np.loadtxt(tmp_path / "whole/epoch_4_bands_0.dat"))


def test_second_run_into_the_same_folder_is_refused(tiny, tmp_path):
    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from sepm.fitting.folder_lock import folder_lock
        with folder_lock({str(out)!r}, "sepm train"):
            print("locked", flush=True)
            time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunError, match=rf"^{out} is in use by another run \(sepm train, pid {holder.pid} on .*, "
                           r"started .*\); wait for it"):
            run_fit(tiny, out)
        assert main(["train", str(tiny), str(out)]) == 1
        assert sorted(p.name for p in out.iterdir()) == [".sepm.lock"]  # the refused run wrote nothing
    finally:
        holder.kill()
        holder.wait()
    with folder_lock(out, "test"):  # the kernel released the killed holder's lock
        assert "test, pid" in (out / ".sepm.lock").read_text()


def test_final_potential_is_the_lowest_cost_epoch_unless_asked_for_the_last(tmp_path):
    """Adam at lr 0.01 oscillates on tiny GaAs: the lowest cost after a step is at epoch 7 of 8."""
    bundle = small_gaas(tmp_path / "bundle", kstride=15, config={"max_num_epochs": 8, **FOUR})
    adam = ["optimizer=adam", "optimizer_lr=0.01"]
    best = run_fit(bundle, tmp_path / "best", overrides=adam)
    after = np.loadtxt(tmp_path / "best" / "training_cost.dat", ndmin=2)[:, 2]
    assert int(np.argmin(after)) + 1 == best["final_epoch"] == 7 and after[-1] > 2 * after.min()
    assert best["final_cost"] == pytest.approx(after.min(), rel=1e-9)
    last = run_fit(bundle, tmp_path / "last", overrides=[*adam, "final_state=last"])
    assert last["final_epoch"] == 8 and last["final_cost"] == pytest.approx(after[-1], rel=1e-9)
    with pytest.raises(Exception, match="final_state must be one of best, last, got first"):
        run_fit(bundle, tmp_path / "bad", overrides=[*adam, "final_state=first"])


def test_lbfgs_strong_wolfe_line_search_never_climbs_where_the_fixed_step_diverges(tiny, tmp_path):
    """lbfgs_line_search = strong_wolfe: a first trial step of lr 1e4 (DeepPseudopot's fixed step diverges) is cut
    back until the cost falls, so every epoch's cost after the step is below its training cost."""
    lbfgs = ["optimizer=lbfgs", "optimizer_lr=1e4", "trainable_params=a0 a1 a2 a3"]
    with pytest.raises(RunError, match="training diverged at epoch 1"):
        run_fit(tiny, tmp_path / "fixed", overrides=lbfgs)
    summary = run_fit(tiny, tmp_path / "wolfe", overrides=[*lbfgs, "lbfgs_line_search=strong_wolfe"])
    cost = np.loadtxt(tmp_path / "wolfe" / "training_cost.dat")
    assert len(cost) == 5 and np.all(cost[:, 2] < cost[:, 1])
    assert np.all(cost[1:, 1] == cost[:-1, 2])  # the next epoch's training cost is the one after the step
    assert summary["final_cost"] < 0.5 * summary["start_cost"]
    with pytest.raises(Exception, match="lbfgs_line_search must be one of none, strong_wolfe, got wolfe"):
        run_fit(tiny, tmp_path / "bad", overrides=[*lbfgs, "lbfgs_line_search=wolfe"])
