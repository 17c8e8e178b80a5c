"""sepm's dot levels against the group's filter-diagonalization code (the client) on identical inputs (not a
test; the client is never a dependency of sepm).

For each radius, in WORKDIR/R<radius>/: the published library's potGa.par and potAs.par (resources/), the
client's Gaussian ligands as potP1.par ... potP4.par on the same r grid (the client needs ligand files: its
built-in Gaussians borrow the r grid of Cd's file), then `sepm dot` with that folder as --pot-dir writes
conf.par and levels.dat; the client runs in the same folder on sepm's conf.par and grid (input.par: nx ny nz
from dot.json, energy window around sepm's HOMO and LUMO; an eval.dat of an earlier run on the same
conf.par and input.par is reused: delete it to rerun). Each sepm level is matched to the nearest client
level, converged or not (of a near-degenerate group, its best converged); the table prints both (eV), their
difference (meV), sepm's residual and the client's sigma (both ||H psi - E psi||, Hartree) and the energy
error each implies, residual^2 / (distance to the nearest other level), meV. A difference is meaningful
only where both errors are well below it.

Usage: python bench/dot_client.py CLIENT_BINARY WORKDIR [--radii 9 16 27] [--spacing 0.8] [--center X Y Z]
       [--tol 1e-5] [--nc 4096] [--ms 16] [--ns 8] [--margin 0.03]
Build the client as /work/shared/client-build/README.md says (outside this repository).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from sepm.constants import HARTREE_EV  # sepm's eV (27.2114): the levels are compared in Hartree

ROOT = Path(__file__).resolve().parents[1]


def prepare(folder: Path) -> None:
    """The library's host tables and the client's Gaussian ligands (same r grid) in ``folder``."""
    from sepm.nanocrystal.ligands import ligand_tables
    from sepm.nanocrystal.potfiles import pot_path, read_pot_file, write_pot_file

    folder.mkdir(parents=True, exist_ok=True)
    for s in ("Ga", "As"):
        shutil.copyfile(pot_path(ROOT / "resources/potentials-realspace", s), pot_path(folder, s))
    ga = read_pot_file(pot_path(folder, "Ga"))
    for s, table in ligand_tables(len(ga.v), ga.dr).items():
        write_pot_file(pot_path(folder, s), table)


def run_sepm(folder: Path, radius: float, args) -> tuple[dict, float]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    center = ["--center", *map(str, args.center)] if args.center else []
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sepm", "dot", str(ROOT / "resources/bundles/GaAs"), str(folder / "sepm"),
                    "--pot-dir", str(folder), "--radius", str(radius), "--spacing", str(args.spacing), "--tol",
                    str(args.tol), "--threads", "1", "--max-iter", "20000", *center], check=True, env=env,
                   capture_output=True)
    return json.loads((folder / "sepm/dot.json").read_text()), time.perf_counter() - start


def run_client(binary: Path, folder: Path, rec: dict, args) -> tuple[np.ndarray, float | None]:
    """The client's eval.dat rows (index, E Hartree, sigma) for sepm's conf.par and grid, and its seconds
    (None: the eval.dat of an earlier run on the same conf.par and input.par, reused)."""
    conf = (folder / "sepm/conf.par").read_text()
    energies = [lv["energy_ev"] / HARTREE_EV for lv in rec["levels"]]
    nx, ny, nz = rec["grid"]["shape"]
    inputs = (f"{nx} {ny} {nz}\n{args.ms}\n{args.ns}\n{args.nc}\n{min(energies) - args.margin:.6f}\n"
              f"{max(energies) + args.margin:.6f}\n1\n")
    done = [folder / name for name in ("conf.par", "input.par", "eval.dat")]
    if all(f.is_file() for f in done) and (done[0].read_text(), done[1].read_text()) == (conf, inputs):
        return np.loadtxt(done[2], ndmin=2), None
    done[2].unlink(missing_ok=True)
    done[0].write_text(conf)
    done[1].write_text(inputs)
    start = time.perf_counter()
    with open(folder / "client.log", "w") as out:
        subprocess.run([str(binary)], cwd=folder, check=True, stdout=out, stderr=subprocess.STDOUT,
                       env=dict(os.environ, OMP_NUM_THREADS="1"))
    return np.loadtxt(folder / "eval.dat", ndmin=2), time.perf_counter() - start


def error_bound(residual: float, energy: float, others: np.ndarray) -> float:
    """residual^2 / (distance to the nearest other level), Hartree (levels closer than 1e-5 are one level)."""
    gaps = np.abs(others - energy)
    gaps = gaps[gaps > 1e-5]
    return residual**2 / gaps.min() if len(gaps) else float("nan")


def compare(rec: dict, client: np.ndarray) -> list[tuple]:
    """Each sepm level against the client's nearest level, converged or not (its sigma and error estimate in
    the same row say whether the difference means anything); of client levels within 1e-5 Hartree of the
    nearest (one level, as in error_bound), the one with the smallest sigma."""
    levels = np.array([lv["energy_ev"] / HARTREE_EV for lv in rec["levels"]])
    rows = []
    for lv in rec["levels"]:
        e = lv["energy_ev"] / HARTREE_EV
        distance = np.abs(client[:, 1] - e)
        same = np.flatnonzero(distance < distance.min() + 1e-5)
        j = same[np.argmin(client[same, 2])]
        ec, sc = client[j, 1], client[j, 2]
        rows.append((lv["index"], e, ec, lv["residual_hartree"], sc, error_bound(lv["residual_hartree"], e, levels),
                     error_bound(sc, ec, client[:, 1])))
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("client", type=Path, help="the client's binary (filter.x)")
    p.add_argument("workdir", type=Path, help="scratch folder for the runs (outside the repository)")
    p.add_argument("--radii", type=float, nargs="+", default=[9.0, 16.0, 27.0])
    p.add_argument("--spacing", type=float, default=0.8)
    p.add_argument("--center", type=float, nargs=3, help="sphere centre (Bohr; default the first atom)")
    p.add_argument("--tol", type=float, default=1e-5, help="sepm's residual target (Hartree)")
    p.add_argument("--nc", type=int, default=4096, help="client: Newton interpolation length (filter width)")
    p.add_argument("--ms", type=int, default=16, help="client: energy targets per filter")
    p.add_argument("--ns", type=int, default=8, help="client: filter cycles (random starts)")
    p.add_argument("--margin", type=float, default=0.03, help="client window beyond sepm's levels (Hartree)")
    args = p.parse_args()
    if not args.client.is_file() or not os.access(args.client, os.X_OK):
        print(f"skipped: no client binary at {args.client} (build it as /work/shared/client-build/README.md says)")
        return 0
    print(f"{'R':>5} {'sites':>6} {'grid':>10} {'index':>6} {'sepm eV':>12} {'client eV':>12} {'diff meV':>9} "
          f"{'res sepm':>9} {'sig client':>10} {'err sepm':>9} {'err client':>10}")
    for radius in args.radii:
        centre = "_c" + "_".join(f"{x:g}" for x in args.center) if args.center else ""
        folder = args.workdir / f"R{radius:g}{centre}"
        prepare(folder)
        rec, t_sepm = run_sepm(folder, radius, args)
        client, t_client = run_client(args.client.resolve(), folder, rec, args)
        sites = rec["n_core"] + rec["n_ligands"]
        grid = "x".join(map(str, rec["grid"]["shape"]))
        rows = compare(rec, client)
        for index, e, ec, rs, sc, bs, bc in rows:
            print(f"{radius:5g} {sites:6d} {grid:>10} {index:6d} {e * HARTREE_EV:12.6f} {ec * HARTREE_EV:12.6f} "
                  f"{(e - ec) * HARTREE_EV * 1e3:9.4f} {rs:9.1e} {sc:10.1e} {bs * HARTREE_EV * 1e3:9.1e} "
                  f"{bc * HARTREE_EV * 1e3:10.1e}")
        client_time = "reused" if t_client is None else f"{t_client:.0f} s"
        worst = max(abs(row[1] - row[2]) for row in rows) * HARTREE_EV * 1e3
        err_sepm, err_client = (np.nanmax([row[k] for row in rows]) * HARTREE_EV * 1e3 for k in (5, 6))
        print(f"# R = {radius:g}: largest |sepm - client| {worst:.5f} meV, largest error estimate sepm "
              f"{err_sepm:.1e} meV, client {err_client:.1e} meV; sepm {t_sepm:.0f} s, client {client_time} "
              f"(1 thread each), load {os.getloadavg()[0]:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
