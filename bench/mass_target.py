"""Fitting an effective mass (not a test): the README's default GaAs fit (config/config.yaml's settings, the
network prior fitted to the Zunger form) run from the same prior, side by side for the same number of epochs:
once against the bands alone, then with the experimental Γ electron mass 0.067 m_e added as a target at each
weight asked for (an ``expMass_0.par`` row ``G 8 100 0.067 WEIGHT`` in a copy of the bundle; slot 8 is the
lowest conduction band). For each it prints the Γ electron mass along [100] before and after (sepm masses'
finite differences, :mod:`sepm.analysis.masses`, an independent evaluation), the final cost and the band RMSE
over all bands and the weight-20 bands: the mass moves toward 0.067 m_e at the printed RMSE cost.

Usage: OMP_NUM_THREADS=1 python bench/mass_target.py [--epochs N] [--weights W ...] [--out DIR]
(each fit about 80 CPU s at 1 thread; the prior less).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from schedule import BUNDLE, default_overrides, make_prior, material_overrides, rmse_by_weight  # noqa: E402

TARGET_MASS = 0.067  # m_e, GaAs Γ electron (experiment)


def gamma_mass(problem) -> float:
    """The Γ electron mass along [100] (m_e) of the problem's current potential, by sepm masses' differences."""
    from sepm.analysis.masses import BandSampler, finite_difference_masses

    t = problem.targets[0]
    with torch.no_grad():
        problem.refresh()
        sampler = BandSampler(t.ham, t.spec.nbands)
        return float(finite_difference_masses(sampler, np.zeros(3), (1.0, 0.0, 0.0), 0.01).richardson[8])


def fit(bundle: Path, prior: Path, epochs: int, outdir: Path) -> dict:
    from sepm.fitting.init import initialize
    from sepm.fitting.stage import FitSetup
    from sepm.fitting.train import TrainSettings, train

    setup = FitSetup(bundle, material_overrides() + default_overrides() + [f"max_num_epochs={epochs}", "plotEvery=0"])
    initialize(setup.model, setup.bundle, setup.initial_params, prior)
    problem = setup.build_problem()
    setup.model.eval()
    start = {"cost": problem.evaluate().total, "mass": gamma_mass(problem), **rmse_by_weight(problem)}
    t0 = time.process_time()
    train(problem, {"coefficients": setup.coefficients, "model": setup.model}, TrainSettings.from_config(setup.config),
          outdir, resume=False)
    setup.model.eval()
    parts = problem.evaluate()
    end = {"cost": parts.total, "bands_cost": sum(parts.bands), "mass_cost": parts.mass, "mass": gamma_mass(problem),
           **rmse_by_weight(problem), "cpu_s": time.process_time() - t0}
    return {"start": start, "end": end}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=250, help="epochs of every fit (the default fit's 250)")
    parser.add_argument("--weights", type=float, nargs="+", default=[100.0, 1000.0, 10000.0],
                        help="weights of the mass row, one fit each (its loss is weight x (m_ref/m - 1)^2 beside the "
                        "band loss in eV^2)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/mass_target"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"torch threads {torch.get_num_threads()}; {args.epochs} epochs each", flush=True)
    prior = make_prior(args.out / "prior", "cpu")
    runs = [("bands only", BUNDLE)]
    for weight in args.weights:
        with_mass = args.out / f"bundle_mass_weight_{weight:g}"
        shutil.rmtree(with_mass, ignore_errors=True)
        shutil.copytree(BUNDLE, with_mass)
        (with_mass / "expMass_0.par").write_text("# kpoint band direction mass_me weight\n"
                                                 f"G 8 100 {TARGET_MASS} {weight:g}\n")
        runs.append((f"bands + Γ electron mass, weight {weight:g}", with_mass))
    for name, bundle in runs:
        r = fit(bundle, prior, args.epochs, args.out / name.replace(" ", "_").replace(",", ""))
        s, e = r["start"], r["end"]
        print(f"{name}: Γ electron mass [100] {s['mass']:.4f} -> {e['mass']:.4f} m_e (target {TARGET_MASS}); "
              f"cost {s['cost']:.4g} -> {e['cost']:.4g} eV^2 (bands {e['bands_cost']:.4g}, mass term "
              f"{e['mass_cost']:.4g}); RMSE all {s['all']:.1f} -> {e['all']:.1f} meV, weight-20 {s['w20']:.1f} -> "
              f"{e['w20']:.1f} meV; {e['cpu_s']:.0f} CPU s", flush=True)


if __name__ == "__main__":
    main()
