"""The uniform interface of a Hamiltonian term (after DFTK.jl's ``src/terms``).

A term is built from a :class:`~sepm.basis.PlaneWaveBasis` and a
:class:`~sepm.pseudopotential.Pseudopotential` and returns its matrix in the plane-wave basis:

- ``matrix(None)`` for a k-independent term: (N, N);
- ``matrix(k)`` with Cartesian k of shape (nk, 3) for a k-dependent term: (nk, n, n), where n is
  N for a scalar (spin-diagonal) term and 2N for a ``spinor`` term (spin-up block first).

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

    @abstractmethod
    def matrix(self, k: torch.Tensor | None) -> torch.Tensor:
        """The term's matrix (see module docstring for shapes)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(N={self.basis.size})"


def k_plus_g(basis, k: torch.Tensor):
    """K = k + G for every k: returns K (nk, N, 3) and |K| (nk, N)."""
    kg = k[:, None, :] + basis.G[None, :, :]
    return kg, torch.linalg.vector_norm(kg, dim=-1)


def projector_prefactor(norms: torch.Tensor) -> torch.Tensor:
    """12 pi / (|K_i| |K_j|) for the l = 1 projectors, 0 where |K_i| or |K_j| is 0: (nk, N, N)."""
    inv = torch.where(norms > 0, 1.0 / torch.where(norms > 0, norms, 1.0), 0.0)
    return 12.0 * torch.pi * inv[:, :, None] * inv[:, None, :]
