r"""The dot's Hamiltonian on its real-space grid.

    H psi = F^-1 [ T(G) F psi ] + V(r) psi,    T(G) = min(|G|^2 / 2, T_cap),

with F the discrete Fourier transform of the periodic box, G the grid's reciprocal vectors
2 pi m_i / (2 L_i), |m_i| <= n_i / 2, and the kinetic energy capped at T_cap = 10 Hartree as in the
nanocrystal codes. Without spin-orbit H is real symmetric, so states are real and the transforms are
real-to-complex (rfftn) over the last three axes of a (batch, n1, n2, n3) block. Everything is in the
potential's precision (float64; a float32 copy, ``single()``, for the solver's first iterations) on one
device; one application of H to a block is two FFTs and one multiply.
"""

from __future__ import annotations

import math

import torch

from .grid import DotGrid

#: The nanocrystal codes' kinetic-energy cap, Hartree.
KINETIC_CAP = 10.0


def low_frequencies(coarse_shape, device, real: bool = True) -> tuple:
    """Index of a coarse grid's Fourier coefficients below its Nyquist frequency (|m_i| < n_i / 2) in the
    transform of any grid at least as fine (the same index on both): fftn order on every axis, the last
    axis in rfftn order (m_3 = 0 .. n_3 / 2 - 1) when ``real``. The frequencies that Fourier interpolation
    carries from the coarse grid to a fine one and Fourier restriction carries back."""
    axes = [torch.cat([torch.arange(0, n // 2), torch.arange(-(n // 2) + 1, 0)]).to(device) for n in coarse_shape]
    if real:
        return axes[0][:, None], axes[1][None, :], slice(0, coarse_shape[2] // 2)
    return axes[0][:, None, None], axes[1][None, :, None], axes[2][None, None, :]


class GridHamiltonian:
    """H = T (spectral, capped) + V (diagonal) on ``grid``; ``V`` is (n1, n2, n3) float64 (or float32)."""

    def __init__(self, grid: DotGrid, V: torch.Tensor, kinetic_cap: float = KINETIC_CAP):
        self.grid = grid
        self.V = V
        self.kinetic_cap = float(kinetic_cap)
        device = V.device
        n, L = grid.shape, grid.half_width
        g = [2.0 * math.pi * torch.fft.fftfreq(n[i], d=2.0 * L[i] / n[i], device=device, dtype=torch.float64)
             for i in range(2)]
        g.append(2.0 * math.pi * torch.fft.rfftfreq(n[2], d=2.0 * L[2] / n[2], device=device, dtype=torch.float64))
        g2 = g[0][:, None, None] ** 2 + g[1][None, :, None] ** 2 + g[2][None, None, :] ** 2
        self.T = (0.5 * g2).clamp(max=self.kinetic_cap).to(V.dtype)
        self.applications = 0
        self._counter, self._weight = self, 1.0

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.grid.shape

    @property
    def size(self) -> int:
        return self.grid.size

    def kinetic(self, X: torch.Tensor) -> torch.Tensor:
        """T X for a block X (m, n1, n2, n3)."""
        return torch.fft.irfftn(self.T * torch.fft.rfftn(X, dim=(-3, -2, -1)), s=self.shape, dim=(-3, -2, -1))

    def apply(self, X: torch.Tensor) -> torch.Tensor:
        """H X for a block of flat vectors X (m, N); counts one application per vector (a coarsened H counts
        N_coarse / N on the counter of the H it came from)."""
        m = X.shape[0]
        block = X.reshape(m, *self.shape)
        self._counter.applications += m * self._weight
        return (self.kinetic(block) + self.V * block).reshape(m, -1)

    def apply_spectral(self, Y: torch.Tensor) -> torch.Tensor:
        """H on a block of half spectra Y (m, n1, n2, n3 // 2 + 1), the rfftn of real blocks, returned in the same
        representation (two FFTs, like ``apply``, and counted like it)."""
        self._counter.applications += Y.shape[0] * self._weight
        y = torch.fft.irfftn(Y, s=self.shape, dim=(-3, -2, -1))
        return self.T * Y + torch.fft.rfftn(self.V * y, dim=(-3, -2, -1))

    def precondition(self, R: torch.Tensor, shift: float) -> torch.Tensor:
        """(T + shift)^-2 R in Fourier space: the folded operator (H - sigma)^2 is ~T^2 at large |G|."""
        block = R.reshape(R.shape[0], *self.shape)
        out = torch.fft.irfftn(torch.fft.rfftn(block, dim=(-3, -2, -1)) / (self.T + shift) ** 2, s=self.shape,
                               dim=(-3, -2, -1))
        return out.reshape(R.shape[0], -1)

    def smooth_random(self, m: int, seed: int, width: float = 1.0) -> torch.Tensor:
        """m random vectors with their Fourier components damped by exp(-T / width): smooth start vectors."""
        gen = torch.Generator(device="cpu").manual_seed(seed)
        X = torch.randn((m, *self.shape), generator=gen, dtype=torch.float64).to(self.V.device, self.V.dtype)
        X = torch.fft.irfftn(torch.fft.rfftn(X, dim=(-3, -2, -1)) * torch.exp(-self.T / width), s=self.shape,
                             dim=(-3, -2, -1))
        return X.reshape(m, -1)

    def coarsened(self) -> "GridHamiltonian":
        """H on every second grid point (same box, spacing 2h, V sampled there; even shapes, as fft_size
        gives). Its applications count on this H's counter as N_coarse / N each."""
        n = self.shape
        coarse = GridHamiltonian(DotGrid(self.grid.half_width, tuple(k // 2 for k in n)),
                                 self.V[::2, ::2, ::2].contiguous(), self.kinetic_cap)
        coarse._counter, coarse._weight = self._counter, self._weight * coarse.size / self.size
        return coarse

    def single(self) -> "GridHamiltonian | None":
        """This H in float32 (its applications count on this H's counter), or None if it is not float64."""
        if self.V.dtype != torch.float64:
            return None
        low = GridHamiltonian(self.grid, self.V.float(), self.kinetic_cap)
        low._counter, low._weight = self._counter, self._weight
        return low

    def prolonged(self, X: torch.Tensor, coarse: "GridHamiltonian") -> torch.Tensor:
        """Vectors of the ``coarse`` grid (m, N_coarse) on this grid by Fourier interpolation (the coarse
        grid's frequencies below its Nyquist frequency), normalized."""
        m, nc = X.shape[0], coarse.shape
        F = torch.fft.rfftn(X.reshape(m, *nc), dim=(-3, -2, -1))
        out = torch.zeros((m, self.shape[0], self.shape[1], self.shape[2] // 2 + 1), dtype=F.dtype, device=F.device)
        low = (slice(None), *low_frequencies(nc, F.device))
        out[low] = F[low]
        Y = torch.fft.irfftn(out, s=self.shape, dim=(-3, -2, -1)).reshape(m, -1)
        return Y / Y.norm(dim=1, keepdim=True)

    def dense(self) -> torch.Tensor:
        """The full N x N matrix (for checks on tiny grids): H applied to every unit vector."""
        eye = torch.eye(self.size, dtype=self.V.dtype, device=self.V.device)
        return self.apply(eye).T
