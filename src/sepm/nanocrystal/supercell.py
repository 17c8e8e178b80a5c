r"""Validation of the dot's grid Hamiltonian on a periodic supercell, against the plane-wave Hamiltonian.

A cubic or orthorhombic supercell (``repeats`` of a bulk cell whose lattice is diagonal) fills the grid box
exactly; every term gets its periodic images (the local potential as the sum of the image atoms'
potentials, the SOC/NL projectors with wrapped stencils). Its states at Gamma are then the bulk states at
the k-points that fold onto Gamma, k = (j1/r1, j2/r2, j3/r3) in units of the cell's reciprocal vectors.

Two references, both the plane-wave Hamiltonian of ``sepm.hamiltonian`` (what ``sepm bands`` diagonalizes;
at Gamma of the supercell it is block diagonal in the folded k-points), no long-range tail:

- :func:`plane_wave_reference`: in every plane wave the grid holds (the FFT box, Miller indices
  -n/2 .. n/2 - 1, kinetic energy uncapped on both sides), dense, so coarse grids only;
- :func:`galerkin_levels`: in the plane waves |G|^2/2 < maxKE, the grid H applied to each of them on the
  grid and projected on all, at any spacing.

Either way the two differ only by what real space does: the local potential is a product on the grid points
(v(q) aliased by the grid's reciprocal vectors, and the radial tables' cut and shift by their last value) and
the projections are grid sums; the aliasing falls as v(q) and the projectors' content beyond the grid's
wavenumbers vanish with the spacing.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from ..basis import PlaneWaveBasis
from ..crystal import Crystal
from ..hamiltonian import Hamiltonian
from ..pseudopotential import Pseudopotential
from .grid import CUT_TOL, DotGrid, cut_radius, fft_size, radial_values
from .projectors import K_MAX, AtomProjectors, channel_strengths, stencils
from .radial import tables_from_form_factor
from .spinor import SpinorGridHamiltonian


def box_lengths(cell: Crystal) -> np.ndarray:
    """The edges of a cell whose lattice is diagonal (cubic or orthorhombic), else ValueError."""
    lattice = np.asarray(cell.lattice)
    if np.abs(lattice - np.diag(np.diag(lattice))).max() > 1e-9:
        raise ValueError("a supercell box needs a cell with a diagonal lattice (cubic or orthorhombic)")
    return np.diag(lattice)


def supercell(crystal: Crystal, repeats) -> Crystal:
    """The bulk cell repeated (r1, r2, r3) times; the lattice must be diagonal (a box)."""
    lattice = np.diag(box_lengths(crystal))
    reps = np.asarray(repeats, dtype=int)
    shifts = np.stack(np.meshgrid(*[np.arange(r) for r in reps], indexing="ij"), -1).reshape(-1, 3)
    frac = (crystal.frac[None, :, :] + shifts[:, None, :]) / reps
    symbols = tuple(crystal.atom_species) * len(shifts)
    return Crystal(lattice * reps[:, None], symbols, frac.reshape(-1, 3), crystal.species)


def box_grid(cell: Crystal, spacing: float) -> DotGrid:
    """The grid box of a supercell: [-L/2, L/2) per axis, n points with L / n <= spacing."""
    lengths = box_lengths(cell)
    return DotGrid(tuple(float(x) / 2.0 for x in lengths),
                   tuple(fft_size(math.ceil(x / spacing - 1e-9)) for x in lengths))


def periodic_local_potential(grid: DotGrid, cell: Crystal, tables: dict, device="cpu") -> torch.Tensor:
    """V on the grid of the periodic supercell: each atom's table (as the client uses it, cut where it is
    below CUT_TOL) summed over the wrapped stencil of its cut radius, i.e. over all its periodic images."""
    symbols = np.asarray(cell.atom_species)
    positions = cell.positions - 0.5 * box_lengths(cell)
    V = torch.zeros(grid.size, dtype=torch.float64, device=device)
    for s in sorted(set(symbols.tolist())):
        table = tables[s]
        values = np.asarray(table.v, dtype=np.float64) - table.v[-1]
        idx, _, dist, inside = stencils(grid, positions[symbols == s], cut_radius(table.r, values, CUT_TOL),
                                         True, device)
        vals, nodes = (torch.as_tensor(x, dtype=torch.float64, device=device) for x in (values, table.r))
        V.index_add_(0, idx[inside], radial_values(nodes, vals, dist[inside]))
    return V.reshape(grid.shape)


def grid_hamiltonian(cell: Crystal, pseudopotential, spacing: float, k_max: float = K_MAX, device="cpu",
                     kinetic_cap: float = math.inf):
    """The dot's spinor grid Hamiltonian of the periodic supercell ``cell``: the pseudopotential's local part
    as radial tables (the export's transform, no long-range tail), its SOC/NL terms as projectors exact on
    wavenumbers up to ``k_max``."""
    grid = box_grid(cell, spacing)
    species = list(pseudopotential.species)
    tables, _ = tables_from_form_factor(pseudopotential.local_form_factor, species)
    V = periodic_local_potential(grid, cell, tables, device)
    strengths = channel_strengths(pseudopotential)
    projectors = None
    if strengths:
        positions = cell.positions - 0.5 * box_lengths(cell)
        projectors = AtomProjectors(grid, cell.atom_species, positions, strengths, k_max, periodic=True,
                                     device=device)
    return SpinorGridHamiltonian(grid, V, projectors, kinetic_cap)


def plane_wave_reference(cell: Crystal, pseudopotential, grid: DotGrid, device="cpu") -> torch.Tensor:
    """Levels (Hartree, ascending, spin-doubled when spin-free) of the plane-wave Hamiltonian of the
    supercell at Gamma in the grid's plane waves (no long-range tail), by dense diagonalization."""
    basis = PlaneWaveBasis(cell, 0.0, device=device, miller=plane_wave_miller(grid))
    H = Hamiltonian(basis, replace(pseudopotential, long_range=False))
    h = H.matrices(torch.zeros((1, 3), dtype=torch.float64, device=device))[0]
    levels = torch.linalg.eigvalsh(h)
    return levels if H.spinor else levels.repeat_interleave(2)


def plane_wave_miller(grid: DotGrid) -> np.ndarray:
    """The Miller indices of the plane waves a grid holds: -n/2 .. n/2 - 1 per axis."""
    axes = [np.arange(-(n // 2), n - n // 2) for n in grid.shape]
    return np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)


def checkpoint_pseudopotential(folder, checkpoint: str = "init_PPmodel.pth"):
    """The pseudopotential of a DeepPseudopot bundle with its network checkpoint as the local part (SOC/NL
    from SObool, no long-range tail), and the bundle's first system."""
    from ..fitting.potential_files import network_form_factor
    from ..io.bundle import read_bundle
    from ..models import build_model
    from ..models.checkpoint import load_model_checkpoint
    from ..settings import setting

    bundle = read_bundle(folder)
    cfg = bundle.config
    model = build_model(cfg["PPmodel"], setting(cfg, "hiddenLayers"), len(bundle.species), cfg)
    load_model_checkpoint(model, Path(folder) / checkpoint, device="cpu")
    pp = Pseudopotential.from_bundle(bundle, local=network_form_factor(model.eval().requires_grad_(False)))
    return replace(pp, long_range=False), bundle.systems[0]


def galerkin_levels(H, cell: Crystal, pseudopotential, maxke: float, chunk: int = 64):
    """Levels (Hartree) of the grid Hamiltonian ``H`` of the supercell and of the plane-wave Hamiltonian
    (``sepm bands``' basis: |G|^2 / 2 < maxke) in the same plane waves at Gamma: H applied to each plane wave
    on the grid and projected on all of them. Their difference is the error of the grid's matrix elements
    (local potential and projectors) in that basis, at any grid spacing. Spinor levels (spin-doubled
    plane-wave levels when the pseudopotential is spin-free)."""
    basis = PlaneWaveBasis(cell, maxke, device=H.V.device)
    grid = H.grid
    r = torch.stack(torch.meshgrid(*[torch.as_tensor(a, device=H.V.device) for a in grid.axes()], indexing="ij"),
                    -1).reshape(-1, 3) + torch.as_tensor(0.5 * box_lengths(cell), device=H.V.device)
    pw = torch.exp(1j * (r @ basis.G.T)).T / grid.size**0.5                     # (n, N)
    n = len(pw)
    waves = torch.zeros((2 * n, 2, grid.size), dtype=torch.complex128, device=H.V.device)
    waves[:n, 0], waves[n:, 1] = pw, pw
    waves = waves.reshape(2 * n, -1)
    h = torch.cat([waves.conj() @ H.apply(waves[i:i + chunk]).T for i in range(0, 2 * n, chunk)], dim=1)
    grid_levels = torch.linalg.eigvalsh(0.5 * (h + h.conj().T))
    pw_h = Hamiltonian(basis, replace(pseudopotential, long_range=False))
    ref = torch.linalg.eigvalsh(pw_h.matrices(torch.zeros((1, 3), dtype=torch.float64, device=H.V.device))[0])
    return grid_levels, ref if pw_h.spinor else ref.repeat_interleave(2)
