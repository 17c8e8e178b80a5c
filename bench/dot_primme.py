"""Quantum-dot benchmark (not a test): sepm's dot solver against PRIMME on the same edge of the same dot.

PRIMME (Stathopoulos and McCombs) is the reference library for a few interior eigenpairs of a large
Hermitian operator: GD+k (``PRIMME_DEFAULT_MIN_MATVECS``) and JDQMR (``PRIMME_DEFAULT_MIN_TIME``) with a
preconditioner approximating (H - sigma)^-1, targeting the eigenvalues closest to sigma. Both solvers get
the passivated GaAs dot of bench/dot.py (published real-space library, spacing 0.8 Bohr), the bulk VBM
(valence) or CBM (conduction) on the dot's grid as sigma (as ``sepm dot`` takes them), the same
convergence test (every residual ||H psi - E psi|| < 1e-4 Hartree) and, for PRIMME, sepm's coarse-grid
start (counted). PRIMME's preconditioner is either (T + s)^-1 or sepm's two-grid preconditioner with
beta = 0, i.e. [(H_c - sigma)^2 + eps]^-1 (H_c - sigma) on the coarse frequencies and (T + s)^-1 above
them. sepm finds 4 states and completes a degenerate level; PRIMME finds 4. Applications are fine-grid
equivalents (a coarse one counts N_coarse / N, a float32 one as one).

PRIMME has no wheel for Python 3.11 on Linux and is not a dependency. To build it (about 8 minutes on
2 cores) where liblapack.so.3 and libblas.so.3 are installed but not their development links:

    mkdir -p /tmp/lapack && ln -sf /usr/lib/x86_64-linux-gnu/liblapack.so.3 /tmp/lapack/liblapack.so \\
      && ln -sf /usr/lib/x86_64-linux-gnu/libblas.so.3 /tmp/lapack/libblas.so
    LDFLAGS=-L/tmp/lapack pip install primme==3.2.3

Usage: python bench/dot_primme.py [--radii 16 27] [--sides valence conduction] [--threads 2]
       [--methods gdk jdqmr] [--preconditioners kinetic two-grid]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
METHODS = {"gdk": "PRIMME_DEFAULT_MIN_MATVECS", "jdqmr": "PRIMME_DEFAULT_MIN_TIME"}


def dot_hamiltonian(radius: float, spacing: float):
    """The passivated GaAs dot's H on its grid, its core atoms, and the bulk VBM and CBM on that grid (Hartree)."""
    from sepm.crystal import Crystal
    from sepm.io import read_bundle
    from sepm.nanocrystal.builder import build_nanocrystal
    from sepm.nanocrystal.dot import DotSettings, dot_bulk_edges
    from sepm.nanocrystal.grid import DotGrid, centred, potential_on_grid
    from sepm.nanocrystal.hamiltonian import GridHamiltonian
    from sepm.nanocrystal.ligands import ligand_tables
    from sepm.nanocrystal.potfiles import read_library

    system = read_bundle(ROOT / "resources/bundles/GaAs").systems[0]
    tables = read_library(ROOT / "resources/potentials-realspace", ["As", "Ga"])
    tables.update(ligand_tables(1024, tables["Ga"].dr))
    species = sorted(set(system.atom_species))
    s = DotSettings(radius=radius, spacing=spacing)
    nc = build_nanocrystal(Crystal.from_system(system, species=species), radius, s.center, s.center_atom,
                           s.passivation, s.min_bonds)
    positions = centred(nc.positions)
    grid = DotGrid.around(positions, s.spacing, s.vacuum)
    V, _ = potential_on_grid(grid, nc.symbols, positions, tables, s.cut_tol)
    edges = dot_bulk_edges(system, tables, species, grid, s.kinetic_cap)
    return GridHamiltonian(grid, V, s.kinetic_cap), nc.n_core, edges["vbm"], edges["cbm"]


