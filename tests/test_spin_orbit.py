"""Spin-orbit coupling and the nonlocal term: Kramers degeneracy, the zero-SOC limit, linearity."""

import numpy as np
import pytest
import torch

from crystals import BUNDLES, gaas_pseudopotential, hamiltonian, zincblende
from sepm.bands import band_energies, system_hamiltonian
from sepm.basis import PlaneWaveBasis
from sepm.hamiltonian import Hamiltonian
from sepm.io import read_bundle
from sepm.pseudopotential import Pseudopotential

GENERAL_K = [[0.5, 0.5, 0.5], [0.0, 0.0, 0.0], [0.13, 0.31, 0.07], [0.5, 0.25, 0.75], [0.21, -0.4, 0.33]]


def test_hamiltonian_is_hermitian():
    pp = gaas_pseudopotential(soc=True, nonlocal_=True, a5=(0.2, 0.1), a67=((0.3, -0.1), (0.5, 0.2)))
    h = hamiltonian(zincblende(), pp, 3.0)
    m = h.matrices(h.basis.kpoints(GENERAL_K))
    assert torch.allclose(m, m.conj().transpose(-1, -2), atol=1e-14)


def test_kramers_degeneracy_at_every_k_with_inversion():
    """Time reversal + inversion: every level is doubly degenerate at every k (cubic CsPbI3)."""
    bundle = read_bundle(BUNDLES / "CsPbI3_soc")
    pp = Pseudopotential.from_bundle(bundle)
    assert pp.soc and pp.nonlocal_
    ham = system_hamiltonian(bundle.systems[0], pp)
    ham = Hamiltonian(PlaneWaveBasis(ham.basis.crystal, 2.0), pp)
    e = band_energies(ham, GENERAL_K, 24).numpy()
    assert np.allclose(e[:, 0::2], e[:, 1::2], atol=1e-9)
    assert np.abs(np.diff(e[:, 1::2], axis=1)).max() > 0.1  # not trivially degenerate


def test_time_reversal_without_inversion():
    """Zinc blende has no inversion: SOC splits spins at general k, but E(k) = E(-k) and levels
    stay Kramers-degenerate at the time-reversal-invariant momenta Gamma, L, X."""
    pp = gaas_pseudopotential(soc=True, nonlocal_=True, a5=(0.4, 0.2), a67=((0.3, -0.1), (0.5, 0.2)))
    ham = hamiltonian(zincblende(), pp, 3.0)
    k = np.array(GENERAL_K)
    e, e_minus = band_energies(ham, k, 16).numpy(), band_energies(ham, -k, 16).numpy()
    assert np.allclose(e, e_minus, atol=1e-9)
    trim = band_energies(ham, [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0, 0.5]], 16).numpy()
    assert np.allclose(trim[:, 0::2], trim[:, 1::2], atol=1e-9)
    assert np.abs(e[2, 0::2] - e[2, 1::2]).max() > 1e-3  # Dresselhaus splitting at general k
    top = trim[0, 10:16]
    assert top.max() - top.min() > 0.01  # SOC splits the 6-fold Gamma valence top (2 + 4)
    assert np.allclose(top[2:], top[2], atol=1e-9)


@pytest.mark.parametrize("nonlocal_", [False, True])
def test_zero_soc_reproduces_spin_free_spectrum(nonlocal_):
    a67 = ((0.3, -0.1), (0.5, 0.2))
    crystal = zincblende()
    spinor = band_energies(hamiltonian(crystal, gaas_pseudopotential(True, nonlocal_, a67=a67), 3.0), GENERAL_K, 20)
    scalar = band_energies(hamiltonian(crystal, gaas_pseudopotential(False, nonlocal_, a67=a67), 3.0), GENERAL_K, 20)
    assert torch.allclose(spinor, scalar, atol=1e-10)
    assert torch.equal(scalar[:, 0::2], scalar[:, 1::2])  # spin doubling


def test_gamma_valence_splitting_is_linear_in_a5():
    crystal = zincblende()

    def split(a5):
        e = band_energies(hamiltonian(crystal, gaas_pseudopotential(True, False, a5=(a5, a5)), 3.0), [[0, 0, 0]], 8)
        e = e[0].numpy()
        return e[6] - e[2]  # Gamma8 (4-fold top) minus Gamma7 (split-off)

    small = [split(a) for a in (0.001, 0.002, 0.004)]
    assert small[0] > 0
    assert small[1] / small[0] == pytest.approx(2.0, rel=2e-3)
    assert small[2] / small[0] == pytest.approx(4.0, rel=4e-3)


def test_nonlocal_shifts_spin_free_levels():
    crystal = zincblende()
    base = band_energies(hamiltonian(crystal, gaas_pseudopotential(), 3.0), GENERAL_K, 8)
    nl = band_energies(hamiltonian(crystal, gaas_pseudopotential(False, True, a67=((0.5, 0.5), (0.5, 0.5))), 3.0),
                       GENERAL_K, 8)
    assert (nl - base).abs().max() > 0.01


def test_one_projector_cache_serves_several_cells():
    """cacheSO shares one cache between a system and its strained cell: at the same k (Γ) each cell must
    get its own SO/NL geometry (the deformation-potential rows evaluate both at Γ)."""
    from sepm.terms.base import ProjectorCache

    pp = gaas_pseudopotential(soc=True, nonlocal_=True, a5=(0.2, 0.1), a67=((0.3, -0.1), (0.5, 0.2)))
    crystal = zincblende()
    plain = [hamiltonian(c, pp, 3.0) for c in (crystal, crystal.scaled(1.01))]
    cached = [hamiltonian(c, pp, 3.0) for c in (crystal, crystal.scaled(1.01))]
    cache = ProjectorCache(2**30)
    for ham in cached:
        ham.basis.projector_cache = cache
    with torch.no_grad():
        for k in ([[0.0, 0.0, 0.0]], [[0.0, 0.0, 0.0], [0.5, 0.5, 0.0]]):  # Γ is k = 0 in every cell
            for a, b in zip(plain, cached):
                assert torch.allclose(band_energies(b, k, 16), band_energies(a, k, 16), rtol=0, atol=1e-10)
    assert len(cache.store) == 8  # (cell, term, k batch)
