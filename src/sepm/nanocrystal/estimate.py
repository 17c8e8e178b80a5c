r"""Size of a dot before anything is built: atoms, grid points and memory, checked against a limit (the
``--memory-limit-gb`` option, else this machine's memory), as :mod:`sepm.io.limits` checks a bulk basis.

- atoms: the sphere's volume over the cell's, times the atoms per cell, N ~ n_basis (4/3) pi R^3 / Omega;
- builder: every lattice site of the box of cells around the sphere is enumerated,
  prod_i (2 s_i + 1) n_basis sites with s_i = ceil((R + r_basis + d) |b_i| / 2 pi) + 1 (its rule), each
  carrying ``BUILDER_BYTES`` bytes of coordinates, norms and masks;
- grid: per axis n_i ~ 2 L / h with L = R + vacuum (the box of :mod:`.grid`: the ligands sit ~0.55 d beyond
  the outermost atoms, which lie a little inside R once the weakly bonded ones are removed), rounded up
  to the FFT-friendly size as :class:`.grid.DotGrid` does, N_grid = n_1 n_2 n_3;
- solver: ``VECTORS_PER_STATE`` float64 grid vectors per block vector for the larger side's block
  (states + ``EXTRA_STATES``), plus ``FIXED_VECTORS``. LOBPCG holds X, W, P with their H and folded
  images, the concatenated bases of the Rayleigh-Ritz step, the rotated new block and the FFT work; peak
  memory measured (``/usr/bin/time``) for a 10 Bohr GaAs dot, 4 + 4 states, 30 iterations, grew by
  1124 MB from spacing 0.8 (36^3) to 0.35 (80^3), 317 vectors of the grid, which 40 per block vector gives;
- the process itself (Python, torch, the bundle): ``BASE_BYTES``, the 0.34 GiB left of the 0.8 run.

Time: the solve takes about ``SOLVE_OVERHEAD`` x (applications x one application), the applications
per converged state a power law in the core atoms through those ``bench/dot.py`` measured
(``APPLICATIONS_MEASURED``), never below the smallest dot's; one application is timed on the dot's own grid before the solve.

Spinor dots (:func:`estimate_spinor_dot`, from the grid and the atoms, before H is built): a state is two
complex128 components, 4 float64 numbers per grid point, so the solver holds 4 ``VECTORS_PER_STATE`` float64
grid vectors per block vector (block: spinor states + ``EXTRA_STATES``); the projectors of :mod:`.projectors`
hold, per atom and channel, (3 x rank) float64 values on every stencil point within the channel's cut
radius, and one int64 index per point of the widest stencil; the complex64 copy of the solver's first pass
adds half of those values again (it shares the indices; the coarse grid's copies are gone before the fine
grid's run); one application gathers and scatters
(stencil points x 4 m) float64 for a block of m vectors, and the build holds per stencil point its index,
unit vector, distance and mask plus the interpolated radial functions (rank, then 3 rank, values). Before
the grid, the bulk edges are recomputed in the plane waves of the dot's kinetic cap: ``REFERENCE_MATRICES``
dense complex128 matrices of the spinor basis (2 n_pw)^2 (CsPbI3 at 10 Ha, 2 x 2535 plane waves: peak
resident memory 0.49 -> 2.30 GiB, 4.7 matrices of 0.38 GiB). Against ``bench/dot_cube.py --cells 1``
(40^3, one Kramers pair per edge): resident memory up to 0.66 GiB during the solves, 0.85 GiB estimated;
the run's peak (the reference) 2.32 GiB, 2.26 GiB estimated; 2 cells (64^3): 1.83 GiB during the solves,
2.53 GiB estimated.

Against the peak resident memory measured for GaAs dots (R 10 / h 0.8: 0.44 GiB, R 12 / h 0.5 run to
convergence: 1.25 GiB, R 10 / h 0.35: 1.51 GiB) this gives 0.50, 1.25 and 2.11 GiB. The larger of builder
and solver memory, plus the process, is compared with the limit; the estimate is logged either way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .grid import fft_size
from .projectors import K_MAX, SeparableChannel, stencil_offsets

#: float64 grid vectors held per block vector by the solver (measured, see above).
VECTORS_PER_STATE = 40
#: float64 grid vectors held besides (potential, kinetic energy, FFT workspace).
FIXED_VECTORS = 6
#: Block vectors beyond the wanted states (the solver's guard, and a degenerate level completed).
EXTRA_STATES = 4
#: Dense spinor-basis matrices held by the bulk reference at the dot's cap (measured, see above).
REFERENCE_MATRICES = 5
#: Bytes per enumerated lattice site in the builder (coordinates, kind, distance, masks and copies).
BUILDER_BYTES = 80
#: The process before any grid (Python, torch, the bundle), measured.
BASE_BYTES = 0.34 * 2**30
#: H applications per converged state measured by bench/dot.py with the default solver (coarse-grid start,
#: float32 first, two-grid preconditioner on H residuals, tol 1e-4, passivated GaAs, 1 thread): (core atoms,
#: applications per state); 213 at 513 atoms lies 11 % below the law through these (240), 306 at 1947 atoms
#: 7 % above it (286).
APPLICATIONS_MEASURED = ((123, 199.0), (979, 261.0))
#: Solve time over (applications x one application): preconditioner FFTs and block linear algebra (bench/dot.py
#: on quiet cores: 0.8-1.2 at 123, 513 and 979 atoms, 1 and 2 threads; one application's timing is noisy).
SOLVE_OVERHEAD = 1.5
#: Grids beyond this many points per axis are not rounded to an FFT size (they are refused anyway).
ROUND_BELOW = 1e6


@dataclass(frozen=True)
class DotEstimate:
    atoms: float
    sites: float
    grid_shape: tuple[float, float, float]
    grid_points: float
    builder_bytes: float
    solver_bytes: float
    projector_bytes: float = 0.0
    reference_bytes: float = 0.0

    @property
    def bytes(self) -> float:
        return BASE_BYTES + max(self.builder_bytes, self.solver_bytes, self.reference_bytes)

    def summary(self) -> str:
        return (f"about {self.atoms:.3g} atoms, a grid of about {' x '.join(f'{n:.0f}' for n in self.grid_shape)} = "
                f"{self.grid_points:.3g} points, about {self.bytes / 2**30:.3g} GiB")


def estimate_dot(crystal, radius: float, spacing: float, vacuum: float, n_states: int,
                 bond_length: float) -> DotEstimate:
    """Estimate of one dot of radius ``radius`` Bohr cut from ``crystal`` (:class:`sepm.crystal.Crystal`);
    ``n_states`` the larger of the valence and conduction states wanted."""
    lattice, basis = np.asarray(crystal.lattice), np.asarray(crystal.positions)
    volume = abs(float(np.linalg.det(lattice)))
    atoms = len(basis) * 4.0 / 3.0 * math.pi * radius**3 / volume
    reach = radius + float(np.linalg.norm(basis - basis.mean(axis=0), axis=1).max()) + bond_length
    span = np.ceil(reach * np.linalg.norm(crystal.reciprocal, axis=1) / (2 * math.pi)) + 1
    sites = float(np.prod(2 * span + 1)) * len(basis)
    n = float(np.ceil(2.0 * (radius + vacuum) / spacing))
    n = float(fft_size(int(n))) if n < ROUND_BELOW else n
    points = n**3
    block = n_states + EXTRA_STATES
    return DotEstimate(atoms=atoms, sites=sites, grid_shape=(n, n, n), grid_points=points,
                       builder_bytes=sites * BUILDER_BYTES,
                       solver_bytes=(VECTORS_PER_STATE * block + FIXED_VECTORS) * points * 8.0)


def solve_seconds(core_atoms: int, states: int, seconds_per_application: float) -> float:
    """Estimated seconds to converge ``states`` states of a dot of ``core_atoms`` atoms, from the measured
    applications per state (power law through ``APPLICATIONS_MEASURED``, at least the smallest dot's) and one
    application's time."""
    (n1, a1), (n2, a2) = APPLICATIONS_MEASURED
    exponent = math.log(a2 / a1) / math.log(n2 / n1)
    per_state = a1 * max(core_atoms / n1, 1.0) ** exponent  # small dots need no fewer
    return SOLVE_OVERHEAD * per_state * states * seconds_per_application


def estimate_spinor_dot(grid, symbols, strengths: dict[str, dict[str, float]], n_states: int,
                        reference_plane_waves: float = 0.0, k_max: float = K_MAX) -> DotEstimate:
    """Estimate of one spinor dot on ``grid`` (:class:`.grid.DotGrid`) with atoms ``symbols`` and the SOC/NL
    ``strengths`` of :func:`.projectors.channel_strengths`; ``n_states`` the larger side's spinor states;
    ``reference_plane_waves`` those of the bulk cell at the dot's kinetic cap."""
    symbols = list(symbols)
    block = n_states + EXTRA_STATES
    stored = workspace = build = 0.0
    channels = {n: SeparableChannel.build(n, k_max) for n in strengths}
    for s in sorted(set(symbols)):
        used = [channels[n] for n in channels if strengths[n].get(s, 0.0) != 0.0]
        if not used:
            continue
        atoms = symbols.count(s)
        points = [len(stencil_offsets(grid, c.cut)) for c in used]
        values = sum(p * 3 * c.rank for p, c in zip(points, used))
        stored += atoms * (8.0 * 1.5 * values + 8.0 * max(points))
        workspace = max(workspace, atoms * max(points) * 2 * 4 * block * 8.0)
        build = max(build, atoms * (max(points) * 41.0 + 8.0 * 4 * max(p * c.rank for p, c in zip(points, used))))
    vectors = (4 * VECTORS_PER_STATE * block + FIXED_VECTORS) * grid.size * 8.0
    return DotEstimate(atoms=len(symbols), sites=0.0, grid_shape=tuple(float(n) for n in grid.shape),
                       grid_points=grid.size, builder_bytes=stored + build, solver_bytes=stored + vectors + workspace,
                       projector_bytes=stored,
                       reference_bytes=REFERENCE_MATRICES * (2 * reference_plane_waves) ** 2 * 16.0)
