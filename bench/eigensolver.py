"""Iterative vs dense eigensolver benchmark (not a test), measured side by side in one run.

CsPbI3_soc (SOC + NL), 32 bands, at maxKE 10 (2N = 5034) and 8 k-points by default, ZeroFunction with
a5..a7 trainable against the bundle's own bands + 0.1 eV, cacheSO = 1. Each case runs in its own
subprocess so that its peak memory is its own:
- bands: a whole band structure with the dense values-only solver (today's ``sepm bands``) and with the
  warm start (the first k-point dense, each next one from the previous k-point's vectors); the largest
  energy difference.
- train-dense / train-warm: training epochs (forward + backward, ``FitProblem.evaluate``) with the dense
  subset solver and with LOBPCG from the previous epoch's vectors; next to the dense solver's time on
  the same matrices (the floor a dense training epoch cannot beat). Goal: an epoch after the first
  >= 3x faster than the dense floor, the same energies to 1e-6 eV.

Usage: python bench/eigensolver.py [--maxke 10] [--nk 8] [--epochs 3] [--dense-epochs 1] [--threads 1]
       [--device cpu] [--memory-gb 16]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBANDS = 32


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def bundle(tmp: Path, maxke: float, nk: int) -> Path:
    import numpy as np

    folder = tmp / "CsPbI3_soc"
    shutil.copytree(ROOT / "resources/bundles/CsPbI3_soc", folder)
    (folder / "input_0.par").write_text(f"nBands = {NBANDS}\nmaxKE = {maxke}\n")
    np.savetxt(folder / "kpoints_0.par", np.loadtxt(folder / "kpoints_0.par")[:nk])
    return folder


def fit_setup(folder: Path, args):
    from sepm.fitting.stage import FitSetup

    return FitSetup(folder, ["PPmodel=ZeroFunction", "cacheSO=1", f"memory_limit_GB={args.memory_gb}"],
                    device=args.device)


def case_bands(folder: Path, args) -> dict:
    import numpy as np
    import torch

    from sepm.bands import band_energies, system_hamiltonian
    from sepm.io import read_bundle
    from sepm.pseudopotential import Pseudopotential

    b = read_bundle(folder)
    spec, pp = b.systems[0], Pseudopotential.from_bundle(b, device=args.device)
    with torch.no_grad():
        dense_ham = system_hamiltonian(spec, pp, device=args.device)
        dense_ham.warm = None
        t_dense, dense = timed(lambda: band_energies(dense_ham, spec.kpoints, NBANDS, memory_limit_gb=args.memory_gb))
        ham = system_hamiltonian(spec, pp, device=args.device)
        t_warm, warm = timed(lambda: band_energies(ham, spec.kpoints, NBANDS, memory_limit_gb=args.memory_gb))
    np.savetxt(folder / "expBandStruct_0.par", np.column_stack([np.zeros(len(dense)), dense.cpu().numpy() + 0.1]))
    return {"dim": ham.dim, "dense_s": t_dense, "warm_s": t_warm, "max_dE_eV": float((warm - dense).abs().max()),
            "iterative_k": ham.warm.solves, "dense_k": ham.warm.dense}


def case_train(folder: Path, args, warm: bool) -> dict:
    import torch

    from sepm.bands import levels_needed
    from sepm.eigensolver import lowest_eigenpairs

    setup = fit_setup(folder, args)
    problem = setup.build_problem()
    target = problem.targets[0]
    if not warm:
        target.ham.warm = None
    params = [*setup.model.parameters(), *setup.coefficients.parameters()]

    def epoch():
        for p in params:
            p.grad = None
        return problem.evaluate(backward=True).total

    times, costs = [], []
    for _ in range(args.epochs if warm else args.dense_epochs):
        t, cost = timed(epoch)
        times.append(t)
        costs.append(cost)
        with torch.no_grad():  # a small step, as an optimizer would take
            for p in params:
                if p.grad is not None:
                    p -= 1e-4 * p.grad / p.grad.abs().max().clamp_min(1e-300)
    out = {"epoch_s": times, "cost": costs}
    if not warm:
        with torch.no_grad():
            setup.refresh()
            ham = target.ham
            n = levels_needed(NBANDS, ham.spinor)
            kpts = ham.basis.kpoints(target.spec.kpoints)
            floor = 0.0
            for i in range(len(kpts)):
                h = ham.matrices(kpts[i:i + 1])
                floor += timed(lambda: lowest_eigenpairs(h, n))[0]
        out["floor_s"] = floor
    else:
        w = target.ham.warm
        out["lobpcg_iterations"], out["iterative_k"] = w.iterations, w.solves
    return out


def run_case(case: str, folder: Path, args) -> dict:
    cmd = [sys.executable, __file__, "--case", case, "--folder", str(folder), "--maxke", str(args.maxke),
           "--nk", str(args.nk), "--epochs", str(args.epochs), "--dense-epochs", str(args.dense_epochs), "--threads", str(args.threads),
           "--device", args.device, "--memory-gb", str(args.memory_gb)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--maxke", type=float, default=10.0)
    parser.add_argument("--nk", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3, help="warm-started training epochs")
    parser.add_argument("--dense-epochs", type=int, default=1, help="dense training epochs (each costs "
                        "more than the floor)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--memory-gb", type=float, default=16.0)
    parser.add_argument("--case", choices=["bands", "train-dense", "train-warm"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        import torch

        torch.set_num_threads(args.threads)
        result = case_bands(args.folder, args) if args.case == "bands" else \
            case_train(args.folder, args, warm=args.case == "train-warm")
        result["peak_rss_MiB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = bundle(Path(tmp), args.maxke, args.nk)
        b = run_case("bands", folder, args)
        print(f"CsPbI3 SOC+NL, maxKE {args.maxke:g}, {args.nk} k, {NBANDS} bands, dim {b['dim']}, "
              f"{args.threads} thread(s), {args.device}")
        print(f"bands: dense {b['dense_s']:.1f} s, warm-started {b['warm_s']:.1f} s "
              f"({b['dense_k']} k dense, {b['iterative_k']} iterative), ratio {b['dense_s'] / b['warm_s']:.2f}, "
              f"max |dE| {b['max_dE_eV']:.1e} eV, peak RSS {b['peak_rss_MiB']:.0f} MiB")
        dense = run_case("train-dense", folder, args)
        warm = run_case("train-warm", folder, args)
    later_dense = statistics.median(dense["epoch_s"][1:] or dense["epoch_s"])  # a dense epoch is the same each time
    later_warm = statistics.median(warm["epoch_s"][1:] or warm["epoch_s"])
    cost_diff = max(abs(a - c) for a, c in zip(dense["cost"], warm["cost"]))
    print(f"training epochs (s): dense {', '.join(f'{t:.1f}' for t in dense['epoch_s'])}; "
          f"warm {', '.join(f'{t:.1f}' for t in warm['epoch_s'])}")
    print(f"dense eigensolver floor {dense['floor_s']:.1f} s; epoch after the first: dense {later_dense:.1f} s, "
          f"warm {later_warm:.1f} s ({warm['lobpcg_iterations']} LOBPCG iterations for {warm['iterative_k']} k-point "
          f"solves); "
          f"floor / warm epoch {dense['floor_s'] / later_warm:.2f} (goal >= 3)")
    print(f"largest cost difference dense vs warm {cost_diff:.1e} eV^2; peak RSS dense {dense['peak_rss_MiB']:.0f} "
          f"MiB, warm {warm['peak_rss_MiB']:.0f} MiB")


if __name__ == "__main__":
    main()
