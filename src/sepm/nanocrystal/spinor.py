r"""The dot's spinor Hamiltonian: two-component complex states with the fit's spin-orbit and nonlocal terms.

    H psi = F^-1 [ T(G) F psi_s ] + V(r) psi_s + V_SO+NL psi,    s = up, down,

T and V as in :mod:`.hamiltonian` (kinetic energy capped at ``kinetic_cap``), complex FFTs over the last
three axes of a (batch, 2, n1, n2, n3) block, V_SO+NL the atom-centred operator of :mod:`.projectors`.
States are flat (m, 2N) complex128 (complex64 in the solver's first pass), spin-up first. Without
projectors H is the spin-free H twice.

The folded-spectrum LOBPCG of :mod:`.solver` takes complex blocks as they are, preconditioned in Fourier
space by :meth:`SpinorGridHamiltonian.precondition`, and ``grid_states`` starts it as it starts a
spin-free dot: from the states of every second grid point (:meth:`~SpinorGridHamiltonian.coarsened`: V
sampled there, the projectors rebuilt on that grid) carried over by Fourier interpolation
(:meth:`~SpinorGridHamiltonian.prolonged`), the whole ladder first in complex64
(:meth:`~SpinorGridHamiltonian.single`, one application 2.4x cheaper than complex128 on 40^3 and 64^3).
Measured against smooth random complex128 vectors (``bench/dot_cube.py --start grid random``, CsPbI3 cubes
from the shipped checkpoint, h = 0.5 Bohr, tol 1e-3 Ha, one Kramers pair per edge, 1 thread): 1 cell
(40^3) 89 / 201 H applications per converged state (valence / conduction; a complex64 one counted as
one, a coarse one as N_coarse / N) against 447 / 728, 42 s against 277 s in one run, the levels the same to
0.1 meV; 2 cells (64^3) 226 / 262 against 851 / 600, 525 s against 1610 s in one run (the load fell
during it, to the random start's favour), the levels the same to 0.3 meV. The pipeline's cubes (the
export's 8192-row tables, config/examples/cspbi3_dots.yaml): 88 / 195 and 500 / 580 per state, against
456 / 665 and 992 / 712 from random vectors in the previous session's run; HOMO / LUMO the same to 1 meV.
"""

from __future__ import annotations

import math

import torch

from .grid import CUT_TOL, DotGrid, potential_on_grid
from .hamiltonian import KINETIC_CAP, low_frequencies
from .projectors import K_MAX, AtomProjectors, channel_strengths


