r"""Bulk band edges of the dot's own grid Hamiltonian: the reference of the dot's sanity flags.

The dot is solved on a real-space grid (spacing h, kinetic energy capped at T_cap, V a product on grid
points), not in the plane waves of the fit (|G|^2/2 < maxKE). The two put the bulk edges in different
places (GaAs default fit, h = 0.82 Bohr: CBM 106 meV lower on the grid than in plane waves at maxKE 6), so
the dot's levels are compared with the bulk crystal discretized as the dot is.

Box cell. A cell whose lattice vectors lie along x, y, z, found among the integer combinations (up to
``MAX_MULTIPLE``) of the system's lattice vectors (the conventional cube of an fcc or bcc lattice), sampled
by m_i points per axis, m_i the odd count nearest L_i / h_i (h_i the dot's spacing), one atom on a grid point.

Bloch blocks. The grid Hamiltonian of the infinite crystal on that grid, H = F^-1 T F + V, commutes with
the cell's translations, so it is block diagonal in the Bloch vector k: psi = e^{ik.r} u, u periodic on the
cell's m1 x m2 x m3 points,

    H_k u = F^-1 [ T(w(k + G)) F u ] + V u,    T(q) = min(|q|^2 / 2, T_cap),

w wrapping each component into the grid's zone [-pi/h, pi/h) (the frequencies an FFT box holds). This is
the Gamma-point Hamiltonian of any periodic supercell whose folded k-points include k, with no supercell
built; it is a dense m^3 x m^3 matrix (2197 for GaAs at h = 0.82), diagonalized whole. V on the grid points
is the sum of every atom's table with all periodic images, as its Fourier series
V(r) = sum_G S(G) v(|G|) e^{iG.r} / Omega with v(q) the tables' transform (:class:`.radial.LibraryFormFactor`,
the plane-wave reference's own local part) summed to ``ALIAS`` x the grid's Nyquist frequency: each G lands
on the grid frequency G mod 2 pi / h (aliasing). The edges are searched at Gamma and at the k-points of the
plane-wave edges; with n_occ the occupied bands of the cell, VBM = max_k e_{n_occ}(k), CBM = min_k
e_{n_occ + 1}(k).

Registry. The dot's grid is incommensurate with the crystal: its atoms sit at every offset from the grid
points. An aliased V component that lands on one of the crystal's own reciprocal vectors acts on the bulk
states at first order with a phase set by that offset (no single offset is the dot's); the others couple to
frequencies the Bloch states do not hold, at second order, whatever the offset. In a commensurate cell grid
the first kind is present and offset dependent (GaAs, h = 0.763 Bohr, m = 14: VBM -5.783 +- 0.030 eV over
random offsets); with m odd the centring translations of the fcc cube (L/2 along two axes) fall between grid
points and cancel it down to the components beyond |K| = sqrt(3) 2 pi / h (m = 13: +- 0.0001 / 0.0007 eV).
So the edges are computed at two offsets, an atom on a grid point and a generic one (``OFFSET``), and the
generic one's are used when they agree within ``REGISTRY_TOL`` (GaAs, m = 13: 4 meV on the CBM). Against
3^3 cubes on a grid not commensurate with them (``bench/grid_bulk.py --supercell``; default GaAs fit): 40^3
points (h = 0.801) VBM -5.8069, CBM -4.3516 eV, this reference at 13^3 (h = 0.822) -5.8075, -4.3564; 44^3
(h = 0.728) -5.8060, -4.3426, at 15^3 (h = 0.712) -5.8057, -4.3416; 42^3, commensurate with 14 points per
cube, -5.7584, -4.4039 (48 / 62 meV off), which the cube's 14^3 blocks at that offset reproduce exactly.

Fallback, logged and recorded: a lattice without a box cell among the combinations searched, a cell grid
above ``MAX_POINTS``, or offsets that disagree (as they may without centring translations, e.g. simple cubic)
give the plane-wave edges at maxKE = T_cap (the basis part of the difference, without the grid's aliasing).
"""

from __future__ import annotations

import itertools
import math
import time

import numpy as np
import torch

from ..constants import HARTREE_EV
from ..crystal import Crystal
from .grid import DotGrid
from .radial import LibraryFormFactor

#: Largest integer coefficient of a box cell's vector in the system's lattice vectors.
MAX_MULTIPLE = 2
#: Largest cell grid diagonalized densely (points): 15^3, per k-point and offset ~5 s at Gamma (real) and ~15 s
#: elsewhere (complex) at 1 thread; peak memory +0.42 GiB (GaAs, Gamma and L, two offsets).
MAX_POINTS = 3375
#: V's Fourier series is summed to this multiple of the grid's Nyquist frequency (GaAs, m = 13: 2 and 4
#: differ by 0.5 meV on the CBM).
ALIAS = 3
#: Largest difference of the edges between the two offsets of the atoms from the grid, Hartree (10 meV).
REGISTRY_TOL = 10e-3 / HARTREE_EV
#: The generic offset, in grid spacings.
OFFSET = (0.31, 0.17, 0.43)


