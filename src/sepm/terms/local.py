r"""Local pseudopotential.

V_ij = (1/Omega) sum_atoms a exp(+i (G_i - G_j) . tau_a) v_{s(a)}(|G_i - G_j|)
     = sum_s v_s(|G_i - G_j|) S_s(G_i - G_j),

with S_s the species structure factor. v_s is any local form-factor model (Wang-Zunger,
a shell table, a tabulated v(q), a neural network) times the strain factor (1 + a8 Tr eps). The
form factor is evaluated once on the distinct |G_i - G_j| values and scattered to the N^2 pairs.
k-independent. With ``pseudopotential.recompute`` (NN_config ``checkpoint = 1``) the N^2 assembly is
not kept for the backward pass but redone there (torch.utils.checkpoint): less memory, more time.
"""

from __future__ import annotations

import torch

from .base import Term, times_real
from .strain import strain_factor


def form_factor_matrix(basis, values: torch.Tensor) -> torch.Tensor:
    """sum_s values[pair_index, s] * S_s for per-shell form factors ``values`` (n_q, n_species)."""
    out = torch.zeros((basis.size, basis.size), dtype=torch.complex128, device=basis.G.device)
    for s in range(basis.n_species):
        if not bool((basis.atom_species == s).any()):
            continue
        out = out + times_real(basis.species_structure_factor(s), values[:, s][basis.pair_index])
    return out


class LocalPotential(Term):
    name = "local"

    def __init__(self, basis, pseudopotential, trace_strain: float = 0.0):
        super().__init__(basis, pseudopotential)
        self.trace_strain = trace_strain

    def form_factors(self) -> torch.Tensor:
        """v_s on the distinct |G_i - G_j|, strain factor included: (n_q, n_species)."""
        pp = self.pseudopotential
        q = self.basis.pair_q
        return pp.local_form_factor(q) * strain_factor(pp.params, self.trace_strain)

    def matrix(self, k=None, prepared=None):
        values = self.form_factors()
        if self.pseudopotential.recompute and values.requires_grad:
            from torch.utils.checkpoint import checkpoint

            return checkpoint(form_factor_matrix, self.basis, values, use_reentrant=False)
        return form_factor_matrix(self.basis, values)
