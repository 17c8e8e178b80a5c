"""Training-schedule benchmark (not a test): candidate learning-rate schedules on the README's default
fit (GaAs bundle, config/config.yaml's settings, the network prior fitted to the Zunger form), run one
after the other from the same prior network, each with the same number of epochs unless it says so.

For every candidate it prints the cost after the first step (against the start), the final cost, the
final RMSE over all bands, the weight-20 bands and the weight-1 bands (sepm.losses.band_rmse, the RMSE
that `sepm train` reports), and CPU seconds per epoch; the starting Zunger potential's and the prior's
RMSEs come first. It plots the cost after each step against wall time and against epochs
(schedule.png / schedule.pdf). Wall times on a shared machine are noisy: compare candidates by epochs
and CPU time per epoch, and run with OMP_NUM_THREADS=1.

Usage: OMP_NUM_THREADS=1 python bench/schedule.py [--out DIR] [--only NAME ...] [--epochs N] [--merge JSON ...]
       [--device cpu|cuda]
(each candidate takes about 3 min at 1 thread on an idle core; --merge adds an earlier run's candidates to the
table and the plot, --only with no name runs none).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "resources/bundles/GaAs"

#: name -> NN_config overrides on top of the material's `set` (PPmodel, ..., schedulerStep 60) and the bundle's
#: NN_config.par (scheduler_gamma 0.9); 250 epochs each, the README fit's length.
CANDIDATES = {
    "old default: Adam lr 1e-2, x0.9/60": ["optimizer_lr=0.01", "scheduler_gamma=0.9", "max_num_epochs=250"],
    "Adam lr 1e-3": ["optimizer_lr=0.001", "scheduler_gamma=1.0", "max_num_epochs=250"],
    "Adam lr 3e-3": ["optimizer_lr=0.003", "scheduler_gamma=1.0", "max_num_epochs=250"],
    "Adam lr 3e-3, warm-up 10, cosine, beta2 .99": ["optimizer_lr=0.003", "lr_warmup_epochs=10", "lr_schedule=cosine",
                                                    "lr_min_factor=0.01", "adam_beta2=0.99", "max_num_epochs=250"],
    "L-BFGS lr 1": ["optimizer=lbfgs", "optimizer_lr=1.0", "scheduler_gamma=1.0", "max_num_epochs=250"],
    "L-BFGS lr 1, warm-up 5": ["optimizer=lbfgs", "optimizer_lr=1.0", "lr_warmup_epochs=5", "scheduler_gamma=1.0",
                               "max_num_epochs=250"],
    "L-BFGS lr 1, warm-up 10": ["max_num_epochs=250", "optimizer=lbfgs", "optimizer_lr=1.0", "lr_warmup_epochs=10",
                                "scheduler_gamma=1.0"],
    "L-BFGS lr 1, warm-up 10, cosine to 0.1": ["optimizer=lbfgs", "optimizer_lr=1.0", "lr_warmup_epochs=10",
                                               "lr_schedule=cosine", "lr_min_factor=0.1", "max_num_epochs=250"],
    "L-BFGS lr 1, warm-up 10, strong-Wolfe": ["max_num_epochs=250", "optimizer=lbfgs", "optimizer_lr=1.0",
                                              "lr_warmup_epochs=10", "scheduler_gamma=1.0",
                                              "lbfgs_line_search=strong_wolfe"],
    "L-BFGS lr 1, strong-Wolfe": ["max_num_epochs=250", "optimizer=lbfgs", "optimizer_lr=1.0", "scheduler_gamma=1.0",
                                  "lbfgs_line_search=strong_wolfe"],
}


def material_overrides() -> list[str]:
    """The GaAs material's `set` of config/config.yaml (what the README's first command uses)."""
    config = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    values = config["materials"]["GaAs"].get("set", {})
    return [f"{k}={' '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in values.items()]


def default_overrides() -> list[str]:
    """The optimize step's `set` of config/config.yaml (the current default schedule), without plots."""
    config = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    values = config["materials"]["GaAs"]["optimize"][0].get("set", {})
    return [f"{k}={v}" for k, v in values.items() if k != "plotEvery"]


