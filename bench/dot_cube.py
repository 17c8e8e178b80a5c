"""HOMO and LUMO of a CsPbI3 perovskite cube with the shipped checkpoint's SOC + NL terms (not a test).

Builds the n x n x n-cell cube (sepm.nanocrystal.perovskite), the spinor grid Hamiltonian with the
checkpoint's local part as radial tables and its a5/a6/a7 projectors, and solves one Kramers pair at each
band edge by folded-spectrum LOBPCG (sepm.nanocrystal.spinor_dot). Prints the atoms, the grid, the
Hamiltonian's build time, one application's time, and per edge the iterations, H applications per
converged state and seconds; then HOMO, LUMO and gap against the bulk SOC gap.

Usage: python bench/dot_cube.py [--cells 4] [--spacing 0.5] [--vacuum 4] [--tol 1e-3] [--threads 2] [--out DIR]
(4 x 4 x 4 cells: 416 atoms, 2.5 nm; at h = 0.5 Bohr about 1.7 M grid points per spin component.)
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import torch

from sepm.nanocrystal.perovskite import perovskite_cube
from sepm.nanocrystal.radial import tables_from_form_factor
from sepm.nanocrystal.spinor_dot import SpinorDotSettings, dot_pseudopotential, run_spinor_dot
from sepm.nanocrystal.supercell import checkpoint_pseudopotential

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT_BUNDLE = ROOT / "tests" / "data" / "deeppseudopot" / "test_parallel_inputs_SOC_noPara"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=4)
    ap.add_argument("--spacing", type=float, default=0.5)
    ap.add_argument("--vacuum", type=float, default=4.0)
    ap.add_argument("--tol", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", help="folder for dot.json, levels.dat and the cube files (default: a temporary one)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    pp, system = checkpoint_pseudopotential(CHECKPOINT_BUNDLE)
    t = time.perf_counter()
    tables, _ = tables_from_form_factor(pp.local_form_factor, list(pp.species))
    coeffs = {s: p[5:8].numpy() for s, p in zip(pp.species, pp.params)}
    dot_pp = dot_pseudopotential(tables, coeffs, pp.soc, pp.nonlocal_)
    t_tables = time.perf_counter() - t
    dot = perovskite_cube(args.cells, system.scale)
    out = Path(args.out or tempfile.mkdtemp(prefix="dot_cube_"))
    out.mkdir(parents=True, exist_ok=True)
    settings = SpinorDotSettings(spacing=args.spacing, vacuum=args.vacuum, n_valence=1, n_conduction=1, tol=args.tol)
    t = time.perf_counter()
    rec = run_spinor_dot(dot, system, dot_pp, tables, settings, out,
                         {"radius_bohr": 0.5 * args.cells * system.scale, "cells": args.cells}, device=args.device)
    total = time.perf_counter() - t
    s = rec["solver"]
    print(f"CsPbI3 cube {args.cells}^3 cells ({args.cells * system.scale:.2f}"
          f" Bohr edge): {rec['atoms']}, grid {'x'.join(map(str, rec['grid']['shape']))} at h = {args.spacing}, "
          f"{args.threads} thread(s), tol {args.tol:g} Ha; tables {t_tables:.1f} s, Hamiltonian "
          f"{s['seconds_hamiltonian']:.1f} s, one spinor application {s['seconds_per_application']:.3f} s")
    for side in ("valence", "conduction"):
        r = s[side]
        print(f"{side:10s}: {r['iterations']} iterations, {r['applications']} applications "
              f"({r['applications_per_state']:.0f} per converged state), {r['seconds']:.0f} s, "
              f"converged {r['converged']}")
    print(f"HOMO {rec['homo_ev']:.4f} eV, LUMO {rec['lumo_ev']:.4f} eV, gap {rec['gap_ev']:.4f} eV (bulk SOC gap "
          f"{rec['bulk']['gap']:.4f} eV); flags {rec['sanity']['flags'] or 'none'}; total {total:.0f} s; "
          f"files in {out}")


if __name__ == "__main__":
    main()
