r"""The real-space box of a dot, its grid, and the local potential on it.

Box (the client's rule): per axis, half-width L = rint(extent / 2 + vacuum) Bohr, with extent the span
of all sites (ligands included) and vacuum 5 Bohr by default, the dot's bounding box centred in it.
Grid: n points per axis, x_j = -L + j h, h = 2L/n, n the smallest FFT-friendly (2^a 3^b 5^c, even)
count with h <= the requested spacing. The box is periodic for the kinetic energy (spectral
derivative) only.

Potential: the direct sum of atom potentials, no periodic images,

    V(r) = sum_a v_{s(a)}(|r - R_a|),

with each radial table used as the client uses it (v - v(r_last) on [0, r_last], 0 beyond) and
interpolated linearly between its rows. A table is cut at the radius ``r_cut`` beyond which
|v - v_last| < ``cut_tol`` everywhere (recorded); each atom then touches only the grid points within
r_cut, evaluated in vectorized chunks of atoms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

#: Default vacuum beyond the outermost site, Bohr (the client's 5).
VACUUM = 5.0
#: Default truncation tolerance of the radial tables, Hartree.
CUT_TOL = 1e-6
#: Grid points x atoms evaluated at once when summing the potential.
CHUNK = 2_000_000


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
    """Positions shifted so that their bounding box is centred at the origin (the box centre)."""
    return positions - 0.5 * (positions.max(axis=0) + positions.min(axis=0))


def cut_radius(r: np.ndarray, v: np.ndarray, tol: float) -> float:
    """Smallest r beyond which |v| < tol on the table (the table's end if it never decays that far)."""
    above = np.nonzero(np.abs(v) >= tol)[0]
    return float(r[min(above[-1] + 1, len(r) - 1)]) if len(above) else float(r[1])


def potential_on_grid(grid: DotGrid, symbols, positions: np.ndarray, tables: dict, cut_tol: float = CUT_TOL,
                      device="cpu") -> tuple[torch.Tensor, dict]:
    """V on the grid, (n1, n2, n3) float64; and a record {symbol: r_cut} of the truncation radii."""
    symbols = np.asarray(symbols)
    h = torch.as_tensor(grid.spacing, device=device)
    origin = torch.as_tensor(grid.origin, device=device)
    shape = torch.as_tensor(grid.shape, device=device)
    strides = torch.as_tensor([grid.shape[1] * grid.shape[2], grid.shape[2], 1], device=device)
    V = torch.zeros(grid.size, dtype=torch.float64, device=device)
    cuts = {}
    for s in sorted(set(symbols.tolist())):
        table = tables[s]
        values = np.asarray(table.v, dtype=np.float64) - table.v[-1]
        rc = cut_radius(table.r, values, cut_tol)
        cuts[s] = rc
        vals = torch.as_tensor(values, device=device)
        reach = np.ceil(rc / grid.spacing).astype(int) + 1
        offsets = torch.stack(torch.meshgrid(*[torch.arange(-m, m + 1, device=device) for m in reach],
                                             indexing="ij"), -1).reshape(-1, 3)
        R = torch.as_tensor(positions[symbols == s], dtype=torch.float64, device=device)
        base = torch.round((R - origin) / h).to(torch.int64)
        step = max(1, CHUNK // len(offsets))
        for start in range(0, len(R), step):
            idx = base[start:start + step, None, :] + offsets[None, :, :]
            dist = torch.linalg.norm(idx * h + origin - R[start:start + step, None, :], dim=2)
            ok = (dist < rc) & ((idx >= 0) & (idx < shape)).all(dim=2)
            x = dist[ok] / table.dr
            i0 = x.floor().to(torch.int64).clamp(max=len(values) - 2)
            t = x - i0
            V.index_add_(0, (idx[ok] * strides).sum(dim=1), (1 - t) * vals[i0] + t * vals[i0 + 1])
    return V.reshape(grid.shape), cuts
