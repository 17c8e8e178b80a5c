"""Band energies against Cohen & Bergstresser, Phys. Rev. 141, 789 (1966) form factors.

The expected numbers are those of a converged calculation with the published form factors and the
published splittings (SPEC section 8), not our own output."""

import numpy as np
import pytest

from crystals import cohen_bergstresser_hamiltonian
from sepm.bands import band_energies

GAMMA, X, L = [0, 0, 0], [0.5, 0, 0.5], [0.5, 0.5, 0.5]


def levels(a, vs, va=(0.0, 0.0, 0.0)):
    """Spin-free levels at Gamma, X, L relative to the valence top Gamma25' (eV)."""
    e = band_energies(cohen_bergstresser_hamiltonian(a, vs, va), [GAMMA, X, L], 20).numpy()[:, ::2]
    return e - e[0, 3]


@pytest.fixture(scope="module")
def si():
    return levels(5.43, (-0.21, 0.04, 0.08))


@pytest.fixture(scope="module")
def gaas():
    return levels(5.64, (-0.23, 0.01, 0.06), (0.07, 0.05, 0.01))


def test_si_converged_levels(si):
    assert si[0, 0:4] == pytest.approx([si[0, 0], 0, 0, 0], abs=1e-9)  # Gamma25' triply degenerate
    assert si[0, 4] == pytest.approx(3.42, abs=0.05)  # Gamma15
    assert si[0, 7] == pytest.approx(3.89, abs=0.05)  # Gamma2'
    assert si[1, 4] == pytest.approx(0.95, abs=0.05)  # X1 (conduction)
    assert si[2, 4] == pytest.approx(1.88, abs=0.05)  # L1 (conduction)


def test_si_published_splittings(si):
    l3p, l1, l3 = si[2, 3], si[2, 4], si[2, 5]
    x4, x1 = si[1, 3], si[1, 4]
    assert si[0, 4] - si[0, 3] == pytest.approx(3.4, abs=0.1)  # Gamma25' - Gamma15
    assert l1 - l3p == pytest.approx(3.1, abs=0.1)  # L3' - L1
    assert x1 - x4 == pytest.approx(4.0, abs=0.1)  # X4 - X1
    assert l3 - l3p == pytest.approx(5.2, abs=0.1)  # L3' - L3


def test_si_indirect_gap_near_x(si):
    assert si[1, 4] < si[2, 4] < si[0, 4]


def test_gaas_levels(gaas):
    assert gaas[0, 4] == pytest.approx(1.42, abs=0.05)  # Gamma1c
    assert gaas[1, 4] == pytest.approx(1.74, abs=0.05)  # X1c
    assert gaas[2, 4] == pytest.approx(1.66, abs=0.05)  # L1c
    assert gaas[0, 0] == pytest.approx(-12.25, abs=0.05)  # Gamma1v


def test_ge_conduction_minimum_at_l():
    ge = levels(5.66, (-0.23, 0.01, 0.06))
    assert ge[0, 0:4] == pytest.approx([ge[0, 0], 0, 0, 0], abs=1e-9)
    cbm = ge[:, 4]
    assert np.argmin(cbm) == 2  # Ge is an indirect L-valley semiconductor
    assert 0.0 < cbm[2] < cbm[0]


def test_antisymmetric_form_factor_sign_is_irrelevant():
    """Swapping the two species (VA -> -VA) is an inversion; time reversal keeps E(k) = E(-k)."""
    a = levels(5.64, (-0.23, 0.01, 0.06), (0.07, 0.05, 0.01))
    b = levels(5.64, (-0.23, 0.01, 0.06), (-0.07, -0.05, -0.01))
    assert np.allclose(a, b, atol=1e-9)
