"""The dot's spinor Hamiltonian with the fit's own SOC (a5) and nonlocal (a6, a7) terms.

Checked against independent code paths: the separable radial form against the semilocal kernel by
quadrature; the atom-centred real-space operators against the bulk plane-wave terms (terms/spinorbit.py,
terms/nonlocal_projector.py) between plane waves; a periodic supercell against the plane-wave Hamiltonian
in the same plane waves; L.S, Kramers pairs and time reversal; a5 = a6 = a7 = 0 against the spin-free grid
Hamiltonian; folded-spectrum LOBPCG against dense diagonalization on a tiny spinor dot.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from sepm.basis import PlaneWaveBasis
from sepm.crystal import Crystal
from sepm.nanocrystal.estimate import estimate_spinor_dot
from sepm.nanocrystal.grid import DotGrid, centred
from sepm.nanocrystal.hamiltonian import GridHamiltonian
from sepm.nanocrystal.projectors import K_MAX, SeparableChannel, channel_strengths, spin_orbit_matrix
from sepm.nanocrystal.radial import LibraryFormFactor, tables_from_form_factor
from sepm.nanocrystal.solver import grid_states
from sepm.nanocrystal.spinor import dot_hamiltonian
from sepm.nanocrystal.supercell import (checkpoint_pseudopotential, galerkin_levels, grid_hamiltonian,
                                       plane_wave_reference, supercell)
from sepm.terms import Nonlocal, SpinOrbit
from threads import single_thread  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
CSPBI3 = ROOT / "tests" / "data" / "deeppseudopot" / "test_parallel_inputs_SOC_noPara"


@pytest.fixture(scope="module")
def cspbi3():
    pp, system = checkpoint_pseudopotential(CSPBI3)
    return pp, Crystal.from_system(system, species=pp.species)


@pytest.mark.parametrize("name", ["a5", "a6", "a7"])
def test_separable_form_reproduces_the_semilocal_radial_kernel(name):
    channel = SeparableChannel.build(name, K_MAX)
    k = torch.linspace(0.0, K_MAX, 97, dtype=torch.float64)
    assert channel.kernel_error(k) < 1e-7
    assert 5 <= channel.rank <= 12 and channel.cut < 6.5
    # the grid's projectors come from a cubic interpolation of a table: against the direct sum of Bessels
    r = torch.cat([torch.linspace(0.0, channel.cut + 1.0, 4001, dtype=torch.float64), torch.tensor([channel.cut])])
    exact = channel.radial(r)
    assert float((channel.interpolate(r) - exact).abs().max()) < 1e-8 * float(exact.abs().max())


def test_spin_orbit_matrix_has_the_j_multiplets():
    ls = spin_orbit_matrix()
    assert torch.allclose(ls, ls.conj().T)
    # L.S = (j(j+1) - 2 - 3/4) / 2: +1/2 four times (j = 3/2), -1 twice (j = 1/2)
    assert np.allclose(torch.linalg.eigvalsh(ls).numpy(), [-1, -1, 0.5, 0.5, 0.5, 0.5])


def _plane_wave_matrix(H, cell, miller):
    """<G, s| V_SO+NL |G', s'> of the grid operator for plane waves with the given Miller indices."""
    grid = H.grid
    r = torch.stack(torch.meshgrid(*[torch.as_tensor(a) for a in grid.axes()], indexing="ij"), -1).reshape(-1, 3)
    G = PlaneWaveBasis(cell, 0.0, miller=miller).G
    pw = torch.exp(1j * ((r + torch.as_tensor(0.5 * np.diag(cell.lattice))) @ G.T)).T / grid.size**0.5
    n = len(G)
    psi = torch.zeros((2 * n, 2, grid.size), dtype=torch.complex128)
    psi[:n, 0], psi[n:, 1] = pw, pw
    out = H.projectors.apply(psi)
    m = torch.einsum("as,jbs->bja", pw.conj(), out)        # (spin, column, G)
    return torch.cat([m[0].T, m[1].T], 0)


def test_real_space_operators_equal_the_bulk_terms_between_plane_waves(cspbi3):
    pp, cell = cspbi3
    H = grid_hamiltonian(cell, pp, 0.5)
    miller = np.array([[i, j, k] for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)])
    basis = PlaneWaveBasis(cell, 0.0, miller=miller)
    gamma = torch.zeros((1, 3), dtype=torch.float64)
    nl = Nonlocal(basis, pp).matrix(gamma)[0]
    bulk = SpinOrbit(basis, pp).matrix(gamma)[0] + torch.block_diag(nl, nl)
    grid = _plane_wave_matrix(H, cell, miller)
    # the grid sums alias the narrow SOC Gaussian (0.7 Bohr): 6e-2 at h = 0.6, 1.6e-3 at 0.5, 4e-8 at 0.4
    assert float((grid - bulk).abs().max()) < 3e-3 * float(bulk.abs().max())


def test_supercell_local_levels_converge_to_the_plane_wave_levels():
    """GaAs, cubic cell of 8 atoms: Gamma, X, X, X of the fcc cell fold onto its Gamma."""
    from sepm.io.bundle import read_bundle
    from sepm.pseudopotential import Pseudopotential

    bundle = read_bundle(ROOT / "resources" / "bundles" / "GaAs")
    pp = replace(Pseudopotential.from_bundle(bundle), long_range=False)
    fcc = Crystal.from_system(bundle.systems[0], species=pp.species)
    cubic = Crystal(np.eye(3) * bundle.systems[0].scale, ("Ga", "As") * 4,
                    np.array([[0, 0, 0], [.25, .25, .25], [0, .5, .5], [.25, .75, .75], [.5, 0, .5],
                              [.75, .25, .75], [.5, .5, 0], [.75, .75, .25]]), pp.species)
    # the supercell helper builds the same cell from a cubic one repeated: check its geometry once
    assert np.allclose(supercell(cubic, (2, 1, 1)).lattice, np.diag([2, 1, 1]) * bundle.systems[0].scale)
    assert abs(fcc.volume * 4 - cubic.volume) < 1e-9
    errors = []
    for spacing in (1.1, 0.9):
        H = grid_hamiltonian(cubic, pp, spacing)
        assert H.projectors is None
        grid = torch.linalg.eigvalsh(GridHamiltonian(H.grid, H.V, H.kinetic_cap).dense())[:20]
        errors.append(float((grid.repeat_interleave(2) - plane_wave_reference(cubic, pp, H.grid)[:40]).abs().max()))
    assert errors[1] < 0.6e-3 and errors[1] < errors[0] / 3  # 43 meV -> 11 meV


@pytest.fixture(scope="module")
def tiny_dot(cspbi3):
    """I-Pb-I along x (Pb-I 5.94 Bohr) in a small box: 18 x 6 x 6 points, 1296 spinor components; its H,
    dense matrix and levels."""
    pp, _ = cspbi3
    tables, _ = tables_from_form_factor(pp.local_form_factor, list(pp.species))
    symbols = ["I", "Pb", "I"]
    positions = centred(np.array([[-5.942, 0.0, 0.0], [0.0, 0.0, 0.0], [5.942, 0.0, 0.0]]))
    grid = DotGrid.around(positions, 1.0, vacuum=3.0)
    H = dot_hamiltonian(grid, symbols, positions, tables, pp)
    h = H.dense()
    return dict(pp=pp, tables=tables, where=(grid, symbols, positions), H=H, h=h, e=torch.linalg.eigvalsh(h))


def test_tiny_spinor_dot_kramers_pairs_and_time_reversal(tiny_dot):
    H, h, e = tiny_dot["H"], tiny_dot["h"], tiny_dot["e"]
    assert set(H.projectors.record["species"]) == {"I", "Pb"}
    assert float((h - h.conj().T).abs().max()) < 1e-12
    assert float((e[0::2] - e[1::2]).abs().max()) < 1e-9          # every level a Kramers pair
    assert float((e[2::2] - e[1:-1:2]).abs().max()) > 1e-3         # and not more degenerate throughout
    psi = H.smooth_random(3, 7)

    def theta(x):  # time reversal i sigma_y K: (up, down) -> (conj down, -conj up)
        up, down = x.reshape(len(x), 2, -1).unbind(1)
        return torch.stack([down.conj(), -up.conj()], 1).reshape(len(x), -1)

    assert float((H.apply(theta(psi)) - theta(H.apply(psi))).abs().max()) < 1e-9 * float(psi.abs().max())


def test_zero_soc_and_nl_give_twice_the_spin_free_levels(tiny_dot):
    pp, tables, (grid, symbols, positions) = tiny_dot["pp"], tiny_dot["tables"], tiny_dot["where"]
    params = pp.params.clone()
    params[:, 5:8] = 0.0
    H = dot_hamiltonian(grid, symbols, positions, tables, replace(pp, params=params))
    assert H.projectors is None
    spin_free = torch.linalg.eigvalsh(GridHamiltonian(grid, H.V, H.kinetic_cap).dense()).repeat_interleave(2)
    assert float((torch.linalg.eigvalsh(H.dense()) - spin_free).abs().max()) < 1e-10
    assert float((tiny_dot["e"] - spin_free).abs().max()) > 0.01   # and the terms do act


def test_folded_lobpcg_on_the_spinor_dot_matches_dense(tiny_dot):
    H, dense = tiny_dot["H"], tiny_dot["e"]
    sigma = float(dense[20] + dense[21]) / 2.0 + 1e-3
    levels = grid_states(H, sigma, 8, coarse=False, tol=1e-5)  # complex spinor blocks as they are
    assert levels.converged and levels.vectors.is_complex()
    e, residuals, psi = levels.energies, levels.residuals, levels.vectors
    nearest = dense[(dense - sigma).abs().argsort()[: len(e)]].sort().values
    assert len(e) >= 4 and float((e - nearest).abs().max()) < 1e-6
    assert float(residuals.max()) < 1e-4
    assert torch.allclose(psi.conj() @ psi.T, torch.eye(len(e), dtype=torch.complex128), atol=1e-10)


def test_supercell_soc_nl_levels_equal_the_plane_wave_levels(cspbi3):
    """CsPbI3 cell with SOC + NL from the shipped checkpoint, both Hamiltonians in the plane waves of
    maxKE 1 Ha at Gamma, the plane-wave local part the grid's own tables: the grid's error alone."""
    pp, cell = cspbi3
    tables, _ = tables_from_form_factor(pp.local_form_factor, list(pp.species))
    H = grid_hamiltonian(cell, pp, 0.5)
    grid, _ = galerkin_levels(H, cell, pp, 1.0)
    _, ref = galerkin_levels(H, cell, replace(pp, local=LibraryFormFactor(tables, pp.species)), 1.0)
    assert float((grid[0::2] - grid[1::2]).abs().max()) < 1e-9          # Kramers pairs
    assert float((grid - ref)[:24].abs().max()) < 4e-3 / 27.2114        # 2.2 meV at maxKE 2 (bench)


def test_coarse_grid_and_complex64_start_gives_the_dense_levels(tiny_dot, monkeypatch):
    """The start spin-free dots have (states of every second grid point, then complex64, then complex128):
    I-Pb-I at h = 0.8 Bohr (coarse grid 1.6 Bohr, projectors rebuilt there)."""
    _, symbols, positions = tiny_dot["where"]
    grid = DotGrid.around(positions, 0.8, vacuum=2.5)
    H = dot_hamiltonian(grid, symbols, positions, tiny_dot["tables"], tiny_dot["pp"])
    low, coarse = H.single(), H.coarsened()
    assert coarse.shape == tuple(n // 2 for n in H.shape) and set(coarse.projectors.record["species"]) == {"I", "Pb"}
    X = H.smooth_random(2, 3)
    exact = H.apply(X)
    error = float((low.apply(X.to(torch.complex64)) - exact).abs().max() / exact.abs().max())
    assert low.dtype == torch.complex64 and 1e-9 < error < 1e-5
    dense = torch.linalg.eigvalsh(H.dense())
    sigma = float(dense[9] + dense[10]) / 2.0 + 1e-3   # between two bound Kramers pairs
    coarsened, used = type(H).coarsened, []
    monkeypatch.setattr(type(H), "coarsened", lambda self: used.append(self.dtype) or coarsened(self))
    levels = grid_states(H, sigma, 4, tol=1e-4)
    assert used == [torch.complex64]                    # the complex64 copy started from the coarse grid
    assert levels.converged and levels.vectors.dtype == torch.complex128
    nearest = dense[(dense - sigma).abs().argsort()[: len(levels.energies)]].sort().values
    assert float((levels.energies - nearest).abs().max()) < 1e-6


def test_spinor_memory_estimate_counts_the_projectors_the_solver_holds(tiny_dot):
    """estimate_spinor_dot before anything is built: its projector bytes against the tensors of the built
    operator and of its complex64 copy (the solver holds both)."""
    pp, tables, (_, symbols, positions) = tiny_dot["pp"], tiny_dot["tables"], tiny_dot["where"]
    grid = DotGrid.around(positions, 0.8, vacuum=2.5)
    estimate = estimate_spinor_dot(grid, symbols, channel_strengths(pp), 4)
    H = dot_hamiltonian(grid, symbols, positions, tables, pp)
    held = sum(b.index.numel() * 8 + sum(c.projectors.numel() * 8 * 1.5 for c in b.channels)
               for b in H.projectors.blocks)
    assert estimate.projector_bytes == pytest.approx(held, rel=1e-12)
