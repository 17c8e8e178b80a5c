"""--threads on every compute command (set by sepm.cli.main before the command runs; default the
pipeline's job threads, else 1), and the pipeline's refusal of `--jobs` on a local run, which would let
Snakemake start more threads than --cores."""

import subprocess
import sys
import time

import torch
from threadpoolctl import threadpool_info

from pipeline_copy import copy_pipeline
from sepm.cli import build_parser, main
from sepm.nanocrystal.threads import PROBES, choose_threads

COMPUTE = {"prior", "train", "mc", "bands", "couplings", "export", "movie", "decompose", "density", "masses", "dot",
           "cluster"}


def test_every_compute_command_takes_threads():
    sub = build_parser()._subparsers._group_actions[0].choices
    threaded = {name for name, p in sub.items() if any("--threads" in a.option_strings for a in p._actions)}
    assert threaded == COMPUTE


def test_threads_are_set_before_the_command_runs(tmp_path):
    before = torch.get_num_threads()
    missing = str(tmp_path / "no_bundle")
    try:
        # The bundle does not exist: the command stops with an input error (exit 2) after the threads are set.
        assert main(["bands", missing, str(tmp_path / "out"), "--threads", "2"]) == 2
        assert torch.get_num_threads() == 2
        assert {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"} <= {2}
        assert main(["bands", missing, str(tmp_path / "out")], job_threads=3) == 2
        assert torch.get_num_threads() == 3
        assert main(["bands", missing, str(tmp_path / "out")]) == 2
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_local_run_with_jobs_is_refused_before_any_job(tmp_path):
    work = copy_pipeline(tmp_path / "w")
    run = subprocess.run([sys.executable, "-m", "snakemake", "--jobs", "3", "results/GaAs/prior/init_record.json"],
                         cwd=work, capture_output=True, text=True)
    assert run.returncode != 0 and "--jobs 3 on a local run lifts the limit of 2 cores" in run.stderr + run.stdout
    assert not (work / "results").exists()


class _TimedH:
    """A stand-in for a dot's H whose application takes 1 ms at ``fast`` threads and 20 ms otherwise."""

    def __init__(self, fast: int):
        self.fast = fast

    def smooth_random(self, m, seed):
        return torch.zeros((m, 8))

    def apply(self, X):
        time.sleep(0.001 if torch.get_num_threads() == self.fast else 0.02)
        return X


def test_dot_solve_keeps_the_faster_of_1_and_the_given_threads():
    before = torch.get_num_threads()
    try:
        for fast in (1, 2):
            torch.set_num_threads(2)
            per, record = choose_threads(_TimedH(fast))
            assert torch.get_num_threads() == record["threads"] == fast and record["threads_requested"] == 2
            assert per < 0.02 / PROBES  # the time at the count kept
        torch.set_num_threads(1)  # one thread given: nothing to choose
        assert choose_threads(_TimedH(2))[1]["seconds_per_application_by_threads"].keys() == {"1"}
    finally:
        torch.set_num_threads(before)
