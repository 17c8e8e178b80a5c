"""The plane-wave Hamiltonian H(k) = sum of its terms (``sepm.terms``).

k-independent terms (local, long-range) are summed once per evaluation and shared by every k;
k-dependent terms (kinetic, nonlocal, spin-orbit) are built per batch of k-points, so memory is
O(batch x (2N)^2) and never grows with the number of k-points. Each Hamiltonian keeps its k-points'
eigenvectors (``warm``, :class:`sepm.eigensolver.WarmStart`): large bases are solved iteratively from
them when the Hamiltonian is evaluated again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .basis import PlaneWaveBasis
from .eigensolver import WarmStart
from .pseudopotential import Pseudopotential
from .terms import Kinetic, LocalPotential, LongRange, Nonlocal, SpinOrbit, Term


def default_terms(basis: PlaneWaveBasis, pp: Pseudopotential, trace_strain: float = 0.0) -> list[Term]:
    """Kinetic + local (+ long-range when the pseudopotential uses it and some a4 is nonzero), and the
    nonlocal / spin-orbit terms the pseudopotential enables."""
    terms: list[Term] = [Kinetic(basis, pp), LocalPotential(basis, pp, trace_strain)]
    if pp.long_range and bool(torch.any(pp.params[:, 4] != 0)):
        terms.append(LongRange(basis, pp, trace_strain))
    if pp.nonlocal_:
        terms.append(Nonlocal(basis, pp))
    if pp.soc:
        terms.append(SpinOrbit(basis, pp))
    return terms


class Hamiltonian:
    def __init__(self, basis: PlaneWaveBasis, pseudopotential: Pseudopotential,
                 terms: list[Term] | None = None, trace_strain: float = 0.0):
        self.basis = basis
        self.pseudopotential = pseudopotential
        self.terms = terms if terms is not None else default_terms(basis, pseudopotential, trace_strain)
        self.spinor = any(t.spinor for t in self.terms)
        self.warm = WarmStart()

    @property
    def dim(self) -> int:
        return self.basis.size * (2 if self.spinor else 1)

    def prepare(self) -> "Prepared":
        """Everything k-independent, once per evaluation: the sum of the k-independent terms
        (local, long-range) and each k-dependent term's ``prepare()`` data."""
        n = self.basis.size
        static = torch.zeros((n, n), dtype=torch.complex128, device=self.basis.G.device)
        data = {}
        for i, term in enumerate(self.terms):
            if term.k_dependent:
                data[i] = term.prepare()
            else:
                static = static + term.matrix(None)
        return Prepared(static, data)

    def matrices(self, k: torch.Tensor, prepared: "Prepared | None" = None) -> torch.Tensor:
        """H(k) for Cartesian k (nk, 3): (nk, dim, dim). Pass ``prepared`` to reuse it across batches."""
        prepared = self.prepare() if prepared is None else prepared
        n = self.basis.size
        scalar = spinor = None
        for i, term in enumerate(self.terms):
            if not term.k_dependent or isinstance(term, Kinetic):
                continue
            m = term.matrix(k, prepared.data[i])
            if term.spinor:
                spinor = m if spinor is None else spinor + m
            else:
                scalar = m + prepared.static if scalar is None else scalar + m
        if scalar is None:
            scalar = prepared.static.expand(k.shape[0], n, n).clone()
        for term in self.terms:
            if isinstance(term, Kinetic):
                scalar = _AddDiagonal.apply(scalar, term.diagonal(k))
        if not self.spinor:
            return scalar
        if spinor is None:
            spinor = torch.zeros((k.shape[0], 2 * n, 2 * n), dtype=scalar.dtype, device=scalar.device)
        return _AddSpinDiagonal.apply(spinor, scalar)


# In-place additions into a freshly built matrix, with the backward autograd would give them but without
# its copies: autograd's own in-place writes into views clone the whole gradient for each one, which at
# 2N ~ 5000 cost more than building the matrix.

class _AddDiagonal(torch.autograd.Function):
    """m (b, n, n) + diag(d), in place; d (b, n) real (the kinetic energy)."""

    @staticmethod
    def forward(ctx, m, d):
        m.diagonal(dim1=-2, dim2=-1).add_(d)
        ctx.mark_dirty(m)
        return m

    @staticmethod
    def backward(ctx, grad):
        return grad, grad.diagonal(dim1=-2, dim2=-1).real if ctx.needs_input_grad[1] else None


class _AddSpinDiagonal(torch.autograd.Function):
    """spinor (b, 2n, 2n) + the spin-diagonal blockdiag(scalar, scalar), in place on spinor."""

    @staticmethod
    def forward(ctx, spinor, scalar):
        n = ctx.n = scalar.shape[-1]
        spinor[:, :n, :n] += scalar
        spinor[:, n:, n:] += scalar
        ctx.mark_dirty(spinor)
        return spinor

    @staticmethod
    def backward(ctx, grad):
        n = ctx.n
        return grad, grad[:, :n, :n] + grad[:, n:, n:]


@dataclass
class Prepared:
    """k-independent parts of one Hamiltonian evaluation."""

    static: torch.Tensor
    data: dict = field(default_factory=dict)