def rmse_by_weight(problem) -> dict:
    """RMSE (meV) over all weighted bands, the weight-20 bands and the weight-1 bands (system 0)."""
    from sepm.losses import band_rmse

    t = problem.targets[0]
    with torch.no_grad():
        problem.refresh()
        bands = problem.bands(0)
    out = {}
    for name, mask in (("all", t.band_weights != 0), ("w20", t.band_weights == 20), ("w1", t.band_weights == 1)):
        out[name] = 1e3 * band_rmse(bands, t.reference, t.kweights, mask.to(torch.float64))
    return out


def make_prior(folder: Path, device: str) -> Path:
    """The prior network (the pipeline's prior stage: 1000 Adam epochs to the Zunger form)."""
    from sepm.fitting.stage import FitSetup, run_prior

    setup = FitSetup(BUNDLE, material_overrides(), device=device)
    run_prior(setup, folder)
    setup.save(folder, "init_")
    return folder / "init_PPmodel.pth"


def analytic_rmse(device: str) -> tuple[float, dict]:
    """Cost and RMSE of the bundle's analytic (Wang-Zunger) potential: the start the goal is measured against."""
    from sepm.fitting.objective import FitProblem
    from sepm.io import read_bundle
    from sepm.io.nnconfig import apply_overrides
    from sepm.pseudopotential import Pseudopotential

    bundle = read_bundle(BUNDLE)
    bundle.config = apply_overrides(bundle.config, material_overrides())
    problem = FitProblem(bundle, Pseudopotential.from_bundle(bundle, device=device), device=device)
    with torch.no_grad():
        cost = problem.evaluate().total
    return cost, rmse_by_weight(problem)


def run_candidate(name: str, overrides: list[str], prior: Path, workdir: Path, device: str) -> dict:
    from sepm.errors import RunError
    from sepm.fitting.init import initialize
    from sepm.fitting.stage import FitSetup
    from sepm.fitting.train import TrainSettings, train

    setup = FitSetup(BUNDLE, material_overrides() + overrides + ["plotEvery=0"], device=device)
    initialize(setup.model, setup.bundle, setup.initial_params, prior)
    problem = setup.build_problem()
    setup.model.eval()
    start_cost = problem.evaluate().total
    start = rmse_by_weight(problem)
    settings = TrainSettings.from_config(setup.config)
    outdir, diverged, evaluations = workdir / name.replace(" ", "_").replace("/", "_"), None, math.nan
    cpu = time.process_time()
    try:
        modules = {"coefficients": setup.coefficients, "model": setup.model}
        evaluations = train(problem, modules, settings, outdir)["evaluations"]
    except RunError as err:  # the divergence is this candidate's result: the best state is loaded
        diverged = str(err).split(":")[0]
    cpu = time.process_time() - cpu
    setup.model.eval()
    history = np.atleast_2d(np.loadtxt(outdir / "training_cost.dat"))
    final = rmse_by_weight(problem)
    return {"name": name, "overrides": overrides, "start_cost": start_cost, "start_rmse": start,
            "first_step_cost": float(history[0, 2]), "final_cost": float(history[-1, 2]),
            "best_cost": float(history[:, 2].min()), "epochs": len(history),
            "cpu_per_epoch": cpu / len(history), "final_rmse": final, "diverged": diverged,
            "evaluations_per_epoch": evaluations / len(history),
            "epoch": history[:, 0].tolist(), "cost": history[:, 2].tolist(), "lr": history[:, 3].tolist(),
            "wall": np.cumsum(history[:, 4]).tolist()}


