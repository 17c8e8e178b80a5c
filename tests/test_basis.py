"""The plane-wave basis is the complete sphere (1/2)|G|^2 < maxKE for any cell."""

import numpy as np
import pytest
import torch

from crystals import FCC
from sepm.basis import PlaneWaveBasis
from sepm.crystal import Crystal


def brute_force_sphere(reciprocal, maxke, box=25):
    r = np.arange(-box, box + 1)
    n = np.stack(np.meshgrid(r, r, r, indexing="ij"), -1).reshape(-1, 3)
    g = n @ reciprocal
    return {tuple(m) for m in n[0.5 * np.einsum("ij,ij->i", g, g) < maxke]}


@pytest.mark.parametrize("cell", [
    10.683 * FCC,
    # strongly sheared: a2 and a3 lean far over a1 (angles ~ 10 degrees)
    np.array([[6.0, 0.0, 0.0], [29.0, 5.0, 0.0], [31.0, 2.0, 4.0]]),
], ids=["fcc", "sheared"])
def test_basis_is_complete_sphere(cell):
    crystal = Crystal(cell, ("X",), np.zeros((1, 3)))
    maxke = 4.0
    basis = PlaneWaveBasis(crystal, maxke)
    found = {tuple(m) for m in basis.miller}
    assert len(found) == basis.size  # no duplicates
    assert found == brute_force_sphere(crystal.reciprocal, maxke)
    g2 = (basis.G**2).sum(1).numpy()
    assert np.all(np.diff(g2) > -1e-9)  # sorted by |G|
    assert g2[0] == 0.0


def test_sheared_cell_needs_large_miller_indices():
    """A cube of small Miller indices would miss plane waves of the sheared cell."""
    cell = np.array([[6.0, 0.0, 0.0], [29.0, 5.0, 0.0], [31.0, 2.0, 4.0]])
    basis = PlaneWaveBasis(Crystal(cell, ("X",), np.zeros((1, 3))), 4.0)
    assert np.abs(basis.miller).max() > 10


def test_pair_shells_reproduce_all_differences():
    crystal = Crystal(10.683 * FCC, ("Ga", "As"), np.array([[0.125] * 3, [-0.125] * 3]))
    basis = PlaneWaveBasis(crystal, 3.0)
    q_direct = torch.linalg.vector_norm(basis.G[:, None, :] - basis.G[None, :, :], dim=-1)
    assert torch.allclose(basis.pair_q[basis.pair_index], q_direct, rtol=1e-8, atol=1e-12)
    assert len(basis.pair_q) < basis.size**2 / 50  # far fewer distinct values than pairs


def test_lattice_and_reciprocal_conventions():
    crystal = Crystal(10.683 * FCC, ("Ga", "As"), np.array([[0.125] * 3, [-0.125] * 3]))
    assert crystal.volume == pytest.approx(10.683**3 / 4)
    assert np.allclose(crystal.lattice @ crystal.reciprocal.T, 2 * np.pi * np.eye(3))
    assert np.allclose(crystal.positions[0], 10.683 * 0.125 * np.array([1.0, 1.0, 1.0]))
    assert crystal.species == ("As", "Ga")
