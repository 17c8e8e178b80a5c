"""The uniform interface of a Hamiltonian term (after DFTK.jl's ``src/terms``).

A term is built from a :class:`~sepm.basis.PlaneWaveBasis` and a
:class:`~sepm.pseudopotential.Pseudopotential` and returns its matrix in the plane-wave basis:

- ``matrix(None)`` for a k-independent term: (N, N);
- ``matrix(k)`` with Cartesian k of shape (nk, 3) for a k-dependent term: (nk, n, n), where n is
  N for a scalar (spin-diagonal) term and 2N for a ``spinor`` term (spin-up block first).

``prepare()`` returns what a term needs at every k but that does not depend on k (e.g. the
structure factors weighted by the current coefficients); the Hamiltonian calls it once per
evaluation and passes the result to ``matrix(k, prepared)`` for each batch of k-points.

Matrices are complex128 and differentiable (torch autograd) in every pseudopotential coefficient
and network weight they depend on. The Hamiltonian is the sum of its terms.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch


class Term(ABC):
    #: Short name used in decompositions and logs.
    name: str = "term"
    #: Whether the matrix depends on k (otherwise ``matrix(None)`` is used for every k).
    k_dependent: bool = False
    #: Whether the matrix acts on spinors (2N x 2N) rather than being spin-diagonal (N x N).
    spinor: bool = False

    def __init__(self, basis, pseudopotential):
        self.basis = basis
        self.pseudopotential = pseudopotential

    def prepare(self):
        """k-independent data for ``matrix`` (recomputed whenever the parameters may have changed)."""
        return None

    @abstractmethod
    def matrix(self, k: torch.Tensor | None, prepared=None) -> torch.Tensor:
        """The term's matrix (see module docstring for shapes)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(N={self.basis.size})"


def times_real(z: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """Complex ``z`` times real ``r`` (broadcast), without first converting ``r`` to complex (an N^2 copy,
    and a complex product where two real ones do)."""
    return torch.view_as_complex(torch.view_as_real(z) * r[..., None])


def k_plus_g(basis, k: torch.Tensor):
    """K = k + G for every k: returns K (nk, N, 3) and |K| (nk, N)."""
    kg = k[:, None, :] + basis.G[None, :, :]
    return kg, torch.linalg.vector_norm(kg, dim=-1)


class ProjectorCache:
    """Parameter-independent SO/NL geometry kept between evaluations (cacheSO), within a byte budget.

    One cache may serve several bases (every system of a fit and its strained cells): entries are keyed
    by the basis as well as the term and k, since the geometry depends on all three. Entries that do not
    fit are rebuilt per k on every evaluation, as without the cache."""

    def __init__(self, budget_bytes: float):
        self.budget = float(budget_bytes)
        self.used = 0
        self.store: dict = {}
        self.misses = 0

    def get(self, basis, name: str, k: torch.Tensor, build):
        key = (id(basis), name, k.detach().cpu().numpy().tobytes())
        if key in self.store:
            return self.store[key]
        value = build()
        size = sum(t.numel() * t.element_size() for t in value)
        if self.used + size <= self.budget:
            self.store[key] = value
            self.used += size
        else:
            self.misses += 1
        return value


def projector_geometry(term, k: torch.Tensor, build):
    """``build()`` (a tuple of tensors), through the basis's ProjectorCache when it has one."""
    cache = getattr(term.basis, "projector_cache", None)
    return build() if cache is None else cache.get(term.basis, term.name, k, build)


class ProjectorGeometry:
    """Per-k geometry shared by the l = 1 projector terms (spin-orbit, nonlocal); no parameters.

    ``kg`` (nk, N, 3) = k + G, ``norms`` |K|, ``product`` |K_i||K_j|, ``diff2`` (|K_i| - |K_j|)^2 and
    ``prefactor`` 12 pi / (|K_i||K_j|), set to 0 where |K_i| or |K_j| is 0."""

    @torch.no_grad()
    def __init__(self, basis, k: torch.Tensor):
        self.k = k
        self.kg, self.norms = k_plus_g(basis, k)
        n = self.norms
        self.product = n[:, :, None] * n[:, None, :]
        self.diff2 = (n[:, :, None] - n[:, None, :]).square_()
        self.prefactor = torch.where(self.product > 0, 12.0 * torch.pi / self.product.clamp_min(1e-300), 0.0)

    @staticmethod
    def of(basis, k: torch.Tensor) -> "ProjectorGeometry":
        """The geometry for these k-points, reused when the last call was for the same k."""
        cached = getattr(basis, "_projector_geometry", None)
        if cached is None or cached.k.shape != k.shape or not torch.equal(cached.k, k):
            cached = ProjectorGeometry(basis, k)
            basis._projector_geometry = cached
        return cached
