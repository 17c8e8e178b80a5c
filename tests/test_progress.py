"""Progress lines of long work (sepm.progress): rate limit, ETA, the terminal echo, and their use by training and
the band evaluation's k loop."""

import io
import logging

import pytest

from small_bundles import small_gaas
from sepm import progress
from sepm.cli import main
from sepm.progress import Progress, duration, echo_to


class Clock:
    def __init__(self, step: float):
        self.t, self.step = 0.0, step

    def __call__(self) -> float:
        return self.t

    def tick(self):
        self.t += self.step


def test_lines_are_rate_limited_with_first_and_last_always_written_and_an_eta_from_the_rate():
    clock = Clock(2.0)  # every step takes 2 s, a line at most every 5 s
    bar = Progress("train out", "epoch", total=10, start=0, interval=5.0, clock=clock)
    lines = {}
    for step in range(1, 11):
        clock.tick()
        lines[step] = bar.update(step, "cost 1.5")
    written = [step for step, line in lines.items() if line]
    assert written == [1, 4, 7, 10]  # t = 2, 8, 14, 20: 6 s apart, and the last step
    assert lines[1] == "train out: epoch 1/10, cost 1.5, ETA 18 s"  # 2 s per step, 9 steps left
    assert lines[7] == "train out: epoch 7/10, cost 1.5, ETA 6 s"
    assert lines[10] == "train out: epoch 10/10, cost 1.5, took 20 s"


def test_a_resumed_task_counts_its_rate_from_the_resumed_steps_and_an_open_ended_one_has_no_eta():
    clock = Clock(3.0)
    bar = Progress("train", "epoch", total=100, start=90, interval=0.0, clock=clock)
    clock.tick()
    assert bar.update(91) == "train: epoch 91/100, ETA 27 s"
    solver = Progress("dot valence states", "iteration", interval=0.0, clock=clock)
    assert solver.update(1, "largest residual 1e-2 Ha") == "dot valence states: iteration 1, largest residual 1e-2 Ha"
    assert [duration(s) for s in (42.4, 185, 7620)] == ["42 s", "3 min 5 s", "2 h 7 min"]


def test_lines_go_to_the_log_and_to_the_echo_stream(caplog, monkeypatch):
    terminal = io.StringIO()
    monkeypatch.setattr(progress, "_echo", {"stream": None, "prefix": ""})
    echo_to(terminal, "[optimize material=GaAs] ")
    with caplog.at_level(logging.INFO, logger="sepm"):
        Progress("bands", "k-point", total=2, interval=0.0).update(1)
    assert caplog.messages[-1].startswith("bands: k-point 1/2, ETA ")
    assert terminal.getvalue() == f"[optimize material=GaAs] {caplog.messages[-1]}\n"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return small_gaas(tmp_path_factory.mktemp("tiny"), kstride=15,
                      config={"max_num_epochs": 3, "trainable_params": ["a0", "a1", "a2", "a3"]})


def test_training_and_band_evaluation_report_every_step_when_unlimited(tiny, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(progress, "INTERVAL", 0.0)
    assert main(["train", str(tiny), str(tmp_path / "fit"), "--set", "optimizer_lr=0.001"]) == 0
    assert main(["bands", str(tiny), str(tmp_path / "bands")]) == 0
    messages = [line.split(" INFO ", 1)[-1] for line in capsys.readouterr().err.splitlines()]
    epochs = [m for m in messages if m.startswith(f"train {tmp_path / 'fit'}: epoch")]
    assert [m.split(",")[0].split()[-1] for m in epochs] == ["1/3", "2/3", "3/3"]
    assert all(" eV^2, best " in m and ", lr 0.001" in m for m in epochs) and "took" in epochs[-1]
    kpoints = [m for m in messages if m.startswith("bands of system 0 (")]
    assert kpoints and kpoints[-1].split(",")[0].endswith("k-point 5/5")
