"""What the CsPbI3 cubes' band edges are compared with (not a test): the bulk reference against the dot's own
Hamiltonian on the bulk, and the share of the potential's tail a cube sees.

1. Reference: a spinor dot is compared with the bulk edges in the plane waves |G|^2/2 < kinetic cap
   (sepm.nanocrystal.bulk_reference.edges_in_dot_basis). The dot's grid holds every plane wave of its FFT box
   with the kinetic energy capped instead. The periodic 2 x 2 x 2 supercell on the dot's grid (same spacing,
   cap, tables and projectors; sepm.nanocrystal.supercell.grid_hamiltonian) has at Gamma the bulk levels at R,
   where this checkpoint's edges are: its VBM and CBM (folded-spectrum LOBPCG, two Kramers pairs per edge)
   against the reference's.
2. Tails: the average local potential over one unit cell of the bulk (its G = 0 term) and over the central
   cell of cubes of 1-3 cells, with the radial tables as they are (1024 rows, 25.7 Bohr: this checkpoint's
   v(r) has not decayed there) and cut to zero beyond 12 and 8 Bohr. The part of the bulk average from
   beyond the cut that a cube's centre does not see moves the cube's levels against the bulk edges.

Measured at h = 0.5 Bohr, cap 10 Ha (supercell grid 48^3, h = 0.495):
- reference VBM -5.4606 / CBM -4.2050 eV; the dot's Hamiltonian on the bulk -5.4654 / -4.2882 eV: the VBM
  5 meV, the CBM 83 meV lower (the capped kinetic energy over the whole FFT box, or the grid's error at
  h = 0.5: not separated here);
- bulk <V> -7.8401 eV with the tables as they are, -7.6066 / -7.5769 eV cut at 12 / 8 Bohr: 0.23 eV of the
  bulk's average potential comes from beyond 12 Bohr; the central cell of the 2-cell cube sees 0.06 eV of
  it (-6.9908 against -6.9322 eV), of the 3-cell cube 0.20 eV, of the 1-cell cube 0.001 eV.
So a 2-cell cube's levels sit ~0.17 eV higher against these bulk edges than they would with a potential
that decays by 12 Bohr, and the same dot with the export's 8192-row tables (205 Bohr; the pipeline) has its
HOMO 20 meV above the VBM where these 1024-row tables (bench/dot_cube.py) put it 107 meV below: the
comparison carries the tail's uncertainty, ~0.1 eV, for this init-only checkpoint.

Usage: python bench/dot_cube_reference.py [--spacing 0.5] [--cap 10] [--tol 1e-4] [--no-supercell] [--threads 1]
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np
import torch

from sepm.constants import HARTREE_EV
from sepm.crystal import Crystal
from sepm.nanocrystal.bulk_reference import bulk_band_edges, edges_in_dot_basis
from sepm.nanocrystal.grid import DotGrid, centred, potential_on_grid
from sepm.nanocrystal.perovskite import perovskite_cube
from sepm.nanocrystal.solver import edge_states
from sepm.nanocrystal.supercell import box_grid, grid_hamiltonian, periodic_local_potential, supercell

from dot_cube import checkpoint_dot_potential  # noqa: E402  (bench/ is the script's folder)


def cut_tables(tables: dict, r_cut: float | None) -> dict:
    """The tables shifted by their last value (as the grid uses them) and zero beyond ``r_cut``."""
    if r_cut is None:
        return tables
    return {s: replace(t, v=np.where(np.arange(len(t.v)) * t.dr < r_cut, np.asarray(t.v) - t.v[-1], 0.0))
            for s, t in tables.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spacing", type=float, default=0.5)
    ap.add_argument("--cap", type=float, default=10.0, help="the dot's kinetic-energy cap, Hartree")
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--no-supercell", action="store_true", help="only the tails")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    pp, system, tables, dot_pp = checkpoint_dot_potential()
    crystal = Crystal.from_system(system, species=pp.species)

    grid = box_grid(crystal, args.spacing)
    for r_cut in (None, 12.0, 8.0):
        t = cut_tables(tables, r_cut)
        line = (f"tables {'as they are' if r_cut is None else f'cut at {r_cut:g} Bohr'}: bulk <V> "
                f"{periodic_local_potential(grid, crystal, t).mean().item() * HARTREE_EV:.4f} eV")
        for n in (1, 2, 3):
            dot = perovskite_cube(n, system.scale)
            positions = centred(dot.positions)
            box = DotGrid.around(positions, args.spacing, 4.0)
            V, _ = potential_on_grid(box, dot.symbols, positions, t)
            central = np.ix_(*[np.abs(x) < system.scale / 2 for x in box.axes()])
            line += f"; {n}-cell cube, central cell {V[central].mean().item() * HARTREE_EV:.4f} eV"
        print(line, flush=True)
    if args.no_supercell:
        return

    fit = bulk_band_edges(system, dot_pp, tables)
    ref = edges_in_dot_basis(system, dot_pp, tables, fit, args.cap)
    H = grid_hamiltonian(supercell(crystal, (2, 2, 2)), dot_pp, args.spacing, kinetic_cap=args.cap)
    print(f"reference, plane waves |G|^2/2 < {args.cap:g} Ha: VBM {ref['vbm'] * HARTREE_EV:.4f} eV at {ref['k_vbm']}, "
          f"CBM {ref['cbm'] * HARTREE_EV:.4f} eV at {ref['k_cbm']}; 2x2x2 supercell grid "
          f"{'x'.join(map(str, H.shape))} (h = {H.grid.spacing[0]:.3f} Bohr, kinetic energy capped at {args.cap:g} Ha)",
          flush=True)
    mid = 0.5 * (ref["vbm"] + ref["cbm"])
    for side, edge in (("valence", "vbm"), ("conduction", "cbm")):
        levels, mask, _ = edge_states(H, ref[edge], 4, mid, side == "conduction", tol=args.tol)
        e = levels.energies[mask]
        grid_edge = float(e.max() if side == "valence" else e.min())
        print(f"{side}: supercell grid {grid_edge * HARTREE_EV:.4f} eV, reference {ref[edge] * HARTREE_EV:.4f} eV, "
              f"difference {(grid_edge - ref[edge]) * HARTREE_EV * 1e3:+.1f} meV (converged {levels.converged})",
              flush=True)


if __name__ == "__main__":
    main()
