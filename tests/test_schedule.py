"""Learning-rate schedules (sepm.fitting.schedule): warm-up, step, cosine and plateau decays, their keys."""

import math

import numpy as np
import pytest
import torch

from small_bundles import small_gaas
from sepm.errors import InputError
from sepm.fitting.schedule import LRSchedule
from sepm.fitting.stage import run_fit
from sepm.fitting.train import TrainSettings
from sepm.io.nnconfig import apply_overrides, read_nn_config


def rates(config: dict, costs) -> list[float]:
    """The rate of epochs 1, 2, ... when epoch e's training cost is costs[e - 1]."""
    settings = TrainSettings.from_config({"max_num_epochs": len(costs), **config})
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=123.0)
    schedule = LRSchedule(optimizer, settings)
    out = [optimizer.param_groups[0]["lr"]]
    for epoch, cost in enumerate(costs[:-1], 1):
        schedule.step(epoch, cost)
        out.append(optimizer.param_groups[0]["lr"])
    return out


def test_step_schedule_keeps_deeppseudopot_timing_and_warm_up_ramps_linearly():
    costs = [1.0] * 8
    # x0.5 after epochs 3, 5, 7 (DeepPseudopot's 0-based e % 2 == 0, e > 0): epochs 4, 6, 8 see the decays
    assert rates({"optimizer_lr": 0.1, "scheduler_gamma": 0.5, "schedulerStep": 2}, costs) == pytest.approx(
        [0.1, 0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.0125], rel=1e-15)
    assert rates({"optimizer_lr": 0.1, "lr_warmup_epochs": 4}, costs) == pytest.approx(
        [0.025, 0.05, 0.075, 0.1, 0.1, 0.1, 0.1, 0.1], rel=1e-15)


def test_cosine_runs_from_the_peak_after_warm_up_to_the_floor_at_the_last_epoch():
    config = {"optimizer_lr": 0.02, "lr_warmup_epochs": 2, "lr_schedule": "cosine", "lr_min_factor": 0.1}
    lr = rates(config, [1.0] * 12)  # cosine over epochs 2 .. 12: t = (e - 2) / 10
    expected = [0.01] + [0.02 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (e - 2) / 10))) for e in range(2, 13)]
    assert lr == pytest.approx(expected, rel=1e-14)
    assert lr[1] == pytest.approx(0.02) and lr[6] == pytest.approx(0.011) and lr[-1] == pytest.approx(0.002)


def test_plateau_decays_after_schedulerStep_epochs_without_progress():
    # progress = below (1 - 1e-3) x the lowest cost so far; 3 epochs without it -> x0.1, counting afresh
    costs = [10.0, 9.0, 8.995, 8.999, 9.5, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0, 1.0]
    lr = rates({"optimizer_lr": 1.0, "lr_schedule": "plateau", "scheduler_gamma": 0.1, "schedulerStep": 3}, costs)
    np.testing.assert_allclose(lr, [1, 1, 1, 1, 1, 0.1, 0.1, 0.1, 0.1, 0.01, 0.01, 0.01], rtol=1e-14)


def test_plateau_state_resumes_the_same_schedule():
    settings = TrainSettings.from_config({"max_num_epochs": 9, "optimizer_lr": 1.0, "lr_schedule": "plateau",
                                          "scheduler_gamma": 0.5, "schedulerStep": 2})
    make = lambda: torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)  # noqa: E731
    first = LRSchedule(make(), settings)
    for epoch, cost in enumerate([5.0, 5.0, 5.0, 4.0, 4.0], 1):
        first.step(epoch, cost)
    second = LRSchedule(make(), settings)
    second.load_state_dict(first.state_dict())
    for schedule in (first, second):
        schedule.step(6, 4.0)
    assert first.optimizer.param_groups[0]["lr"] == second.optimizer.param_groups[0]["lr"] == 0.25


def test_schedule_keys_are_checked_with_file_and_line(tmp_path):
    path = tmp_path / "NN_config.par"
    path.write_text("nSystem = 1\nlr_schedule = cosin\nlr_warmup_epochs = -2\n")
    with pytest.raises(InputError) as err:
        read_nn_config(path)
    text = str(err.value)
    assert "NN_config.par:2" in text and "lr_schedule must be one of step, cosine, plateau, got cosin" in text
    assert "NN_config.par:3" in text and "lr_warmup_epochs must be >= 0" in text
    with pytest.raises(InputError, match="lr_schedule must be one of"):
        apply_overrides({}, ["lr_schedule=linear"])


def test_training_follows_the_warm_up_and_cosine_schedule(tmp_path):
    """training_cost.dat's lr column is the rate of the next epoch: the schedule shifted by one."""
    config = {"max_num_epochs": 5, "optimizer": "adam", "optimizer_lr": 0.04, "lr_warmup_epochs": 2,
              "lr_schedule": "cosine", "trainable_params": ["a0", "a1"]}
    run_fit(small_gaas(tmp_path, kstride=30, config=config), tmp_path / "fit")
    lr = np.loadtxt(tmp_path / "fit" / "training_cost.dat")[:, 3]
    np.testing.assert_allclose(lr, 0.04 * np.array([1, 0.5 * (1 + math.cos(math.pi / 3)),
                                                    0.5 * (1 + math.cos(2 * math.pi / 3)), 0, 0]), atol=1e-15)