def box_cell(crystal: Crystal) -> Crystal | None:
    """The smallest cell of ``crystal``'s lattice with its vectors along x, y, z, with its atoms; None if no
    integer combination (coefficients up to MAX_MULTIPLE) of the lattice vectors is parallel to an axis."""
    A = crystal.lattice
    tol = 1e-8 * np.abs(A).max()
    combos = np.array([c for c in itertools.product(range(-MAX_MULTIPLE, MAX_MULTIPLE + 1), repeat=3) if any(c)])
    vectors = combos @ A
    rows = []
    for axis in range(3):
        off = np.delete(vectors, axis, axis=1)
        along = np.nonzero((np.abs(off).max(axis=1) < tol) & (vectors[:, axis] > tol))[0]
        if len(along) == 0:
            return None
        rows.append(combos[along[np.argmin(vectors[along, axis])]])
    M = np.array(rows)
    n_cells = int(round(abs(np.linalg.det(M))))
    box = np.diag(np.diag(M @ A))
    # Primitive translations inside the box: every integer combination within the box's corners' span.
    reach = int(np.abs(M).sum(axis=0).max()) + 1
    shifts = np.array(list(itertools.product(range(-reach, reach + 1), repeat=3))) @ A
    cart = (crystal.positions[None, :, :] + shifts[:, None, :]).reshape(-1, 3)
    frac = cart / np.diag(box)
    inside = np.all((frac > -1e-9) & (frac < 1.0 - 1e-9), axis=1)
    symbols = np.tile(np.asarray(crystal.atom_species), len(shifts))[inside]
    frac = np.where(np.abs(frac[inside]) < 1e-9, 0.0, frac[inside])
    if len(frac) != n_cells * len(crystal.atom_species):
        raise RuntimeError(f"box cell holds {len(frac)} atoms, expected {n_cells * len(crystal.atom_species)}")
    # The first atom at the origin (on a grid point).
    frac = (frac - frac[0]) % 1.0
    return Crystal(box, tuple(symbols.tolist()), frac, crystal.species)


def cell_grid(cell: Crystal, spacing) -> DotGrid:
    """The grid of the box cell [-L/2, L/2) near the spacings ``spacing`` (3,): m_i the odd count nearest L_i / h_i."""
    lengths = np.diag(cell.lattice)
    h = np.broadcast_to(np.asarray(spacing, dtype=np.float64), (3,))
    return DotGrid(tuple(float(x) / 2.0 for x in lengths),
                   tuple(max(3, 2 * int(np.floor(x / s / 2.0)) + 1) for x, s in zip(lengths, h)))


