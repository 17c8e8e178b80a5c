r"""Gaps: sum_rows weight (E_g - E_g,ref)^2 (eV^2), rows of expGap_X.par.

``expGap_X.par`` rows ``kpoint_VB band_VB kpoint_CB band_CB gap_eV weight``: E_g = E(kCB, bCB) - E(kVB, bVB),
a direct gap when the two k-points are one, a fundamental (indirect) one otherwise. k-points are 0-based rows
of kpoints_X.par, their '# label's, or G / Gamma (the zone centre; any k-point need not be a row); bands
are 0-based slots. The gradient is the eigensolver's backward at the two k-points.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from ...bands import band_energies
from .base import Target, band, kpoint, number, table_rows

log = logging.getLogger("sepm")

COLUMNS = "kpoint_VB band_VB kpoint_CB band_CB gap_eV weight"


class Gaps(Target):
    name, label, details = "gap", "gaps", "gaps"
    file, columns = "expGap_{x}.par", COLUMNS

    @staticmethod
    def read(path, spec, defects):
        rows = []
        for n, f in table_rows(path, spec, defects, COLUMNS):
            row = (kpoint(path, n, 1, f[0], spec, defects), band(path, n, 2, f[1], spec, defects),
                   kpoint(path, n, 3, f[2], spec, defects), band(path, n, 4, f[3], spec, defects),
                   number(path, n, 5, f[4], "gap", defects), number(path, n, 6, f[5], "weight", defects, positive=True))
            if all(v is not None for v in row):
                (kv_name, kv), bv, (kc_name, kc), bc, gap, w = row
                rows.append({"line": n, "kpoints": (kv_name, kc_name), "k": (kv, kc), "bands": (bv, bc),
                             "reference": gap, "weight": w})
        return rows

    def __init__(self, problem):
        super().__init__(problem)
        self.systems = [(x, t.spec.targets[self.name]) for x, t in enumerate(problem.targets)
                        if t.spec.targets.get(self.name)]
        if self.systems:
            with torch.no_grad():
                problem.refresh()
                for row in self.loss(problem)[1]:
                    log.info("expGap_%d.par line %d: %s gap %.4f eV (target %.4f eV, weight %g)",
                             row["system"], row["line"], row["between"], row["gap"], row["reference"], row["weight"])
                    if row["gap"] * row["reference"] <= 0:
                        log.warning("expGap_%d.par line %d: the computed gap %.4f eV and the target %.4f eV differ in "
                                    "sign: the bands are in the other order (wrong band slots?)", row["system"],
                                    row["line"], row["gap"], row["reference"])

    @property
    def active(self) -> bool:
        return bool(self.systems)

    def gaps(self, problem, x: int, rows) -> torch.Tensor:
        """E(kCB, bCB) - E(kVB, bVB) (eV) of every row of system x."""
        t = problem.targets[x]
        e = band_energies(t.ham, np.stack([k for r in rows for k in r["k"]]), t.spec.nbands,
                          memory_limit_gb=problem.memory_limit_gb, label=f"system {x} ({t.spec.name}) gaps")
        vb = torch.tensor([r["bands"][0] for r in rows], device=e.device)
        cb = torch.tensor([r["bands"][1] for r in rows], device=e.device)
        idx = torch.arange(len(rows), device=e.device)
        return e[2 * idx + 1, cb] - e[2 * idx, vb]

    def loss(self, problem):
        term, out = torch.zeros((), dtype=torch.float64, device=problem.device), []
        for x, rows in self.systems:
            gap = self.gaps(problem, x, rows)
            ref = torch.tensor([r["reference"] for r in rows], dtype=torch.float64, device=gap.device)
            w = torch.tensor([r["weight"] for r in rows], dtype=torch.float64, device=gap.device)
            term = term + (w * (gap - ref) ** 2).sum()
            out += [{"system": x, "line": r["line"], "between": "-".join(r["kpoints"]), "bands": list(r["bands"]),
                     "gap": float(g), "reference": r["reference"], "weight": r["weight"]}
                    for r, g in zip(rows, gap.detach().cpu())]
        return term, out
