"""The dot solver's pieces: folded LOBPCG on a generic complex Hermitian operator against eigh, the
coarse grid's Fourier interpolation against exact band-limited functions, and the coarse-grid start
against smooth random starts on the same dot (same levels, fewer applications), and the float32 run
before the double-precision one (same levels, residuals below the target in double precision); the
two-grid preconditioner against its exact value on plane waves of a constant potential, and its solve
(one H application per new vector, on the residuals of H) against dense diagonalization (fewer iterations
and applications than with (T + s)^-2 on the folded residuals); the reference placed after the coarse-grid
start (its rule, and the dense levels from it, also when placed too far)."""

import numpy as np
import pytest
import torch

from sepm.crystal import Crystal
from sepm.io import read_bundle
from sepm.nanocrystal.builder import build_nanocrystal
from sepm.nanocrystal.grid import DotGrid, centred, potential_on_grid
from sepm.nanocrystal.hamiltonian import GridHamiltonian
from sepm.nanocrystal.solver import folded_lobpcg, grid_states
from sepm.nanocrystal.two_grid import TwoGridPreconditioner
from sepm.nanocrystal.ligands import ligand_tables
from sepm.nanocrystal.potfiles import read_library
from test_nanocrystal_dot import GAAS, LIBRARY
from threads import single_thread  # noqa: F401


def test_folded_lobpcg_on_a_complex_hermitian_callable_finds_the_levels_nearest_sigma():
    gen = torch.Generator().manual_seed(3)
    n = 80
    A = torch.randn(n, n, dtype=torch.complex128, generator=gen)
    M = 0.25 * (A + A.mH) + torch.diag(torch.linspace(-3.0, 3.0, n, dtype=torch.float64)).to(torch.complex128)
    exact = torch.linalg.eigvalsh(M)
    sigma = 0.3
    X = torch.randn(6, n, dtype=torch.complex128, generator=gen)
    levels = folded_lobpcg(lambda Y: Y @ M.T, X, sigma, 4, tol=1e-8, max_iter=3000)
    nearest = exact[torch.argsort((exact - sigma).abs())[:4]].sort().values
    assert levels.converged and levels.vectors.dtype == torch.complex128
    assert torch.allclose(levels.energies, nearest, atol=1e-10)
    # Each vector is an eigenvector of M: residuals measured afresh.
    res = (levels.vectors @ M.T - levels.energies[:, None] * levels.vectors).norm(dim=1)
    assert float(res.max()) < 1e-8 and levels.applications > 0


