"""Supercell check of the dot's spinor grid Hamiltonian, converged (not a test; see tests/test_dot_spinor.py).

A periodic supercell in the grid box has at Gamma the bulk levels at the k-points folding onto Gamma. For
each grid spacing the lowest levels of the grid Hamiltonian (local part from radial tables, SOC/NL as
atom-centred projectors, periodic images of every term) are compared with the plane-wave Hamiltonian of
``sepm.hamiltonian`` at Gamma in the same plane waves (the FFT box), both by ARPACK (Lanczos), 1 thread.
Printed: max |E_grid - E_pw| over the lowest levels, for the local part alone and with SOC + NL, and the
difference of the SOC + NL shifts (E_full - E_local) between the two.

Usage: python bench/dot_supercell.py {gaas,cspbi3} SPACING [SPACING ...] [--kmax K] [--levels N]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import scipy.sparse.linalg as sla
import torch

from sepm.basis import PlaneWaveBasis
from sepm.constants import HARTREE_EV
from sepm.crystal import Crystal
from sepm.hamiltonian import Hamiltonian
from sepm.nanocrystal.projectors import K_MAX
from sepm.nanocrystal.supercell import grid_hamiltonian, plane_wave_miller

ROOT = Path(__file__).resolve().parents[1]


def materials(name):
    if name == "gaas":
        from sepm.io.bundle import read_bundle
        from sepm.pseudopotential import Pseudopotential

        bundle = read_bundle(ROOT / "resources" / "bundles" / "GaAs")
        pp = replace(Pseudopotential.from_bundle(bundle), long_range=False)
        frac = np.array([[0, 0, 0], [.25, .25, .25], [0, .5, .5], [.25, .75, .75], [.5, 0, .5], [.75, .25, .75],
                         [.5, .5, 0], [.75, .75, .25]])
        return Crystal(np.eye(3) * bundle.systems[0].scale, ("Ga", "As") * 4, frac, pp.species), pp
    from sepm.nanocrystal.supercell import checkpoint_pseudopotential

    folder = ROOT / "tests" / "data" / "deeppseudopot" / "test_parallel_inputs_SOC_noPara"
    pp, system = checkpoint_pseudopotential(folder)
    return Crystal.from_system(system, species=pp.species), pp


def lowest(matvec, dim, n):
    op = sla.LinearOperator((dim, dim), matvec=matvec, dtype=np.complex128)
    return np.sort(sla.eigsh(op, k=n, which="SA", tol=1e-11, ncv=max(3 * n, 60))[0])


def levels(cell, pp, spacing, k_max, n):
    t = time.perf_counter()
    H = grid_hamiltonian(cell, pp, spacing, k_max)
    m = n + 8  # a few more than compared, so that no multiplet is cut at the edge on one side only
    grid = lowest(lambda x: H.apply(torch.as_tensor(x.reshape(1, -1))).numpy().ravel(), H.size, m)[:n]
    t_grid = time.perf_counter() - t
    pw = Hamiltonian(PlaneWaveBasis(cell, 0.0, miller=plane_wave_miller(H.grid)), pp)
    h = pw.matrices(torch.zeros((1, 3), dtype=torch.float64))[0].numpy()
    ref = lowest(lambda x: h @ x, h.shape[0], m) if pw.spinor else np.repeat(lowest(lambda x: h @ x, h.shape[0],
                                                                                     m // 2), 2)
    return H.grid.shape, grid, ref[:n], t_grid


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("material", choices=["gaas", "cspbi3"])
    ap.add_argument("spacing", type=float, nargs="+")
    ap.add_argument("--kmax", type=float, default=K_MAX)
    ap.add_argument("--levels", type=int, default=40)
    args = ap.parse_args()
    torch.set_num_threads(1)
    cell, pp = materials(args.material)
    local = replace(pp, soc=False, nonlocal_=False)
    print(f"{args.material}: {len(cell.atom_species)} atoms, lowest {args.levels} levels at Gamma, k_max "
          f"{args.kmax:.3f} 1/Bohr; differences grid - plane waves in meV")
    print("spacing  grid        local_max  full_max  soc_nl_shift_max  grid_seconds")
    for h in args.spacing:
        shape, g0, p0, _ = levels(cell, local, h, args.kmax, args.levels)
        if pp.soc or pp.nonlocal_:
            _, g1, p1, t = levels(cell, pp, h, args.kmax, args.levels)
            full, shift = np.abs(g1 - p1).max(), np.abs((g1 - g0) - (p1 - p0)).max()
        else:
            full = shift = t = float("nan")
        print(f"{h:7.3f}  {'x'.join(map(str, shape)):10s} {np.abs(g0 - p0).max() * 1e3 * HARTREE_EV:9.2f} "
              f"{full * 1e3 * HARTREE_EV:9.2f} {shift * 1e3 * HARTREE_EV:12.2f} {t:10.1f}", flush=True)


if __name__ == "__main__":
    main()
