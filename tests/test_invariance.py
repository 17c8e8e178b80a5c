"""Spectra do not depend on the choice of origin or of lattice vectors; supercells fold bands."""

import numpy as np
import torch

from crystals import gaas_pseudopotential, hamiltonian, zincblende
from sepm.bands import band_energies

K_CART_FRAC = [[0.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.13, 0.31, 0.07], [0.5, 0.25, 0.75]]
SOC = dict(soc=True, nonlocal_=True, a5=(0.3, 0.1), a67=((0.3, -0.1), (0.5, 0.2)))


def bands_at_cartesian(crystal, pp, k_cart, nbands, maxke=3.0):
    kfrac = np.asarray(k_cart) @ np.linalg.inv(crystal.reciprocal)
    return band_energies(hamiltonian(crystal, pp, maxke), kfrac, nbands)


def test_common_translation_leaves_spectrum_unchanged():
    crystal = zincblende()
    pp = gaas_pseudopotential(**SOC)
    k = crystal.kpoints_cartesian(K_CART_FRAC)
    moved = crystal.translated([0.37, -1.2, 2.9])
    assert torch.allclose(bands_at_cartesian(crystal, pp, k, 16), bands_at_cartesian(moved, pp, k, 16), atol=1e-10)


def test_equivalent_lattice_vectors_give_same_bands():
    crystal = zincblende()
    pp = gaas_pseudopotential(**SOC)
    k = crystal.kpoints_cartesian(K_CART_FRAC)
    unimodular = np.array([[1, 1, 0], [0, 1, 0], [-1, 2, 1]])  # det 1
    lattice = unimodular @ crystal.lattice
    frac = crystal.positions @ np.linalg.inv(lattice)
    other = type(crystal)(lattice, crystal.atom_species, frac, crystal.species)
    assert torch.allclose(bands_at_cartesian(crystal, pp, k, 16), bands_at_cartesian(other, pp, k, 16), atol=1e-9)


def test_supercell_folds_primitive_bands():
    """The 2x1x1 supercell spectrum at k is the union of the primitive spectra at k and k + b1/2.

    The cutoff is on |G|, so the two bases differ by plane waves near the sphere surface; with a
    converged cutoff the low bands agree to a few meV."""
    crystal = zincblende()
    pp = gaas_pseudopotential()
    super_cell = crystal.supercell([2, 1, 1])
    b1 = crystal.reciprocal[0]
    k = crystal.kpoints_cartesian([[0.1, 0.2, 0.05]])
    maxke = 9.0
    prim = torch.cat([bands_at_cartesian(crystal, pp, k, 16, maxke), bands_at_cartesian(crystal, pp, k + b1 / 2, 16, maxke)], 1)
    folded = torch.sort(prim, dim=1).values[:, :16]
    sup = bands_at_cartesian(super_cell, pp, k, 16, maxke)
    assert (folded - sup).abs().max() < 5e-3
    assert super_cell.volume == 2 * crystal.volume
