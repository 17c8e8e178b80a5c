"""A CsPbI3 perovskite cube with the shipped checkpoint's SOC + NL terms: cost per application, memory, and
the band-edge solve from either start (not a test).

Builds the n x n x n-cell cube (sepm.nanocrystal.perovskite) and the spinor grid Hamiltonian with the
checkpoint's local part as radial tables and its a5/a6/a7 projectors (sepm.nanocrystal.spinor), then, in
one run:
  1. the up-front memory estimate (sepm.nanocrystal.estimate.estimate_spinor_dot);
  2. one application per vector, best of --repeat, alternating in one loop on the cube's grid: the spin-free
     local H (GridHamiltonian, same V), the spinor SOC + NL H in complex128, and its complex64 copy;
  3. unless --no-solve, one Kramers pair at each band edge (folded-spectrum LOBPCG, edge_states) from each
     --start: "grid" (coarse grid, complex64 first: what `sepm dot` does) and/or "random" (smooth random
     vectors in complex128, the start before); H applications per converged state (coarse and complex64
     ones counted as fine-grid applications), iterations, seconds, the levels and, for both starts, their
     difference; then the resident memory, sampled at every solver iteration, against the estimate's solver
     part, and the process's peak (the bulk reference at the dot's cap) against its reference part.

Measured (1 thread on the 2-core machine shared by six sessions, load 10-15; tol 1e-3 Ha, h = 0.5 Bohr):

| cube | atoms | grid | ms per application: spin-free / spinor / complex64 | appl. per state, VB / CB | s, VB + CB |
|---|---|---|---|---|---|
| 1 cell, grid start | 11 | 40^3 | 3.0 / 29.1 (9.8x) / 12.3 | 89 / 201 | 17 + 25 |
| 1 cell, random start (same run) | | | | 447 / 728 | 84 + 193 |
| 2 cells, grid start | 64 | 64^3 | 24.3 / 449 (18.4x) / 181 | 226 / 262 | 291 + 234 |
| 2 cells, random start (same run) | | | | 851 / 600 | 1262 + 348 |
| 3 cells (--no-solve) | 189 | 90^3 | 158 / 2840 (18.0x) / 1317 | | |
| 4 cells (--no-solve) | 416 | 120^3 | 281 / 2629 (9.4x) / 1338 | | |
| 4 cells, grid start (another run, load 1-4) | 416 | 120^3 | 58.9 / 583 (9.9x) / 309 | 1243 / 695 | 3483 + 1161 |

The ratios move with the load (9.4-18x). Levels of both starts the same to 0.1 meV (1 cell), 0.3 meV
(2 cells). The 4-cell cube (~2.5 nm) solved at 1 thread: HOMO -5.52539 eV (65 meV below the bulk VBM
at 10 Ha), LUMO -3.84109 eV (364 meV above the CBM), gap 1.684 eV (bulk 1.256), not flagged; resident
5.98 GiB during the solves against 15.25 GiB estimated (safe, 2.5x high), peak 6.90 GiB. Not solved: 3
cells. Memory: 1 cell,
resident up to 0.66 GiB during the solves against 0.85 GiB estimated, the run's peak (the bulk reference
at 10 Ha) 2.32 GiB against 2.26; 2 cells, 1.83 GiB during the solves against 2.53, the run's peak 2.52.

Usage: python bench/dot_cube.py [--cells 2] [--spacing 0.5] [--vacuum 4] [--tol 1e-3] [--threads 1]
                                [--start grid random] [--no-solve] [--block 4] [--repeat 3] [--device cpu]
(the issue's 2.5 nm cube: --cells 4)
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

import torch

from sepm.constants import HARTREE_EV
from sepm.crystal import Crystal
from sepm.io.limits import estimated_basis_size
from sepm.nanocrystal.bulk_reference import bulk_band_edges, edges_in_dot_basis
from sepm.nanocrystal.estimate import BASE_BYTES, estimate_spinor_dot
from sepm.nanocrystal.grid import DotGrid, centred
from sepm.nanocrystal.hamiltonian import KINETIC_CAP, GridHamiltonian
from sepm.nanocrystal.perovskite import perovskite_cube
from sepm.nanocrystal.projectors import channel_strengths
from sepm.nanocrystal.radial import tables_from_form_factor
from sepm.nanocrystal.solver import edge_states
from sepm.nanocrystal.spinor import dot_hamiltonian
from sepm.nanocrystal.spinor_dot import dot_pseudopotential
from sepm.nanocrystal.supercell import checkpoint_pseudopotential

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT_BUNDLE = ROOT / "tests" / "data" / "deeppseudopot" / "test_parallel_inputs_SOC_noPara"


def checkpoint_dot_potential():
    """The shipped CsPbI3 SOC checkpoint: (pseudopotential, system, its exported tables, the dot's terms)."""
    pp, system = checkpoint_pseudopotential(CHECKPOINT_BUNDLE)
    tables, _ = tables_from_form_factor(pp.local_form_factor, list(pp.species))
    dot_pp = dot_pseudopotential(tables, {s: p[5:8].numpy() for s, p in zip(pp.species, pp.params)}, pp.soc,
                                 pp.nonlocal_)
    return pp, system, tables, dot_pp


def resident_gib() -> float:
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**30


def per_vector_times(ops: dict, block: dict, repeat: int) -> dict:
    """Best of ``repeat`` seconds per vector of each op on its block, the ops alternating in one loop."""
    best = dict.fromkeys(ops, float("inf"))
    for _ in range(repeat):
        for name, op in ops.items():
            t = time.perf_counter()
            op(block[name])
            best[name] = min(best[name], (time.perf_counter() - t) / len(block[name]))
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=2)
    ap.add_argument("--spacing", type=float, default=0.5)
    ap.add_argument("--vacuum", type=float, default=4.0)
    ap.add_argument("--tol", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--start", nargs="+", choices=("grid", "random"), default=["grid"])
    ap.add_argument("--no-solve", action="store_true", help="only the estimate and the application timings")
    ap.add_argument("--block", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    pp, system, tables, dot_pp = checkpoint_dot_potential()
    dot = perovskite_cube(args.cells, system.scale)
    positions = centred(dot.positions)
    grid = DotGrid.around(positions, args.spacing, args.vacuum)
    n_states = 2
    lattice = Crystal.from_system(system, species=dot_pp.species).lattice
    estimate = estimate_spinor_dot(grid, dot.symbols, channel_strengths(dot_pp), n_states,
                                   estimated_basis_size(lattice, KINETIC_CAP))
    t = time.perf_counter()
    H = dot_hamiltonian(grid, dot.symbols, positions, tables, dot_pp, device=args.device)
    t_build = time.perf_counter() - t
    print(f"CsPbI3 cube {args.cells}^3 cells ({args.cells * system.scale:.2f} Bohr edge): {dot.counts}, grid "
          f"{'x'.join(map(str, grid.shape))} at h = {args.spacing}, {args.threads} thread(s); Hamiltonian built in "
          f"{t_build:.1f} s; estimate: {estimate.summary()}")

    spin_free, low = GridHamiltonian(grid, H.V, KINETIC_CAP), H.single()
    X = H.smooth_random(args.block, 1)
    t = per_vector_times({"spin-free": spin_free.apply, "spinor": H.apply, "spinor complex64": low.apply},
                         {"spin-free": spin_free.smooth_random(args.block, 1), "spinor": X,
                          "spinor complex64": X.to(torch.complex64)}, args.repeat)
    print(f"one application per vector (block {args.block}, best of {args.repeat}, alternating): "
          + ", ".join(f"{k} {v * 1e3:.1f} ms ({v / t['spin-free']:.1f}x)" for k, v in t.items()))
    if args.no_solve:
        return

    fit = bulk_band_edges(system, dot_pp, tables, dot.valence, args.device)
    edges = edges_in_dot_basis(system, dot_pp, tables, fit, KINETIC_CAP, dot.valence, args.device)
    mid = 0.5 * (edges["vbm"] + edges["cbm"])
    print(f"bulk edges at the dot's cap ({KINETIC_CAP:g} Ha): VBM {edges['vbm'] * HARTREE_EV:.4f} eV, CBM "
          f"{edges['cbm'] * HARTREE_EV:.4f} eV, gap {edges['gap'] * HARTREE_EV:.4f} eV")
    found, resident = {}, [resident_gib()]
    for start in args.start:
        for side, sigma in (("valence", edges["vbm"]), ("conduction", edges["cbm"])):
            H.applications = 0
            t = time.perf_counter()
            levels, mask, _ = edge_states(H, sigma, n_states, mid, side == "conduction", tol=args.tol,
                                          coarse=start == "grid", single=start == "grid",
                                          progress=lambda *_: resident.append(resident_gib()))
            seconds = time.perf_counter() - t
            found[start, side] = levels.energies.cpu().numpy() * HARTREE_EV
            print(f"start {start:6s} {side:10s}: {levels.iterations} iterations, {H.applications:.0f} applications "
                  f"({H.applications / len(levels.energies):.0f} per converged state), {seconds:.0f} s, converged "
                  f"{levels.converged}; levels {', '.join(f'{e:.5f}' for e in found[start, side])} eV")
    if len(args.start) == 2:
        for side in ("valence", "conduction"):
            a, b = found["grid", side], found["random", side]
            n = min(len(a), len(b))
            print(f"{side}: largest level difference between the starts {abs(a[:n] - b[:n]).max() * 1e3:.3f} meV")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"resident memory during the solves up to {max(resident):.2f} GiB, estimated "
          f"{(BASE_BYTES + estimate.solver_bytes) / 2**30:.2f} GiB; peak of the run {peak:.2f} GiB, the bulk reference "
          f"estimated {(BASE_BYTES + estimate.reference_bytes) / 2**30:.2f} GiB")


if __name__ == "__main__":
    main()