def test_coarse_grid_is_every_second_point_and_prolongation_is_exact_for_band_limited_vectors():
    grid = DotGrid((6.0, 5.0, 4.0), (24, 20, 16))
    V = torch.rand(grid.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    H = GridHamiltonian(grid, V)
    Hc = H.coarsened()
    assert Hc.shape == (12, 10, 8) and torch.equal(Hc.V, V[::2, ::2, ::2])
    assert np.allclose(Hc.grid.axes()[1], grid.axes()[1][::2])
    # A band-limited function (frequencies below the coarse Nyquist) is interpolated exactly.
    x, y, z = np.meshgrid(*grid.axes(), indexing="ij")
    f = np.cos(2 * np.pi * 3 * x / 12.0 + 0.4) * np.sin(2 * np.pi * 2 * y / 10.0 + 0.1) + np.cos(2 * np.pi * z / 8.0)
    fine = torch.as_tensor(f.reshape(1, -1))
    out = H.prolonged(fine.reshape(1, *grid.shape)[:, ::2, ::2, ::2].reshape(1, -1), Hc)
    assert torch.allclose(out, fine / fine.norm(), atol=1e-12)
    # Coarse applications count as N_coarse / N fine ones.
    H.applications = 0
    Hc.apply(torch.zeros(3, Hc.size, dtype=torch.float64))
    assert H.applications == pytest.approx(3 / 8) and Hc.applications == 0


@pytest.fixture(scope="module")
def small_dot():
    system = read_bundle(GAAS).systems[0]
    tables = read_library(LIBRARY, ["As", "Ga"])
    tables.update(ligand_tables(1024, tables["Ga"].dr))
    dot = build_nanocrystal(Crystal.from_system(system), 5.0, min_bonds=1)
    pos = centred(dot.positions)
    grid = DotGrid.around(pos, 0.8)
    return GridHamiltonian(grid, potential_on_grid(grid, dot.symbols, pos, tables)[0])


def test_coarse_start_gives_the_same_levels_with_fewer_applications(small_dot):
    H = small_dot
    runs = {}
    for coarse in (False, True):
        H.applications = 0
        # The kinetic preconditioner: on this tiny dot the two-grid one leaves the start little to save.
        levels = grid_states(H, -0.2, 3, coarse=coarse, single=False, two_grid=False, tol=1e-6)
        runs[coarse] = (levels, H.applications)
    assert runs[True][0].converged and runs[False][0].converged
    assert torch.allclose(runs[True][0].energies, runs[False][0].energies, atol=1e-9)
    assert runs[True][1] < 0.8 * runs[False][1]


def test_float32_run_first_gives_the_double_precision_levels(small_dot):
    H = small_dot
    low = H.single()
    assert low.V.dtype == torch.float32 and low.T.dtype == torch.float32 and low.single() is None
    X = H.smooth_random(2, 0)
    assert torch.allclose(low.apply(X.float()).double(), H.apply(X), atol=1e-5 * float(H.apply(X).abs().max()))
    double = grid_states(H, -0.2, 3, single=False, tol=1e-6)
    mixed = grid_states(H, -0.2, 3, single=True, tol=1e-6)
    assert mixed.converged and mixed.vectors.dtype == torch.float64
    assert torch.allclose(mixed.energies, double.energies, atol=1e-9)
    # Residuals of the returned vectors measured afresh in double precision.
    res = (H.apply(mixed.vectors) - mixed.energies[:, None] * mixed.vectors).norm(dim=1)
    assert float(res.max()) < 1e-6


@pytest.mark.parametrize("coarse", [True, False])  # False: the coarse-grid start's form, on H's own grid
def test_two_grid_preconditioner_is_exact_on_plane_waves_of_a_constant_potential(coarse):
    grid = DotGrid((4.8, 4.8, 4.8), (12, 12, 12))
    c, sigma, shift, beta = -0.3, 0.1, 0.3, -0.05
    H = GridHamiltonian(grid, torch.full(grid.shape, c, dtype=torch.float64))
    K = TwoGridPreconditioner(H, sigma, shift, eps=0.01, steps=3, coarse=coarse)
    x = torch.as_tensor(grid.axes()[0], dtype=torch.float64)[:, None, None].expand(grid.shape)
    L = 2 * 4.8
    for m in (1, 2, 5):  # below the coarse (6^3; own: 12^3) Nyquist frequency: the CG solve; above: (T + s)^-1
        g = 2 * np.pi * m / L
        psi = torch.cos(g * x + 0.3).reshape(1, -1)
        b = 0.5 * g * g + c - sigma  # H - sigma on this plane wave
        expect = (b + beta) / (b**2 + 0.01) if m < (3 if coarse else 6) else 1 / (0.5 * g * g + shift)
        # float32 inside: relative precision 1e-5
        assert torch.allclose(K(psi, torch.tensor([beta])), expect * psi, rtol=1e-5, atol=1e-10 * abs(expect))
    # A whole block of random residuals: coarse applications counted as N_c / N each, once for H_c - sigma + beta,
    # then twice per step.
    H.applications = 0
    K(torch.randn(2, grid.size, dtype=torch.float64, generator=torch.Generator().manual_seed(0)), torch.zeros(2))
    assert H.applications == pytest.approx(2 * (1 + 2 * 3) / (8 if coarse else 1))


@pytest.mark.parametrize("n", [12, 10])  # coarse grids 6^3 (even: a Nyquist plane) and 5^3 (odd: none)
def test_two_grid_inner_product_on_half_spectra_is_the_real_one(n):
    H = GridHamiltonian(DotGrid((4.8, 4.8, 4.8), (n, n, n)), torch.zeros((n, n, n), dtype=torch.float64))
    K = TwoGridPreconditioner(H, 0.0, 0.3)
    gen = torch.Generator().manual_seed(1)
    a, b = (torch.randn(2, *K.Hc.shape, generator=gen, dtype=torch.float64) for _ in range(2))
    spectra = [torch.fft.rfftn(x.float(), dim=(-3, -2, -1)) for x in (a, b)]
    expect = K.Hc.size * (a * b).sum(dim=(-3, -2, -1))
    assert torch.allclose(K._dot(*spectra).double(), expect, rtol=1e-4)


def test_two_grid_preconditioned_solve_gives_the_dense_levels():
    system = read_bundle(GAAS).systems[0]
    tables = read_library(LIBRARY, ["As", "Ga"])
    tables.update(ligand_tables(1024, tables["Ga"].dr))
    dot = build_nanocrystal(Crystal.from_system(system), 5.0, min_bonds=1)
    grid = DotGrid((4.8, 4.8, 4.8), (12, 12, 12))  # spacing 0.8: a 6^3 coarse grid
    H = GridHamiltonian(grid, potential_on_grid(grid, dot.symbols, centred(dot.positions), tables)[0])
    dense = torch.linalg.eigvalsh(H.dense())
    sigma = float(dense[16] + 0.3 * (dense[17] - dense[16]))
    nearest = dense[torch.argsort((dense - sigma).abs())[:3]].sort().values
    runs, applications = {}, {}
    for two in (False, True):
        H.applications = 0
        runs[two] = grid_states(H, sigma, 3, coarse=False, single=False, two_grid=two, tol=1e-7)
        applications[two] = H.applications  # coarse ones included
    for levels in runs.values():
        assert levels.converged
        assert float((levels.energies[:3] - nearest).abs().max()) < 1e-6
        res = (H.apply(levels.vectors) - levels.energies[:, None] * levels.vectors).norm(dim=1)
        assert float(res.max()) < 1e-7
    assert runs[True].iterations < runs[False].iterations and applications[True] < applications[False]
    assert "two-grid" in runs[True].method and "two-grid" not in runs[False].method


def test_recentring_places_the_reference_at_the_distance_from_the_levels_up_to_the_ratio():
    from sepm.nanocrystal.solver import REFERENCE_DISTANCE, REFERENCE_RATIO, _recentring

    levels = torch.tensor([-0.010, -0.005, -0.007])
    # Valence edge at 0, conduction edge at 0.1: the distance from the nearest level decides.
    assert _recentring(0.0, 0.05, False)(levels, 0.0) == pytest.approx(-0.005 + REFERENCE_DISTANCE)
    # Conduction edge at 0.04: the farthest level ends REFERENCE_RATIO x as far as that edge.
    moved = _recentring(0.0, 0.02, False)(levels, 0.0)
    assert moved < -0.005 + REFERENCE_DISTANCE and moved - -0.010 == pytest.approx(REFERENCE_RATIO * (0.04 - moved))
    # The conduction side mirrors it. The reference goes there from either side (a tiny dot's LUMO lies far
    # above the bulk CBM); levels across mid are ignored, and with none on the wanted side it stays.
    assert _recentring(0.1, 0.05, True)(0.1 - levels, 0.1) == pytest.approx(0.105 - REFERENCE_DISTANCE)
    assert _recentring(0.0, 0.05, False)(levels, 0.04) == pytest.approx(-0.005 + REFERENCE_DISTANCE)
    assert _recentring(0.0, 0.05, False)(torch.tensor([-0.005, 0.06]), 0.0) == pytest.approx(-0.005 + REFERENCE_DISTANCE)
    assert _recentring(0.0, 0.05, False)(torch.tensor([0.06, 0.07]), 0.01) == 0.01


def test_edge_states_from_a_placed_reference_gives_the_dense_levels(monkeypatch):
    from sepm.constants import HARTREE_EV
    from sepm.nanocrystal import solver

    system = read_bundle(GAAS).systems[0]
    tables = read_library(LIBRARY, ["As", "Ga"])
    tables.update(ligand_tables(1024, tables["Ga"].dr))
    dot = build_nanocrystal(Crystal.from_system(system), 5.0, min_bonds=1)
    grid = DotGrid((5.6, 5.6, 5.6), (16, 16, 16))  # spacing 0.7: an 8^3 coarse-grid start
    H = GridHamiltonian(grid, potential_on_grid(grid, dot.symbols, centred(dot.positions), tables)[0])
    dense = torch.linalg.eigvalsh(H.dense())
    monkeypatch.setattr(solver, "TUNED_POINTS", 0)  # as on a large dot's grid: placed into the gap too
    # "Bulk edges" 0.05 eV inside the 4.4 eV gap between levels 15 (a triplet's last) and 16.
    vbm, cbm = float(dense[15]) + 0.05 / HARTREE_EV, float(dense[16]) - 0.05 / HARTREE_EV
    mid = 0.5 * (vbm + cbm)
    expect = dense[13:16]
    levels, side, tried = solver.edge_states(H, vbm, 3, mid, False, tol=1e-6)
    assert levels.converged and bool(side.all()) and len(tried) == 1
    # Placed where the farthest coarse-grid level lies REFERENCE_RATIO x as far as the conduction edge.
    assert (tried[0] - vbm) * HARTREE_EV > 0.3
    assert float((levels.energies - expect).abs().max()) < 1e-9
    assert "reference placed" in levels.method
    # Moved too far (past mid-gap), the run finds conduction states and is repeated from the edge.
    monkeypatch.setattr(solver, "REFERENCE_RATIO", 50.0)
    monkeypatch.setattr(solver, "REFERENCE_DISTANCE", 4.0 / HARTREE_EV)
    levels, side, tried = solver.edge_states(H, vbm, 3, mid, False, tol=1e-6)
    assert len(tried) == 2 and tried[0] > mid and tried[1] == vbm
    assert bool(side.all()) and float((levels.energies - expect).abs().max()) < 1e-9