def plot(results: list[dict], analytic_cost: float, stem: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    for r in results:
        label = f"{r['name']}: {r['final_rmse']['all']:.0f} / {r['final_rmse']['w20']:.0f} meV"
        line, = axes[0].semilogy(r["wall"], r["cost"], label=label)
        axes[1].semilogy(r["epoch"], r["cost"], color=line.get_color())
        axes[2].semilogy(r["epoch"], r["lr"], color=line.get_color())
    for ax in axes[:2]:
        ax.axhline(analytic_cost, color="k", ls=":", lw=1, label="starting Zunger potential")
        ax.set_ylabel("cost after step (eV$^2$)")
    axes[0].set_xlabel("training wall time (s)")
    axes[1].set_xlabel("epoch")
    axes[2].set_xlabel("epoch")
    axes[2].set_ylabel("learning rate")
    axes[0].legend(fontsize=7, title="final RMSE all / weight-20 bands", title_fontsize=7)
    fig.suptitle("GaAs default fit: learning-rate schedules from the same prior network")
    fig.tight_layout()
    for ext in ("png", "pdf"):
        fig.savefig(stem.with_suffix(f".{ext}"), dpi=120)
    plt.close(fig)


def report(r: dict, analytic: dict):
    f = r["final_rmse"]
    end = f"; {r['diverged']} (final: its best state)" if r.get("diverged") else ""
    end = f"; highest cost after a step after epoch 10 {max(r['cost'][10:], default=math.nan):.4g}{end}"
    print(f"{r['name']} [{' '.join(r['overrides'])}]: first step {r['start_cost']:.4g} -> {r['first_step_cost']:.4g}, "
          f"final cost {r['final_cost']:.4g} (best {r['best_cost']:.4g}) after {r['epochs']} epochs, "
          f"{r['cpu_per_epoch']:.3f} CPU s/epoch ({r.get('evaluations_per_epoch', math.nan):.2f} evaluations), "
          f"{r['wall'][-1]:.0f} s wall; RMSE all {f['all']:.1f}, "
          f"weight-20 {f['w20']:.1f}, weight-1 {f['w1']:.1f} meV (vs Zunger: all {f['all'] / analytic['all']:.2f}x, "
          f"weight-20 {f['w20'] / analytic['w20']:.2f}x, weight-1 {f['w1'] / analytic['w1']:.2f}x){end}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/schedule"), help="output folder (plot, JSON)")
    parser.add_argument("--only", nargs="*", help="run only the candidates whose name contains one of these")
    parser.add_argument("--epochs", type=int, help="override max_num_epochs of every candidate (quick looks)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--merge", nargs="*", type=Path, default=[],
                        help="schedule.json files of earlier runs whose candidates join this run's table and plot")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    candidates = dict(CANDIDATES)
    if not any(set(v) == set(default_overrides()) for v in candidates.values()):
        candidates = {"current default (config/config.yaml)": default_overrides(), **candidates}
    if args.only is not None:
        candidates = {k: v for k, v in candidates.items() if any(s in k for s in args.only)}
    print(f"torch threads {torch.get_num_threads()}; material set: {' '.join(material_overrides())}")
    analytic_cost, analytic = analytic_rmse(args.device)
    print(f"starting Zunger potential: cost {analytic_cost:.4g} eV^2, RMSE all {analytic['all']:.1f} meV, "
          f"weight-20 {analytic['w20']:.1f} meV, weight-1 {analytic['w1']:.1f} meV")
    results = [r for path in args.merge for r in json.loads(path.read_text())["candidates"]]
    if candidates:
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            prior = make_prior(Path(tmp) / "prior", args.device)
            print(f"prior network ({time.perf_counter() - t:.1f} s)")
            for name, overrides in candidates.items():
                overrides = overrides + ([f"max_num_epochs={args.epochs}"] if args.epochs else [])
                results.append(run_candidate(name, overrides, prior, Path(tmp), args.device))
    if results:
        s = results[0]["start_rmse"]
        print(f"prior network: cost {results[0]['start_cost']:.4g} eV^2, RMSE all {s['all']:.1f} meV, "
              f"weight-20 {s['w20']:.1f} meV, weight-1 {s['w1']:.1f} meV")
    for r in results:
        report(r, analytic)
    plot(results, analytic_cost, args.out / "schedule")
    (args.out / "schedule.json").write_text(json.dumps({"analytic": {"cost": analytic_cost, **analytic},
                                                        "candidates": results}, indent=1))
    print(f"plot: {args.out / 'schedule.png'} (.pdf); numbers: {args.out / 'schedule.json'}")


if __name__ == "__main__":
    sys.exit(main())
