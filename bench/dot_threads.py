"""Threads of the dot solver (not a test): does any thread count make `sepm dot` slower than 1 thread?

1. One H application (GridHamiltonian.apply: two FFTs and a multiply) on 48^3 and 80^3 grids, to a block
   of 1 and of 6 vectors (the solver's block: 4 states + 2 guards), float64 and float32 (the solver's first
   run), each thread count in turn in one process (torch.set_num_threads), ABBA order repeated, so every
   ratio is measured under the same load: median milliseconds per vector and the ratio to 1 thread.
2. `sepm dot --threads N` on the same passivated GaAs dot (R = 16 Bohr: 123 atoms + ligands, 48^3), each
   thread count in its own process, in ABBA order: wall seconds and the ratio to 1 thread, with the solve's
   seconds, the threads it kept and the H application it timed to choose them (sepm.nanocrystal.threads).
The load average (1 min) is printed with each row: the machine is shared, so only the side-by-side ratios
mean anything.

Usage: python bench/dot_threads.py [--threads 1 2] [--grids 48 80] [--repeats 5] [--radius 16] [--no-dot]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def abba(values: list, repeats: int) -> list:
    """values, reversed, values, ... (each value as often early as late: drift in the load cancels)."""
    return [v for k in range(repeats) for v in (values if k % 2 == 0 else values[::-1])]


def apply_times(n: int, block: int, dtype, threads: list[int], repeats: int) -> dict[int, float]:
    """Median seconds per vector of one H application on an n^3 grid, per thread count."""
    from sepm.nanocrystal.grid import DotGrid
    from sepm.nanocrystal.hamiltonian import GridHamiltonian

    grid = DotGrid((0.375 * n,) * 3, (n, n, n))  # spacing 0.75 Bohr, the default's after FFT rounding
    gen = torch.Generator().manual_seed(0)
    H = GridHamiltonian(grid, (-torch.rand(grid.shape, generator=gen, dtype=torch.float64)).to(dtype))
    X = torch.randn((block, grid.size), generator=gen, dtype=torch.float64).to(dtype)
    times = {t: [] for t in threads}
    for t in abba(threads, repeats):
        torch.set_num_threads(t)
        H.apply(X)  # warm-up: plans and pools of this thread count
        start = time.perf_counter()
        for _ in range(3):
            H.apply(X)
        times[t].append((time.perf_counter() - start) / (3 * block))
    return {t: float(np.median(v)) for t, v in times.items()}


def dot_seconds(radius: float, threads: int, out: Path) -> tuple[float, dict]:
    """Wall seconds of `sepm dot --threads N`, and its dot.json's solver record."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sepm", "dot", str(ROOT / "resources/bundles/GaAs"), str(out), "--pot-dir",
                    str(ROOT / "resources/potentials-realspace"), "--radius", str(radius), "--threads", str(threads)],
                   check=True, env=env, capture_output=True)
    return time.perf_counter() - start, json.loads((out / "dot.json").read_text())["solver"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--grids", type=int, nargs="+", default=[48, 80])
    p.add_argument("--repeats", type=int, default=5, help="ABBA rounds of the H application timings")
    p.add_argument("--radius", type=float, default=16.0)
    p.add_argument("--dot-repeats", type=int, default=2, help="ABBA rounds of the whole dot")
    p.add_argument("--no-dot", action="store_true", help="only the H application timings")
    args = p.parse_args()
    base = args.threads[0]
    print(f"{'grid':>5} {'block':>5} {'dtype':>7} " + " ".join(f"{f'{t} thr ms':>9}" for t in args.threads)
          + " " + " ".join(f"{f'{t}/{base}':>6}" for t in args.threads[1:]) + f" {'load':>5}")
    for n in args.grids:
        for block in (1, 6):
            for dtype in (torch.float64, torch.float32):
                ms = apply_times(n, block, dtype, args.threads, args.repeats)
                print(f"{n:5d} {block:5d} {str(dtype).removeprefix('torch.'):>7} "
                      + " ".join(f"{1e3 * ms[t]:9.2f}" for t in args.threads) + " "
                      + " ".join(f"{ms[t] / ms[base]:6.2f}" for t in args.threads[1:])
                      + f" {os.getloadavg()[0]:5.1f}", flush=True)
    if args.no_dot:
        return 0
    seconds = {t: [] for t in args.threads}
    with tempfile.TemporaryDirectory() as tmp:
        for t in abba(args.threads, args.dot_repeats):
            wall, run = dot_seconds(args.radius, t, Path(tmp) / f"t{t}")
            seconds[t].append(wall)
            timed = ", ".join(f"{1e3 * v:.3g} ms at {n}" for n, v in run["seconds_per_application_by_threads"].items())
            solve = run["valence"]["seconds"] + run["conduction"]["seconds"]
            print(f"sepm dot --radius {args.radius:g} --threads {t}: {wall:.1f} s (solve {solve:.1f} s at "
                  f"{run['threads']} thread(s); one H application {timed}), load {os.getloadavg()[0]:.1f}", flush=True)
    for t in args.threads[1:]:
        print(f"sepm dot: --threads {t} / --threads {base} = {sum(seconds[t]) / sum(seconds[base]):.2f} "
              f"(summed over {args.dot_repeats} runs each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
