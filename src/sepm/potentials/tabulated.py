r"""A tabulated v(q) (e.g. init_qSpace_pot.par), interpolated smoothly.

Piecewise-cubic Hermite interpolation with monotonicity-preserving (Fritsch-Carlson / PCHIP)
slopes: C1-continuous, no overshoot between samples. Beyond the last sample the table's last value
is held (tables are expected to have decayed there).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.interpolate import PchipInterpolator


class TabulatedFormFactor:
    """``q`` (nq,) ascending in 1/Bohr, ``values`` (nq, n_species) in Hartree Bohr^3."""

    def __init__(self, q, values):
        q = np.asarray(q, dtype=np.float64)
        values = np.asarray(values, dtype=np.float64).reshape(len(q), -1)
        if np.any(np.diff(q) <= 0):
            raise ValueError("tabulated q values must be strictly increasing")
        spline = PchipInterpolator(q, values, axis=0)
        self.q = torch.as_tensor(q)
        self.values = torch.as_tensor(values)
        self.slopes = torch.as_tensor(spline.derivative()(q))

    def __call__(self, q: torch.Tensor) -> torch.Tensor:
        grid = self.q.to(q.device)
        x = q.clamp(grid[0], grid[-1])
        i = torch.searchsorted(grid, x.contiguous(), right=True).clamp(1, len(grid) - 1) - 1
        h = (grid[i + 1] - grid[i])[:, None]
        t = ((x - grid[i])[:, None]) / h
        y0, y1 = self.values.to(q.device)[i], self.values.to(q.device)[i + 1]
        m0, m1 = self.slopes.to(q.device)[i] * h, self.slopes.to(q.device)[i + 1] * h
        t2, t3 = t * t, t * t * t
        return (2 * t3 - 3 * t2 + 1) * y0 + (t3 - 2 * t2 + t) * m0 + (-2 * t3 + 3 * t2) * y1 + (t3 - t2) * m1
