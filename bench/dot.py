"""Quantum-dot benchmark (not a test): seconds to the HOMO and LUMO of passivated GaAs dots next to the
cost of one Hamiltonian application on the same grid, measured in the same run, so the number of
applications per converged state is visible.

Dots are cut from the bundled GaAs crystal (cation-centred spheres; radii 16, 27 and 33 Bohr give
123, 513 and 979 atoms before ligands) with the published real-space library of resources/, grid
spacing 0.8 Bohr (h = 0.71-0.79 after FFT rounding), kinetic cap 10 Hartree, 4 valence and 4
conduction states to residual 1e-4 Hartree. Each dot runs in its own subprocess (own peak memory).
With --convergence the gap of the 35-atom dot (R = 12) is also computed at spacing 0.8 and 0.4.

Usage: python bench/dot.py [--radii 16 27 33] [--threads 2] [--device cpu|cuda] [--convergence]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def case(radius: float, spacing: float, device: str, threads: int) -> dict:
    import tempfile

    import torch

    from sepm.io import read_bundle
    from sepm.nanocrystal.dot import DotSettings, run_dot
    from sepm.nanocrystal.ligands import ligand_tables
    from sepm.nanocrystal.potfiles import read_library

    torch.set_num_threads(threads)
    system = read_bundle(ROOT / "resources/bundles/GaAs").systems[0]
    tables = read_library(ROOT / "resources/potentials-realspace", ["As", "Ga"])
    tables.update(ligand_tables(1024, tables["Ga"].dr))
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        rec = run_dot(system, tables, DotSettings(radius=radius, spacing=spacing), out, device=device)
    solver = rec["solver"]
    states = len(rec["levels"])
    apps = solver["valence"]["applications"] + solver["conduction"]["applications"]
    return dict(radius=radius, spacing=spacing, atoms=rec["n_core"], ligands=rec["n_ligands"],
                grid="x".join(map(str, rec["grid"]["shape"])), gap_ev=rec["gap_ev"], total_s=time.perf_counter() - start,
                solve_s=solver["valence"]["seconds"] + solver["conduction"]["seconds"],
                apply_s=solver["seconds_per_application"], applications=apps, states=states,
                peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--radii", type=float, nargs="+", default=[16.0, 27.0, 33.0])
    p.add_argument("--spacing", type=float, default=0.8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--convergence", action="store_true", help="also the R = 12 gap at spacing 0.8 and 0.4")
    p.add_argument("--case", nargs=2, type=float, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.case:
        print(json.dumps(case(args.case[0], args.case[1], args.device, args.threads)))
        return 0
    runs = [(r, args.spacing) for r in args.radii]
    if args.convergence:
        runs += [(12.0, 0.8), (12.0, 0.4)]
    print(f"{'R':>5} {'h':>5} {'atoms':>6} {'lig':>5} {'grid':>12} {'gap eV':>8} {'total s':>8} {'solve s':>8} "
          f"{'1 H s':>8} {'H apps':>7} {'apps/state':>10} {'solve/(apps x 1 H)':>18} {'RSS MiB':>8}")
    for radius, spacing in runs:
        out = subprocess.run([sys.executable, __file__, "--case", str(radius), str(spacing), "--device", args.device,
                              "--threads", str(args.threads)], check=True, capture_output=True, text=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(f"{r['radius']:5.1f} {r['spacing']:5.2f} {r['atoms']:6d} {r['ligands']:5d} {r['grid']:>12} "
              f"{r['gap_ev']:8.4f} {r['total_s']:8.1f} {r['solve_s']:8.1f} {r['apply_s']:8.4f} {r['applications']:7d} "
              f"{r['applications'] / r['states']:10.0f} {r['solve_s'] / (r['applications'] * r['apply_s']):18.2f} "
              f"{r['peak_rss_mib']:8.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
