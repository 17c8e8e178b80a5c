"""Quantum-dot benchmark (not a test): seconds and H applications per converged state to the HOMO and
LUMO of passivated GaAs dots, at each thread count, next to the cost of one Hamiltonian application on
the same grid measured in the same process (in double precision), so that time = applications x one
application x overhead.

Dots are cut from the bundled GaAs crystal (cation-centred spheres; radii 16, 27, 33 and 42 Bohr give
123, 513, 979 and about 2000 atoms before ligands) with the published real-space library of
resources/, grid spacing 0.8 Bohr (h = 0.71-0.79 after FFT rounding), kinetic cap 10 Hartree, 4 valence
and 4 conduction states to residual 1e-4 Hartree. Each (radius, threads, precision) case runs in its own
subprocess (own peak memory), the thread counts of one radius one after the other, so that their
ratio is measured under the same load (the load average is printed with each row).
Applications are fine-grid equivalents (a coarse-grid application, start or preconditioner, counts
N_coarse / N; a float32 application counts as one); with --no-coarse every edge starts from smooth random
vectors instead and no coarse grid preconditions (the solver before the coarse start); --precision
double runs the solver in double precision only (no float32 run first: the solver before it), each
precision after the other for the same radius and thread count. --preconditioner two-grid kinetic runs
the solver with its two-grid preconditioner on the residuals of H (the default: one fine application
per vector and iteration) and with (T + s)^-2 alone on the folded residuals (two), one after the other.
With --convergence the gap of the 35-atom dot (R = 12) is also computed at spacing 0.8 and 0.4.

Usage: python bench/dot.py [--radii 16 27 33 42] [--threads 1 2] [--no-coarse] [--precision mixed double]
       [--preconditioner two-grid kinetic] [--device cpu|cuda] [--convergence]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def case(radius: float, spacing: float, device: str, threads: int, coarse: bool, single: bool, two_grid: bool) -> dict:
    import functools
    import tempfile

    import torch

    from sepm.io import read_bundle
    from sepm.nanocrystal import solver
    from sepm.nanocrystal.dot import DotSettings, run_dot
    from sepm.nanocrystal.hamiltonian import GridHamiltonian
    from sepm.nanocrystal.ligands import ligand_tables
    from sepm.nanocrystal.potfiles import read_library

    torch.set_num_threads(threads)
    if not coarse:
        solver.COARSE_SPACING = 0.0
    if not single:
        GridHamiltonian.single = lambda self: None
    if not two_grid:
        solver.grid_states = functools.partial(solver.grid_states, two_grid=False)
    system = read_bundle(ROOT / "resources/bundles/GaAs").systems[0]
    tables = read_library(ROOT / "resources/potentials-realspace", ["As", "Ga"])
    tables.update(ligand_tables(1024, tables["Ga"].dr))
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        rec = run_dot(system, tables, DotSettings(radius=radius, spacing=spacing), out, device=device)
    run = rec["solver"]
    return dict(radius=radius, spacing=spacing, threads=threads, precision="mixed" if single else "double",
                preconditioner="two-grid" if two_grid else "kinetic",
                atoms=rec["n_core"], ligands=rec["n_ligands"],
                grid="x".join(map(str, rec["grid"]["shape"])), gap_ev=rec["gap_ev"],
                total_s=time.perf_counter() - start, potential_s=run["seconds_potential"],
                solve_s=run["valence"]["seconds"] + run["conduction"]["seconds"], apply_s=run["seconds_per_application"],
                applications=run["valence"]["applications"] + run["conduction"]["applications"],
                states=len(rec["levels"]), load=os.getloadavg()[0],
                peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--radii", type=float, nargs="+", default=[16.0, 27.0, 33.0, 42.0])
    p.add_argument("--spacing", type=float, default=0.8)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--no-coarse", action="store_true",
                   help="smooth random starts, kinetic preconditioner (no coarse grid)")
    p.add_argument("--precision", nargs="+", choices=["mixed", "double"], default=["mixed"],
                   help="mixed: a float32 run, then double precision (the default); double: double precision only")
    p.add_argument("--preconditioner", nargs="+", choices=["two-grid", "kinetic"], default=["two-grid"],
                   help="two-grid: kinetic + coarse-H correction (the default); kinetic: (T + s)^-2 only")
    p.add_argument("--device", default="cpu")
    p.add_argument("--convergence", action="store_true", help="also the R = 12 gap at spacing 0.8 and 0.4")
    p.add_argument("--case", nargs=2, type=float, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.case:
        print(json.dumps(case(args.case[0], args.case[1], args.device, args.threads[0], not args.no_coarse,
                              args.precision[0] == "mixed", args.preconditioner[0] == "two-grid")))
        return 0
    runs = [(r, args.spacing) for r in args.radii]
    if args.convergence:
        runs += [(12.0, 0.8), (12.0, 0.4)]
    print(f"{'R':>5} {'h':>5} {'atoms':>6} {'lig':>5} {'grid':>12} {'thr':>3} {'prec':>6} {'precond':>8} {'gap eV':>8} "
          f"{'total s':>8} {'V s':>6} {'solve s':>8} {'1 H ms':>7} {'H apps':>7} {'apps/state':>10} "
          f"{'solve/(apps x 1 H)':>18} {'load':>5} {'RSS MiB':>8}")
    for radius, spacing in runs:
        for threads in args.threads:
            for precision, precond in [(q, k) for q in args.precision for k in args.preconditioner]:
                out = subprocess.run([sys.executable, __file__, "--case", str(radius), str(spacing), "--device",
                                      args.device, "--threads", str(threads), "--precision", precision,
                                      "--preconditioner", precond] + (["--no-coarse"] if args.no_coarse else []),
                                     check=True, capture_output=True, text=True).stdout
                r = json.loads(out.strip().splitlines()[-1])
                print(f"{r['radius']:5.1f} {r['spacing']:5.2f} {r['atoms']:6d} {r['ligands']:5d} {r['grid']:>12} "
                      f"{r['threads']:3d} {r['precision']:>6} {r['preconditioner']:>8} {r['gap_ev']:8.6f} "
                      f"{r['total_s']:8.1f} {r['potential_s']:6.1f} {r['solve_s']:8.1f} {1e3 * r['apply_s']:7.2f} "
                      f"{r['applications']:7.0f} {r['applications'] / r['states']:10.0f} "
                      f"{r['solve_s'] / (r['applications'] * r['apply_s']):18.2f} "
                      f"{r['load']:5.1f} {r['peak_rss_mib']:8.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
