r"""Deformation potentials: sum_rows weight (D - D_ref)^2 (eV^2), rows of expDefPot_X.par (read by
:mod:`sepm.io.bundle`) for systems with ``fit_defPot = 1`` (or FitProblem's ``fit_defpot``).

A row compares the gap E(kCB,bCB) - E(kVB,bVB) of the cell with that of the cell scaled by s (lattice
constant x s, Tr eps = s^3 - 1): D = (E_g - E_g,def) (1 + s^3) / (2 (1 - s^3)) = dE_g / d ln Omega.
"""

from __future__ import annotations

import torch

from ...bands import band_energies, system_hamiltonian
from .base import Target


class DeformationPotentials(Target):
    name, label, details = "defpot", "deformation potentials", "deformation_potentials"

    def __init__(self, problem):
        super().__init__(problem)
        for t in problem.targets:
            use = bool(t.spec.settings.get("fit_defPot", False)) if problem.fit_defpot is None else problem.fit_defpot
            if use and t.spec.defpot_rows is not None:
                for row in t.spec.defpot_rows:
                    scaled = system_hamiltonian(t.spec, problem.pp, device=problem.device, scale=float(row[4]),
                                                reference_basis=t.ham.basis)
                    t.defpot.append((row, scaled))

    @property
    def active(self) -> bool:
        return any(t.defpot for t in self.problem.targets)

    def loss(self, problem):
        rows = []
        for t in problem.targets:
            for row, scaled in t.defpot:
                kvb, bvb, kcb, bcb = (int(v) for v in row[:4])
                s = float(row[4])
                kpts = t.spec.kpoints[[kvb, kcb]]
                e0 = band_energies(t.ham, kpts, t.spec.nbands)
                e1 = band_energies(scaled, kpts, t.spec.nbands)
                gap0, gap1 = e0[1, bcb] - e0[0, bvb], e1[1, bcb] - e1[0, bvb]
                rows.append(((gap0 - gap1) * (1 + s**3) / (2 * (1 - s**3)), float(row[5]), float(row[6])))
        term = sum((w * (d - ref) ** 2 for d, ref, w in rows), torch.zeros((), dtype=torch.float64))
        return term, [(float(d.detach()), ref, w) for d, ref, w in rows]
