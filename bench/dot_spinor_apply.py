"""Cost of one spinor application with the fit's SOC + NL projectors against a spin-free local one (not a test).

The same grid (a periodic CsPbI3 supercell of the shipped checkpoint, repeats r x r x r, spacing h) and the
same block of m vectors, timed side by side in one run (best of R):
  spin-free  GridHamiltonian.apply (real states, rfftn)
  spinor     SpinorGridHamiltonian.apply without projectors (complex, two components)
  spinor+    with the SOC (a5) + NL (a6, a7) projectors
Printed: seconds per vector and the ratios to the spin-free application.

Usage: python bench/dot_spinor_apply.py [--repeats 2] [--spacing 0.5] [--block 8] [--repeat 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from sepm.crystal import Crystal
from sepm.nanocrystal.hamiltonian import GridHamiltonian
from sepm.nanocrystal.spinor import SpinorGridHamiltonian
from sepm.nanocrystal.supercell import checkpoint_pseudopotential, grid_hamiltonian, supercell

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT_BUNDLE = ROOT / "tests" / "data" / "deeppseudopot" / "test_parallel_inputs_SOC_noPara"


def best(fn, repeat):
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return min(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--spacing", type=float, default=0.5)
    ap.add_argument("--block", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    pp, system = checkpoint_pseudopotential(CHECKPOINT_BUNDLE)
    cell = supercell(Crystal.from_system(system, species=pp.species), (args.repeats,) * 3)
    t = time.perf_counter()
    H = grid_hamiltonian(cell, pp, args.spacing, kinetic_cap=10.0)
    setup = time.perf_counter() - t
    plain = SpinorGridHamiltonian(H.grid, H.V, None, 10.0)
    real = GridHamiltonian(H.grid, H.V, 10.0)
    m = args.block
    X = H.smooth_random(m, 0)
    Xr = real.smooth_random(m, 0)
    times = {"spin-free": best(lambda: real.apply(Xr), args.repeat) / m,
             "spinor": best(lambda: plain.apply(X), args.repeat) / m,
             "spinor+SOC+NL": best(lambda: H.apply(X), args.repeat) / m}
    print(f"CsPbI3 {args.repeats}^3 cells ({len(cell.atom_species)} atoms), grid {'x'.join(map(str, H.grid.shape))}, "
          f"h = {args.spacing} Bohr, block {m}, {args.threads} thread(s); projector setup {setup:.1f} s")
    print(f"projectors: {H.projectors.record['species']}")
    for name, s in times.items():
        print(f"{name:14s} {s * 1e3:9.1f} ms/vector   x{s / times['spin-free']:.2f}")


if __name__ == "__main__":
    main()
