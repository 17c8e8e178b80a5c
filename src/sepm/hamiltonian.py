"""The plane-wave Hamiltonian H(k) = sum of its terms (``sepm.terms``).

k-independent terms (local, long-range) are summed once per evaluation and shared by every k;
k-dependent terms (kinetic, nonlocal, spin-orbit) are built per batch of k-points, so memory is
O(batch x (2N)^2) and never grows with the number of k-points.
"""

from __future__ import annotations

import torch

from .basis import PlaneWaveBasis
from .pseudopotential import Pseudopotential
from .terms import Kinetic, LocalPotential, LongRange, Nonlocal, SpinOrbit, Term


def default_terms(basis: PlaneWaveBasis, pp: Pseudopotential, trace_strain: float = 0.0) -> list[Term]:
    """Kinetic + local + long-range, and the nonlocal / spin-orbit terms the pseudopotential enables."""
    terms: list[Term] = [Kinetic(basis, pp), LocalPotential(basis, pp, trace_strain)]
    if bool(torch.any(pp.params[:, 4] != 0)):
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

    @property
    def dim(self) -> int:
        return self.basis.size * (2 if self.spinor else 1)

    def static(self) -> torch.Tensor:
        """Sum of the k-independent terms, (N, N)."""
        n = self.basis.size
        out = torch.zeros((n, n), dtype=torch.complex128, device=self.basis.G.device)
        for term in self.terms:
            if not term.k_dependent:
                out = out + term.matrix(None)
        return out

    def matrices(self, k: torch.Tensor, static: torch.Tensor | None = None) -> torch.Tensor:
        """H(k) for Cartesian k (nk, 3): (nk, dim, dim). Pass ``static`` to reuse it across batches."""
        static = self.static() if static is None else static
        n = self.basis.size
        scalar = static.expand(k.shape[0], n, n).clone()
        spinor = None
        for term in self.terms:
            if not term.k_dependent:
                continue
            if isinstance(term, Kinetic):
                diagonal = scalar.diagonal(dim1=-2, dim2=-1)
                diagonal += term.diagonal(k)
            elif term.spinor:
                m = term.matrix(k)
                spinor = m if spinor is None else spinor + m
            else:
                scalar += term.matrix(k)
        if not self.spinor:
            return scalar
        if spinor is None:
            spinor = torch.zeros((k.shape[0], 2 * n, 2 * n), dtype=scalar.dtype, device=scalar.device)
        spinor[:, :n, :n] += scalar
        spinor[:, n:, n:] += scalar
        return spinor
