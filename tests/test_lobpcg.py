"""Iterative eigensolver (sepm.lobpcg) and its warm start: the same energies and Hellmann-Feynman
gradients as the dense solver, on CsPbI3 SOC + NL (2N = 502 at maxKE 2, 16 bands: iterative) and on
matrices with a known spectrum."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from sepm.bands import band_energies, system_hamiltonian
from sepm.constants import HARTREE_EV
from sepm.eigensolver import WarmStart, lowest_eigenvalues, uses_iterative
from sepm.io import read_bundle
from sepm.lobpcg import lobpcg_lowest
from sepm.pseudopotential import Pseudopotential

BUNDLES = Path(__file__).resolve().parents[1] / "resources" / "bundles"
NBANDS = 16


def known_spectrum(d: int, seed: int, values) -> torch.Tensor:
    """A random unitary rotation of diag(values): Hermitian (1, d, d) with exactly that spectrum."""
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(d, d, generator=gen, dtype=torch.complex128)
    q, _ = torch.linalg.qr(a)
    return ((q * torch.as_tensor(values, dtype=torch.complex128)) @ q.mH)[None]


def test_lobpcg_finds_a_known_spectrum_with_a_multiplet_cut_at_n():
    d = 400
    values = np.concatenate([[-2.0, -1.5, -1.5, -1.5, -1.0], np.linspace(0.0, 40.0, d - 5)])
    h = known_spectrum(d, 1, values)
    start = torch.randn(1, d, 8, dtype=torch.complex128, generator=torch.Generator().manual_seed(2))
    result = lobpcg_lowest(h, 3, start)  # n = 3 cuts the threefold level at -1.5
    assert result.converged
    np.testing.assert_allclose(result.values[0].numpy(), [-2.0, -1.5, -1.5], atol=1e-10)
    residual = h @ result.vectors[:, :, :3] - result.vectors[:, :, :3] * result.values[:, None, :]
    assert float(residual.norm(dim=1).max()) < 1e-6


def cspbi3(maxke: float = 2.0):
    bundle = read_bundle(BUNDLES / "CsPbI3_soc")
    spec = bundle.systems[0]
    spec.maxke, spec.nbands = maxke, NBANDS
    return spec, Pseudopotential.from_bundle(bundle)


def test_warm_started_bands_equal_dense_ones_after_a_parameter_change():
    spec, pp = cspbi3()
    ham = system_hamiltonian(spec, pp)
    assert uses_iterative(ham.dim, NBANDS)
    band_energies(ham, spec.kpoints, NBANDS)  # first evaluation: first k dense, the others from it
    assert ham.warm.dense == 1 and ham.warm.solves == len(spec.kpoints) - 1
    gen = torch.Generator().manual_seed(3)
    pp.params = pp.params * (1 + 0.01 * torch.randn(pp.params.shape, generator=gen, dtype=torch.float64))
    warm = band_energies(ham, spec.kpoints, NBANDS)
    assert ham.warm.solves == 2 * len(spec.kpoints) - 1
    h = ham.matrices(ham.basis.kpoints(spec.kpoints))
    dense = torch.linalg.eigvalsh(h)[:, :NBANDS] * HARTREE_EV
    assert float((warm - dense).abs().max()) < 1e-6  # eV (measured ~1e-11)


def test_k_points_not_seen_before_start_from_the_last_solved_one():
    spec, pp = cspbi3()
    ham = system_hamiltonian(spec, pp)
    kfrac = np.asarray(spec.kpoints, dtype=np.float64)
    band_energies(ham, kfrac[:2], NBANDS)
    path = band_energies(ham, kfrac[2:], NBANDS)
    assert ham.warm.solves == len(kfrac) - 1 and ham.warm.dense == 1
    h = ham.matrices(ham.basis.kpoints(kfrac[2:]))
    np.testing.assert_allclose(path.numpy(), torch.linalg.eigvalsh(h)[:, :NBANDS].numpy() * HARTREE_EV, atol=1e-6)


def loss_gradient(warm: WarmStart | None, pp, ham, kfrac, weights):
    params = pp.params.detach().clone().requires_grad_(True)
    pp.params = params
    h = ham.matrices(ham.basis.kpoints(kfrac))
    values = lowest_eigenvalues(h, NBANDS, warm, kfrac)
    ((values * weights).sum()).backward()
    return params.grad


def test_iterative_gradient_is_the_dense_hellmann_feynman_gradient():
    spec, pp = cspbi3()
    ham = system_hamiltonian(spec, pp)
    kfrac = np.asarray(spec.kpoints, dtype=np.float64)[:2]
    warm = WarmStart()
    with torch.no_grad():
        lowest_eigenvalues(ham.matrices(ham.basis.kpoints(kfrac)), NBANDS, warm, kfrac)
    pp.params = pp.params * 1.005
    # the same weight on both levels of each Kramers pair: a well-defined gradient
    weights = torch.linspace(1.0, 2.0, NBANDS // 2, dtype=torch.float64).repeat_interleave(2)
    iterative = loss_gradient(warm, pp, ham, kfrac, weights)
    assert warm.solves == 3 and warm.dense == 1
    dense = loss_gradient(None, pp, ham, kfrac, weights)
    assert float(dense.abs().max()) > 1.0
    np.testing.assert_allclose(iterative.numpy(), dense.numpy(), rtol=1e-6, atol=1e-8 * float(dense.abs().max()))


def test_a_solve_that_does_not_converge_falls_back_to_dense(monkeypatch, caplog):
    import sepm.eigensolver as eigensolver

    spec, pp = cspbi3()
    ham = system_hamiltonian(spec, pp)
    kfrac = np.asarray(spec.kpoints, dtype=np.float64)[:1]
    band_energies(ham, kfrac, NBANDS)  # one k-point: dense
    monkeypatch.setattr(eigensolver, "lobpcg_lowest", lambda h, n, start: lobpcg_lowest(h, n, start, max_iter=1))
    pp.params = pp.params * 1.05
    with caplog.at_level(logging.WARNING, logger="sepm"):
        bands = band_energies(ham, kfrac, NBANDS)
    assert "did not converge" in caplog.text and ham.warm.dense == 2 and ham.warm.solves == 0
    h = ham.matrices(ham.basis.kpoints(kfrac))
    np.testing.assert_allclose(bands.numpy(), torch.linalg.eigvalsh(h)[:, :NBANDS].numpy() * HARTREE_EV, atol=1e-9)


@pytest.mark.parametrize("dim, n, expected", [(500, 16, True), (400, 16, False), (5034, 32, True), (300, 8, False)])
def test_iterative_only_for_large_bases(dim, n, expected):
    assert uses_iterative(dim, n) is expected
