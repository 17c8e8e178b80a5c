"""Training-loop benchmark (not a test): the whole `sepm train` epoch against the forward + backward that
bench/train.py times, and, with ``--original PATH`` (a checkout of TommyLinkl/DeePseudopot), against the
original main.py on the same bundle and starting network in both of its modes (separateKptGrad 1 and 0).

Case: the GaAs bundle (61 k-points, maxKE 6, 16 bands) with Net_celu_HeInit_decayGaussian 3 x 20 hidden
(PPmodel_gaussian_std 2), Adam lr 0.005, the same seeded starting network saved as the bundle's
init_PPmodel.pth for both codes, and deeppseudopot_basis = 1 so that both build the same plane-wave basis.

- sepm: run_fit (the real `sepm train` stage: optimizer step, divergence check, cost file, train_state.pth)
  in this process at each thread count; a whole epoch is the interval between consecutive train_state.pth
  writes (the last thing an epoch does); its forward + backward is the problem.evaluate(backward=True)
  call inside that interval, timed in the same epoch. Medians over the epochs after the second.
- original: main.py in a subprocess with torch's thread count fixed at N (main.py pins 1; for N > 1 its
  set_num_threads call is made a no-op) and scipy.integrate.quadrature shimmed (removed in SciPy 1.15;
  main.py only imports it). A whole epoch is the interval between consecutive "training cost" lines of its
  output after the first (plotEvery is set past the end, so no epoch of either code writes plots; its
  first 10 epochs also print every gradient, a negligible part of them).

Usage: python bench/train_loop.py [--epochs N] [--original-epochs M] [--threads 1 2] [--device cpu]
       [--original PATH]
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
print = functools.partial(print, flush=True)  # noqa: A001 - lines appear as each run ends

from sepm.models import build_model  # noqa: E402
from sepm.fitting import train as train_module  # noqa: E402
from sepm.fitting.objective import FitProblem  # noqa: E402
from sepm.fitting.stage import run_fit  # noqa: E402

CONFIG = {"SHOWPLOTS": 0, "nSystem": 1, "PPmodel": "Net_celu_HeInit_decayGaussian", "PPmodel_gaussian_std": 2.0,
          "hiddenLayers": "20 20 20", "optimizer_lr": 0.005, "scheduler_gamma": 0.9, "schedulerStep": 80,
          "init_Zunger_num_epochs": 0, "patience": 100000, "deeppseudopot_basis": 1}

ORIGINAL_RUNNER = """
import sys, torch, scipy.integrate
scipy.integrate.quadrature = getattr(scipy.integrate, "quadrature", None) or (lambda *a, **k: None)
torch.set_num_threads(int(sys.argv[1]))
if int(sys.argv[1]) > 1:
    torch.set_num_threads = lambda n: None
sys.path.insert(0, sys.argv[2])
sys.argv = ["main.py", sys.argv[3], sys.argv[4]]
import main
main.main(sys.argv[1], sys.argv[2])
"""


def make_bundle(folder: Path, epochs: int, separate: int) -> Path:
    shutil.copytree(ROOT / "resources/bundles/GaAs", folder)
    config = {**CONFIG, "max_num_epochs": epochs, "plotEvery": epochs + 1, "separateKptGrad": separate}
    (folder / "NN_config.par").write_text("".join(f"{k} = {v}\n" for k, v in config.items()))
    for params in folder.glob("init_*Params.par"):  # the original reads all nine a0..a8 (sepm pads with 0)
        values = np.loadtxt(params)
        np.savetxt(params, np.concatenate([values, np.zeros(9 - len(values))]), fmt="%.12g")
    model = build_model(CONFIG["PPmodel"], [20, 20, 20], 2, {"PPmodel_gaussian_std": 2.0}, seed=0)
    torch.save(model.state_dict(), folder / "init_PPmodel.pth")
    return folder


def sepm_epochs(bundle: Path, out: Path, device: str) -> list[tuple[float, float]]:
    """(whole epoch, its forward + backward) for every epoch after the second of a run_fit."""
    stamps, fb, save, evaluate = [], [], train_module._save_state, FitProblem.evaluate

    def timed_save(path, state):
        save(path, state)
        stamps.append(time.perf_counter())

    def timed_evaluate(self, backward=False, separate_kpoints=False):
        t0 = time.perf_counter()
        try:
            return evaluate(self, backward, separate_kpoints)
        finally:
            if backward and stamps:
                fb.append((len(stamps), time.perf_counter() - t0))

    train_module._save_state, FitProblem.evaluate = timed_save, timed_evaluate
    try:
        run_fit(bundle, out, device=device)
    finally:
        train_module._save_state, FitProblem.evaluate = save, evaluate
    inside = dict(fb)  # epoch i + 1's forward + backward runs between stamps i - 1 and i
    return [(stamps[i] - stamps[i - 1], inside[i]) for i in range(2, len(stamps)) if i in inside]


def original_epochs(checkout: Path, bundle: Path, out: Path, threads: int) -> list[float]:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "MPLBACKEND": "Agg"}
    proc = subprocess.Popen([sys.executable, "-u", "-c", ORIGINAL_RUNNER, str(threads), str(checkout), f"{bundle}/",
                             f"{out}/"], cwd=checkout, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)
    stamps, tail = {}, []
    for line in proc.stdout:
        tail = (tail + [line])[-20:]
        m = re.match(r"Epoch \[(\d+)/(\d+)\], training cost", line)
        if m:
            stamps[int(m.group(1))] = time.perf_counter()
            if m.group(1) == m.group(2):  # the last epoch: its final potential and movie are not timed
                proc.terminate()
                break
    proc.wait()
    epochs = sorted(stamps)
    if len(epochs) < 3:
        raise RuntimeError("the original did not train:\n" + "".join(tail))
    return [stamps[b] - stamps[a] for a, b in zip(epochs, epochs[1:])]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=20, help="sepm epochs per run (default 20)")
    parser.add_argument("--original-epochs", type=int, default=6, help="original epochs per run (default 6)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--device", default="cpu", help="torch device for sepm (the original runs on the CPU)")
    parser.add_argument("--original", type=Path,
                        help="checkout of TommyLinkl/DeePseudopot (its main.py); skipped when absent")
    args = parser.parse_args()
    original = args.original if args.original and (args.original / "main.py").is_file() else None
    if args.original and original is None:
        print(f"--original {args.original}: no main.py there; the original is skipped")
    print(f"load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        bundle = make_bundle(tmp / "GaAs", args.epochs, 0)
        for threads in args.threads:
            torch.set_num_threads(threads)
            pairs = sepm_epochs(bundle, tmp / f"sepm_{threads}", args.device)
            epoch, fb = (statistics.median(x) for x in zip(*pairs))
            ratio = statistics.median(a / b for a, b in pairs)
            print(f"{threads} thread(s), {args.device}: sepm whole epoch {epoch:.3f} s, its forward + backward "
                  f"{fb:.3f} s (medians of {len(pairs)} epochs), median ratio {ratio:.3f} (target <= 1.3)")
            if original is None:
                continue
            for separate, mode in ((1, "separateKptGrad 1 (its default)"), (0, "separateKptGrad 0 (full batch)")):
                folder = make_bundle(tmp / f"orig_{threads}_{separate}", args.original_epochs, separate)
                theirs = statistics.median(original_epochs(original, folder, tmp / f"orig_out_{threads}_{separate}",
                                                           threads))
                print(f"{threads} thread(s): original {mode}: epoch {theirs:.3f} s, sepm {epoch:.3f} s, "
                      f"sepm {theirs / epoch:.1f}x faster (goal {30 if separate else 15}x)")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
