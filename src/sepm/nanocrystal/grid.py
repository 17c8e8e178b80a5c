r"""The real-space box of a dot, its grid, and the local potential on it.

Box (the client's rule): per axis, half-width L = rint(extent / 2 + vacuum) Bohr, with extent the span
of all sites (ligands included) and vacuum 5 Bohr by default, the sites' mean at its centre (the
client's reader subtracts it; the bounding box is centred too when the dot is symmetric).
Grid: n points per axis, x_j = -L + j h, h = 2L/n, n the smallest FFT-friendly (2^a 3^b 5^c, even)
count with h <= the requested spacing. The box is periodic for the kinetic energy (spectral
derivative) only.

Potential: the direct sum of atom potentials, no periodic images,

    V(r) = sum_a v_{s(a)}(|r - R_a|),

with each radial table used as the client uses it (v - v(r_last) on [0, r_last], 0 beyond) and
interpolated linearly between its rows (r_i, v_i) as the file prints them: the published library's r
column has 6 significant digits (up to 5e-5 Bohr off i dr), and taking its rows at i dr instead moved the
levels of a 65-site GaAs dot by 0.006-0.011 meV against the client's (bench/dot_client.py). A table is
cut at the radius ``r_cut`` beyond which |v - v_last| < ``cut_tol`` everywhere (recorded). The dropped
tails add up to less than N_atoms x cut_tol at any point, so with the default 1e-13 Hartree the
potential, and every level, is within 1e-10 Hartree of the full tables' for a 1000-atom dot: four orders
below the energy error of a converged state (~ tol^2 / level spacing ~ 1e-6 Hartree at tol 1e-4). The
published library's As and Ga tables never decay below 1e-13 (their last rows are noise of ~1e-7), so
they are used whole; only the Gaussian ligands are cut (at ~8 Bohr). Each atom adds its values to the
box of grid points within r_cut (a dense sub-block of V, distances from the three axes by broadcasting).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

#: Default vacuum beyond the outermost site, Bohr (the client's 5).
VACUUM = 5.0
#: Default truncation tolerance of the radial tables, Hartree (the dropped tails sum to < N_atoms x this).
CUT_TOL = 1e-13


def fft_size(n: int) -> int:
    """Smallest even 2^a 3^b 5^c >= n."""
    m = max(2, int(n))
    while True:
        k = m
        for p in (2, 3, 5):
            while k % p == 0:
                k //= p
        if k == 1 and m % 2 == 0:
            return m
        m += 1


@dataclass(frozen=True)
class DotGrid:
    """Periodic box [-L_i, L_i) sampled by n_i points per axis (Bohr)."""

    half_width: tuple[float, float, float]
    shape: tuple[int, int, int]

    @classmethod
    def around(cls, positions: np.ndarray, spacing: float, vacuum: float = VACUUM) -> "DotGrid":
        extent = positions.max(axis=0) - positions.min(axis=0)
        half = tuple(float(np.rint(e / 2.0 + vacuum)) for e in extent)
        shape = tuple(fft_size(math.ceil(2.0 * L / spacing - 1e-9)) for L in half)
        return cls(half, shape)

    @property
    def spacing(self) -> np.ndarray:
        return 2.0 * np.asarray(self.half_width) / np.asarray(self.shape)

    @property
    def origin(self) -> np.ndarray:
        return -np.asarray(self.half_width)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def volume_element(self) -> float:
        return float(np.prod(self.spacing))

    def axes(self) -> list[np.ndarray]:
        return [self.origin[i] + self.spacing[i] * np.arange(self.shape[i]) for i in range(3)]


def centred(positions: np.ndarray) -> np.ndarray:
    """Positions shifted so that their mean is at the origin (the box centre), as the client reads conf.par.
    The bounding box's centre is the mean for a symmetric dot (a sphere around an atom); an off-atom
    sphere (``--center``) sits up to ~1 Bohr off it, and the grid must sample it where the client does."""
    return positions - positions.mean(axis=0)


def cut_radius(r: np.ndarray, v: np.ndarray, tol: float) -> float:
    """Smallest r beyond which |v| < tol on the table (the table's end if it never decays that far)."""
    above = np.nonzero(np.abs(v) >= tol)[0]
    return float(r[min(above[-1] + 1, len(r) - 1)]) if len(above) else float(r[1])


def radial_values(nodes: torch.Tensor, values: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
    """The table (``nodes`` r_i ascending, nearly uniform from 0; ``values`` v_i) interpolated linearly at
    the distances ``dist``, 0 from the last node on. The row is found by index from the first spacing
    and moved by one where the printed nodes put ``dist`` in the neighbouring interval."""
    n = len(nodes)
    i0 = (dist / nodes[1]).floor().to(torch.int64).clamp(0, n - 2)
    i0 = (i0 - (dist < nodes[i0]).to(torch.int64)).clamp(min=0)
    i0 = (i0 + (dist >= nodes[i0 + 1]).to(torch.int64)).clamp(max=n - 2)
    r0, r1 = nodes[i0], nodes[i0 + 1]
    t = (dist - r0) / (r1 - r0)
    return torch.where(dist < nodes[-1], (1 - t) * values[i0] + t * values[i0 + 1], 0.0)


def potential_on_grid(grid: DotGrid, symbols, positions: np.ndarray, tables: dict, cut_tol: float = CUT_TOL,
                      device="cpu") -> tuple[torch.Tensor, dict]:
    """V on the grid, (n1, n2, n3) float64; and a record {symbol: r_cut} of the truncation radii.

    One pass per atom over the sub-block of grid points within its r_cut: the work is the number of
    (atom, point) pairs, each a distance and one linear interpolation, with no index arithmetic."""
    symbols = np.asarray(symbols)
    points = grid.axes()
    axes = [torch.as_tensor(a, device=device) for a in points]
    V = torch.zeros(grid.shape, dtype=torch.float64, device=device)
    cuts = {}
    for s in sorted(set(symbols.tolist())):
        table = tables[s]
        values = np.asarray(table.v, dtype=np.float64) - table.v[-1]
        rc = cut_radius(table.r, values, cut_tol)
        cuts[s] = rc
        vals, nodes = (torch.as_tensor(x, dtype=torch.float64, device=device) for x in (values, table.r))
        for R in positions[symbols == s]:
            block = tuple(slice(*np.searchsorted(p, [c - rc, c + rc])) for p, c in zip(points, R))
            dx, dy, dz = ((a[b] - c) ** 2 for a, b, c in zip(axes, block, R))
            dist = (dx[:, None, None] + dy[None, :, None] + dz[None, None, :]).sqrt()
            V[block] += torch.where(dist < rc, radial_values(nodes, vals, dist), 0.0)
    return V, cuts