def run_primme(H, sigma: float, start: torch.Tensor, method: str, preconditioner: str, tol: float):
    """PRIMME's 4 eigenpairs of H nearest sigma from ``start`` (rows): energies, applications, seconds."""
    import primme
    from scipy.sparse.linalg import LinearOperator

    from sepm.nanocrystal.solver import SHIFT
    from sepm.nanocrystal.two_grid import TwoGridPreconditioner

    n = H.size
    two_grid = TwoGridPreconditioner(H, sigma, SHIFT)
    kinetic = 1.0 / (H.T + SHIFT)

    def rows(x):
        return torch.from_numpy(np.ascontiguousarray(x.reshape(n, -1).T))

    def apply(x):
        return H.apply(rows(x)).T.numpy()

    def precondition(x):
        R = rows(x)
        if preconditioner == "two-grid":
            return two_grid(R, torch.zeros(R.shape[0], dtype=R.dtype)).T.numpy()
        F = torch.fft.rfftn(R.reshape(-1, *H.shape), dim=(-3, -2, -1)) * kinetic
        return torch.fft.irfftn(F, s=H.shape, dim=(-3, -2, -1)).reshape(R.shape[0], -1).T.numpy()

    A = LinearOperator((n, n), matvec=apply, matmat=apply, dtype=np.float64)
    K = LinearOperator((n, n), matvec=precondition, matmat=precondition, dtype=np.float64)
    before, t0 = H.applications, time.perf_counter()
    w, _ = primme.eigsh(A, k=4, which=sigma, v0=start.T.numpy().copy(), OPinv=K, tol=1e-12, method=METHODS[method],
                        maxiter=20000, convtest=lambda e, x, r: r < tol)
    return np.sort(w), H.applications - before, time.perf_counter() - t0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--radii", type=float, nargs="+", default=[16.0, 27.0])
    p.add_argument("--spacing", type=float, default=0.8)
    p.add_argument("--sides", nargs="+", choices=["valence", "conduction"], default=["valence", "conduction"])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--methods", nargs="+", choices=sorted(METHODS), default=["gdk", "jdqmr"])
    p.add_argument("--preconditioners", nargs="+", choices=["kinetic", "two-grid"], default=["kinetic", "two-grid"])
    args = p.parse_args()
    if importlib.util.find_spec("primme") is None:
        print("primme is not installed: see this script's docstring for how to build it", file=sys.stderr)
        return 2
    from sepm.constants import HARTREE_EV
    from sepm.nanocrystal.solver import COARSE_TOL, GUARD, TOL, grid_states

    torch.set_num_threads(args.threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    print(f"{'R':>5} {'atoms':>6} {'side':>10} {'solver':>22} {'apps':>7} {'start':>6} {'s':>7}  levels (eV)")
    for radius in args.radii:
        H, atoms, vbm, cbm = dot_hamiltonian(radius, args.spacing)
        for side in args.sides:
            sigma = vbm if side == "valence" else cbm

            def row(name, energies, apps, start, seconds):
                levels = " ".join(f"{e * HARTREE_EV:.6f}" for e in energies)
                start = "" if start is None else f"{start:.0f}"
                print(f"{radius:5.1f} {atoms:6d} {side:>10} {name:>22} {apps:7.0f} {start:>6} {seconds:7.1f}  {levels}",
                      flush=True)

            H.applications, t0 = 0, time.perf_counter()
            levels = grid_states(H, sigma, 4)
            row("sepm", levels.energies.tolist(), H.applications, None, time.perf_counter() - t0)
            H.applications, t0 = 0, time.perf_counter()
            Hc = H.coarsened()
            start = H.prolonged(grid_states(Hc, sigma, 4, GUARD, tol=COARSE_TOL).block, Hc)
            start_apps, start_s = H.applications, time.perf_counter() - t0
            for method in args.methods:
                for precond in args.preconditioners:
                    H.applications = start_apps
                    w, apps, seconds = run_primme(H, sigma, start, method, precond, TOL)
                    row(f"primme {method} {precond}", w.tolist(), start_apps + apps, start_apps, start_s + seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
