r"""Trainable analytic coefficients a0..a8 with the long-range neutrality constraint.

The full table ``params`` (n_species, 9) is ``base`` with a chosen set of entries replaced by free
variables. The long-range coefficients a4 must keep every system charge-neutral,
sum_{atoms a in system x} a4(s(a)) = 0, i.e. C a4 = const with C[x, s] the number of atoms of
species s in system x. When a4 is trainable it moves only in the null space of C:
a4 = a4_init + Z t with Z an orthonormal basis of null(C) (for one binary compound: one direction,
a4_cation = -a4_anion), so the sums stay what they were; SOC strengths a5 are kept >= 0 by the
fitters that need it (Monte Carlo).
"""

from __future__ import annotations

import numpy as np
import torch

#: Names of the nine coefficients.
NAMES = [f"a{i}" for i in range(9)]


def stoichiometry(bundle) -> np.ndarray:
    """C[x, s]: atoms of species s in system x."""
    c = np.zeros((len(bundle.systems), len(bundle.species)))
    for x, system in enumerate(bundle.systems):
        for sym in system.atom_species:
            c[x, bundle.species.index(sym)] += 1
    return c


def neutral_directions(c: np.ndarray) -> np.ndarray:
    """Orthonormal basis (n_species, m) of the a4 changes that keep every system's sum fixed."""
    _, s, vt = np.linalg.svd(c)
    rank = int(np.sum(s > 1e-10 * max(s.max(), 1.0)))
    return vt[rank:].T


class Coefficients(torch.nn.Module):
    """``params`` = base with trainable entries; ``trainable`` is a list of coefficient names."""

    def __init__(self, base: np.ndarray, trainable: list[str], stoich: np.ndarray):
        super().__init__()
        base = torch.as_tensor(np.asarray(base, dtype=np.float64))
        self.register_buffer("base", base.clone())
        cols = sorted({NAMES.index(t) for t in trainable} - {4})
        self.columns = cols
        self.free = torch.nn.Parameter(base[:, cols].clone().reshape(-1)) if cols else None
        self.long_range = "a4" in trainable
        z = neutral_directions(stoich) if self.long_range else np.zeros((base.shape[0], 0))
        self.register_buffer("directions", torch.as_tensor(z))
        self.shift = torch.nn.Parameter(torch.zeros(z.shape[1], dtype=torch.float64)) if z.shape[1] else None

    def forward(self) -> torch.Tensor:
        params = self.base
        if self.free is not None:
            params = params.clone()
            params[:, self.columns] = self.free.reshape(params.shape[0], len(self.columns))
        if self.shift is not None:
            params = params.clone() if self.free is None else params
            params[:, 4] = self.base[:, 4] + self.directions @ self.shift
        return params

    def describe(self) -> str:
        names = [NAMES[c] for c in self.columns] + (["a4 (neutral directions)"] if self.shift is not None else [])
        return ", ".join(names) or "none"