def grid_potential(cell: Crystal, form_factor, shape, alias: int) -> torch.Tensor:
    """The DFT of V on the cell grid (shape (m1, m2, m3), complex, V_j = sum_g Vq_g e^{2 pi i g.j/m}): the
    coefficients S(G) v_s(|G|) / Omega of every G within ``alias`` x the grid's Nyquist frequency, each added
    to its grid frequency g mod m (the aliasing of a product on grid points). ``form_factor(q) -> (nq, n_s)``."""
    n = np.asarray(shape)
    L = np.diag(cell.lattice)
    g = [np.arange(-(alias * k // 2), alias * k // 2 + 1) for k in n]          # symmetric: V is real
    miller = np.stack(np.meshgrid(*g, indexing="ij"), -1).reshape(-1, 3)
    G = torch.as_tensor(2.0 * math.pi * miller / L)
    q, inverse = torch.unique(G.norm(dim=1).round(decimals=10), return_inverse=True)
    vq = form_factor(q)[inverse]                                                   # (nG, n_species)
    phases = torch.exp(-1j * (G @ torch.as_tensor(cell.positions).T))             # (nG, n_atoms)
    coeff = (phases * vq[:, torch.as_tensor(cell.species_index)]).sum(dim=1) / cell.volume
    flat = torch.as_tensor(((miller % n) * np.array([n[1] * n[2], n[2], 1])).sum(axis=1))
    out = torch.zeros(int(np.prod(n)), dtype=torch.complex128).index_add_(0, flat, coeff)
    return out.reshape(tuple(n))


def _circulant(kernel: torch.Tensor) -> torch.Tensor:
    """The N x N matrix M_ij = kernel[(i - j) mod n] (3-D indices, flattened in C order) of an (n1, n2, n3) kernel,
    gathered through broadcast index vectors (no N x N index array)."""
    n = kernel.shape
    index = []
    for axis, k in enumerate(n):
        i = torch.arange(k, device=kernel.device)
        shape = [1] * 6
        shape[axis], shape[axis + 3] = k, 1
        left = i.reshape(shape)
        shape[axis], shape[axis + 3] = 1, k
        index.append((left - i.reshape(shape)) % k)
    N = kernel.numel()
    return kernel[index[0], index[1], index[2]].reshape(N, N)


def bloch_levels(grid: DotGrid, Vq: torch.Tensor, k: np.ndarray, kinetic_cap: float) -> torch.Tensor:
    """All levels (Hartree, ascending) of H_k (module docstring) on the cell ``grid``, V given by its DFT
    ``Vq`` (:func:`grid_potential`), Bloch vector ``k`` (Cartesian, 1/Bohr), dense: in the grid's plane waves
    (T(w(k + G)) on the diagonal, V as the circulant Vq[g - g']), or at k = 0 in real space (real
    symmetric, 3x cheaper: V on the diagonal, T as the circulant of its inverse DFT)."""
    n, h = grid.shape, grid.spacing
    q = []
    for i in range(3):
        G = 2.0 * math.pi * torch.fft.fftfreq(n[i], d=float(h[i]), device=Vq.device, dtype=torch.float64)
        half = math.pi / float(h[i])
        q.append(torch.remainder(G + float(k[i]) + half, 2.0 * half) - half)
    T = (0.5 * (q[0][:, None, None] ** 2 + q[1][None, :, None] ** 2 + q[2][None, None, :] ** 2)).clamp(max=kinetic_cap)
    if not np.any(k):
        h_k = _circulant(torch.fft.ifftn(T).real)
        h_k.diagonal().add_(torch.fft.ifftn(Vq).real.reshape(-1) * grid.size)
    else:
        h_k = _circulant(Vq)
        h_k.diagonal().add_(T.reshape(-1))
    return torch.linalg.eigvalsh(h_k)


def grid_bulk_edges(system, tables: dict, species, spacing, kinetic_cap: float, plane_wave: dict,
                    device="cpu") -> dict:
    """VBM, CBM, gap (Hartree) of the bulk crystal of ``system`` on the dot's grid (module docstring): the
    radial ``tables``, the dot's ``spacing`` (3,) and ``kinetic_cap``, searched at Gamma and at the k-points of
    the plane-wave edges ``plane_wave`` (:func:`.dot.bulk_edges`), 4 occupied bands per anion. Falls back to
    plane waves at maxKE = the cap, with the reason recorded under "fallback"."""
    from dataclasses import replace

    from .dot import bulk_edges
    from .ligands import is_cation

    start = time.perf_counter()
    crystal = Crystal.from_system(system, species=species)
    cell = box_cell(crystal)
    grid = None if cell is None else cell_grid(cell, spacing)
    reason = ("no cell with its vectors along x, y, z" if cell is None else
              f"cell grid {'x'.join(map(str, grid.shape))} above {MAX_POINTS} points" if grid.size > MAX_POINTS else "")
    if not reason:
        n_occ = 4 * sum(1 for s in cell.atom_species if not is_cation(s))
        kfrac = np.unique(np.array([[0.0, 0.0, 0.0], plane_wave["k_vbm"], plane_wave["k_cbm"]]), axis=0)
        kcart = crystal.kpoints_cartesian(kfrac)
        form_factor = LibraryFormFactor(tables, species)
        edges = []
        for offset in ((0.0, 0.0, 0.0), OFFSET):
            Vq = grid_potential(cell.translated(np.asarray(offset) * grid.spacing), form_factor, grid.shape, ALIAS)
            bands = torch.stack([bloch_levels(grid, Vq.to(device), k, kinetic_cap)[n_occ - 1:n_occ + 1]
                                 for k in kcart]).cpu().numpy()
            edges.append((bands[:, 0].max(), bands[:, 1].min(), kfrac[bands[:, 0].argmax()], kfrac[bands[:, 1].argmin()]))
        spread = max(abs(edges[0][0] - edges[1][0]), abs(edges[0][1] - edges[1][1]))
        if spread > REGISTRY_TOL:
            reason = (f"the edges depend on the atoms' offset from the grid points ({spread * HARTREE_EV * 1e3:.1f} meV "
                      f"between two offsets)")
    if reason:
        pw = bulk_edges(replace(system, maxke=float(kinetic_cap)), tables, species, device)
        return {**pw, "method": f"plane waves at maxKE = the kinetic cap {kinetic_cap:g} Hartree", "fallback": reason,
                "seconds": time.perf_counter() - start}
    vbm, cbm, k_vbm, k_cbm = edges[1]
    return dict(vbm=float(vbm), cbm=float(cbm), gap=float(cbm - vbm), k_vbm=k_vbm.tolist(), k_cbm=k_cbm.tolist(),
                method=f"the bulk's grid Hamiltonian (grid_bulk.py: {len(cell.atom_species)}-atom cell, "
                       f"{'x'.join(map(str, grid.shape))} points, spacing "
                       f"{' '.join(f'{x:.3f}' for x in grid.spacing)} Bohr)", cell_atoms=len(cell.atom_species),
                cell_shape=list(grid.shape), cell_spacing_bohr=grid.spacing.tolist(),
                registry_spread_hartree=float(spread), seconds=time.perf_counter() - start)