class SpinorGridHamiltonian:
    """H on the grid for two-component states; ``projectors``: an :class:`.projectors.AtomProjectors` or None.
    ``V`` float64 (states complex128) or float32 (complex64)."""

    def __init__(self, grid, V: torch.Tensor, projectors=None, kinetic_cap: float = KINETIC_CAP):
        self.grid = grid
        self.V = V
        self.projectors = projectors
        self.kinetic_cap = float(kinetic_cap)
        n, L = grid.shape, grid.half_width
        g = [2.0 * math.pi * torch.fft.fftfreq(n[i], d=2.0 * L[i] / n[i], device=V.device, dtype=torch.float64)
             for i in range(3)]
        g2 = g[0][:, None, None] ** 2 + g[1][None, :, None] ** 2 + g[2][None, None, :] ** 2
        self.T = (0.5 * g2).clamp(max=self.kinetic_cap).to(V.dtype)
        self.dtype = torch.complex128 if V.dtype == torch.float64 else torch.complex64
        self.applications = 0
        self._counter, self._weight = self, 1.0

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.grid.shape

    @property
    def size(self) -> int:
        """Dimension of the spinor space, 2 N."""
        return 2 * self.grid.size

    def _fourier(self, block: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
        return torch.fft.ifftn(factor * torch.fft.fftn(block, dim=(-3, -2, -1)), dim=(-3, -2, -1))

    def apply(self, X: torch.Tensor) -> torch.Tensor:
        """H X for X (m, 2N) complex; counts one application per vector (a coarsened H counts N_coarse / N on
        the counter of the H it came from)."""
        m = X.shape[0]
        block = X.reshape(m, 2, *self.shape)
        self._counter.applications += m * self._weight
        out = self._fourier(block, self.T) + self.V * block
        out = out.reshape(m, 2, -1)
        if self.projectors is not None:
            out = out + self.projectors.apply(X.reshape(m, 2, -1))
        return out.reshape(m, -1)

    def precondition(self, R: torch.Tensor, shift: float) -> torch.Tensor:
        block = R.reshape(R.shape[0], 2, *self.shape)
        return self._fourier(block, 1.0 / (self.T + shift) ** 2).reshape(R.shape[0], -1)

    def smooth_random(self, m: int, seed: int, width: float = 1.0) -> torch.Tensor:
        gen = torch.Generator(device="cpu").manual_seed(seed)
        X = torch.randn((m, 2, *self.shape), generator=gen, dtype=torch.complex128).to(self.V.device, self.dtype)
        return self._fourier(X, torch.exp(-self.T / width)).reshape(m, -1)

    def coarsened(self) -> "SpinorGridHamiltonian":
        """H on every second grid point (same box, spacing 2h, V sampled there, the projectors rebuilt on that
        grid; even shapes). Its applications count on this H's counter as N_coarse / N each."""
        grid = DotGrid(self.grid.half_width, tuple(k // 2 for k in self.shape))
        projectors = None if self.projectors is None else self.projectors.on_grid(grid)
        coarse = SpinorGridHamiltonian(grid, self.V[::2, ::2, ::2].contiguous(), projectors, self.kinetic_cap)
        coarse._counter, coarse._weight = self._counter, self._weight * coarse.size / self.size
        return coarse

    def single(self) -> "SpinorGridHamiltonian | None":
        """This H for complex64 states (its applications count on this H's counter), or None if it is not
        double precision."""
        if self.V.dtype != torch.float64:
            return None
        projectors = None if self.projectors is None else self.projectors.to(torch.float32)
        low = SpinorGridHamiltonian(self.grid, self.V.float(), projectors, self.kinetic_cap)
        low._counter, low._weight = self._counter, self._weight
        return low

    def prolonged(self, X: torch.Tensor, coarse: "SpinorGridHamiltonian") -> torch.Tensor:
        """Spinors of the ``coarse`` grid (m, 2 N_coarse) on this grid by Fourier interpolation (the coarse
        grid's frequencies below its Nyquist frequency), normalized."""
        m, nc = X.shape[0], coarse.shape
        F = torch.fft.fftn(X.reshape(m, 2, *nc), dim=(-3, -2, -1))
        out = F.new_zeros((m, 2, *self.shape))
        low = (slice(None), slice(None), *low_frequencies(nc, F.device, real=False))
        out[low] = F[low]
        Y = torch.fft.ifftn(out, dim=(-3, -2, -1)).reshape(m, -1)
        return Y / Y.norm(dim=1, keepdim=True)

    def dense(self, chunk: int = 64) -> torch.Tensor:
        """The full 2N x 2N matrix (tiny grids only), applied to ``chunk`` unit vectors at a time."""
        eye = torch.eye(self.size, dtype=self.dtype, device=self.V.device)
        return torch.cat([self.apply(eye[i:i + chunk]) for i in range(0, self.size, chunk)]).T


def dot_hamiltonian(grid, symbols, positions, tables: dict, pseudopotential, k_max: float = K_MAX,
                    kinetic_cap: float = KINETIC_CAP, cut_tol: float = CUT_TOL, device="cpu") -> SpinorGridHamiltonian:
    """The spinor H of a dot in vacuum: local part from the radial ``tables`` (atoms and ligands), SOC/NL
    projectors of the pseudopotential's species (ligands have none), stencils cut at the box."""
    V, _ = potential_on_grid(grid, symbols, positions, tables, cut_tol, device)
    strengths = channel_strengths(pseudopotential)
    used = any(c != 0.0 for channel in strengths.values() for c in channel.values())
    projectors = AtomProjectors(grid, symbols, positions, strengths, k_max, device=device) if used else None
    return SpinorGridHamiltonian(grid, V, projectors, kinetic_cap)

