"""Plane-wave basis: every G = n1 b1 + n2 b2 + n3 b3 with (1/2)|G|^2 < maxKE.

The cutoff is on |G| (not |k+G|), so one basis serves every k-point. The Miller-index box that
is searched is derived from the sphere itself: a reciprocal vector G has n_i = G . a_i / 2 pi, so
|n_i| <= |G|max |a_i| / 2 pi. That bound is exact for any cell, sheared or not, so the sphere is
always complete. Plane waves are sorted by increasing |G|^2, ties broken by Miller indices.

The basis also holds the geometry shared by the Hamiltonian terms:
- ``pair_q`` / ``pair_index``: the distinct values of |G_i - G_j| and, for every pair (i, j), the
  index of its value, so a form factor is evaluated on far fewer than N^2 arguments and scattered;
- ``phases``: u_a,i = exp(i G_i . tau_a), from which any species-weighted structure factor
  sum_a c_a exp(i (G_i - G_j) . tau_a) / Omega = (U diag(c) U^H)_ij / Omega is one matrix product.
"""

from __future__ import annotations

import numpy as np
import torch

from .crystal import Crystal

#: Species structure factors are kept (k- and parameter-independent) while they fit in this many bytes.
STRUCTURE_FACTOR_CACHE_BYTES = 512 * 2**20

#: Relative resolution used to decide that two |G_i - G_j|^2 values are the same shell.
_SHELL_DIGITS = 9


def sphere_miller_indices(reciprocal: np.ndarray, lattice: np.ndarray, maxke: float,
                          deeppseudopot: bool = False) -> np.ndarray:
    """All integer triples n with (1/2)|n @ B|^2 < maxke, sorted by |G|^2 then by n.

    ``deeppseudopot``: DeepPseudopot's search box instead, |n_i| <= int(sqrt(2 maxke) / min_i |b_i|) on
    every axis; in a non-orthogonal cell (fcc, hexagonal) that box cuts the sphere and some plane waves
    below maxKE are left out (the NN_config key ``deeppseudopot_basis = 1`` reproduces its numbers)."""
    gmax = np.sqrt(2.0 * maxke)
    if deeppseudopot:
        bounds = np.full(3, int(gmax / np.linalg.norm(reciprocal, axis=1).min()), dtype=np.int64)
    else:
        bounds = np.floor(gmax * np.linalg.norm(lattice, axis=1) / (2.0 * np.pi)).astype(np.int64)
    axes = [np.arange(-b, b + 1) for b in bounds]
    miller = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    g2 = np.einsum("ij,ij->i", miller @ reciprocal, miller @ reciprocal)
    keep = 0.5 * g2 < maxke
    miller, g2 = miller[keep], g2[keep]
    order = np.lexsort((miller[:, 2], miller[:, 1], miller[:, 0], np.round(g2, 10)))
    return miller[order]


class PlaneWaveBasis:
    """Plane waves of one crystal, as torch tensors in float64 / complex128 on ``device``.

    ``miller`` may be given to reuse the index set of another cell (a scaled cell for deformation
    potentials keeps its Miller indices: the basis shrinks by 1/s).
    """

    def __init__(self, crystal: Crystal, maxke: float, device="cpu", miller: np.ndarray | None = None,
                 deeppseudopot_box: bool = False):
        self.crystal = crystal
        self.maxke = float(maxke)
        self.device = torch.device(device)
        if miller is None:
            miller = sphere_miller_indices(crystal.reciprocal, crystal.lattice, maxke, deeppseudopot_box)
        self.miller = np.asarray(miller, dtype=np.int64)
        self.volume = crystal.volume
        g = self.miller @ crystal.reciprocal
        self.G = torch.as_tensor(g, dtype=torch.float64, device=self.device)
        tau = crystal.positions
        self.phases = torch.exp(1j * torch.as_tensor(g @ tau.T, dtype=torch.float64, device=self.device))
        self.atom_species = torch.as_tensor(crystal.species_index, device=self.device)
        self.reciprocal = torch.as_tensor(crystal.reciprocal, dtype=torch.float64, device=self.device)
        self._pairs = None
        self._species_sf: dict[int, torch.Tensor] = {}

    @property
    def size(self) -> int:
        return self.G.shape[0]

    @property
    def n_species(self) -> int:
        return len(self.crystal.species)

    def _pair_shells(self):
        if self._pairs is None:
            gram = self.G @ self.G.T
            g2 = torch.diagonal(gram)
            q2 = (g2[:, None] + g2[None, :] - 2.0 * gram).clamp_min(0.0)
            scale = float(q2.max()) or 1.0
            keys = torch.round(q2 / scale * 10**_SHELL_DIGITS).to(torch.int64)
            unique, inverse = torch.unique(keys, return_inverse=True)
            q_unique = torch.sqrt(unique.to(torch.float64) * scale / 10**_SHELL_DIGITS)
            self._pairs = (q_unique, inverse)
        return self._pairs

    @property
    def pair_q(self) -> torch.Tensor:
        """Distinct |G_i - G_j| values (1/Bohr), ascending; the first is 0."""
        return self._pair_shells()[0]

    @property
    def pair_index(self) -> torch.Tensor:
        """(N, N) index into ``pair_q`` for every plane-wave pair."""
        return self._pair_shells()[1]

    def structure_factor(self, atom_weights: torch.Tensor) -> torch.Tensor:
        """sum_a c_a exp(i (G_i - G_j) . tau_a) / Omega for per-atom weights c_a; (N, N) complex."""
        w = (atom_weights / self.volume).to(self.phases.dtype)
        return (self.phases * w[None, :]) @ self.phases.conj().T

    def species_structure_factor(self, species: int) -> torch.Tensor:
        """S_s(G_i - G_j) = (1/Omega) sum_{a in s} exp(i (G_i - G_j) . tau_a); kept after the first call
        when all species together take less than ``STRUCTURE_FACTOR_CACHE_BYTES``."""
        cached = self._species_sf.get(species)
        if cached is not None:
            return cached
        sf = self.structure_factor((self.atom_species == species).to(torch.float64))
        if self.n_species * self.size**2 * 16 <= STRUCTURE_FACTOR_CACHE_BYTES:
            self._species_sf[species] = sf
        return sf

    def species_weighted_structure_factor(self, coefficients: torch.Tensor) -> torch.Tensor:
        """sum_s c_s S_s for per-species coefficients c_s (differentiable in c)."""
        return self.structure_factor(coefficients[self.atom_species])

    def kpoints(self, kfrac) -> torch.Tensor:
        """Fractional reciprocal coordinates -> Cartesian k (1/Bohr), (nk, 3)."""
        k = torch.as_tensor(np.asarray(kfrac, dtype=np.float64), device=self.device).reshape(-1, 3)
        return k @ self.reciprocal
