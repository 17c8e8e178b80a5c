r"""Effective masses: sum_rows weight (m_ref / m - 1)^2 (dimensionless), rows of expMass_X.par.

``expMass_X.par`` rows ``kpoint band direction mass_me weight``: the k-point (a 0-based row of
kpoints_X.par, one of its '# label's, or G / Gamma for the zone centre; it need not be a row), the
0-based band slot, a Cartesian direction (``100``, ``[110]``, ``111``, ``1-10``), the signed mass in units
of m_e (negative at a valence-band maximum, as ``sepm masses`` reports it) and the weight.

The mass is the curvature at k0 along u, in Hartree atomic units 1/m = d^2E/dk^2, by central differences of
step h = 0.01 1/Bohr and h/2 with Richardson extrapolation, R = [4 D(h/2) - D(h)] / 3,
D(h) = [E(k0 + h u) - 2 E(k0) + E(k0 - h u)] / h^2 (the ``richardson`` mass of :mod:`sepm.analysis.masses`):
five band evaluations per row through the eigensolver, so the gradient is the eigensolver's backward.
The loss compares curvatures, (m_ref R - 1)^2, which is the squared relative mass error to first order and
stays finite for a flat band. A band degenerate at k0 with another level has no unique curvature (heavy
and light holes): a warning says so.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from ...bands import band_energies
from ...constants import HARTREE_EV
from .base import Target, band, direction, kpoint, number, table_rows

log = logging.getLogger("sepm")

#: Finite-difference step (1/Bohr), as ``sepm masses --step``'s default.
STEP = 0.01
_OFFSETS = np.array([-1.0, -0.5, 0.0, 0.5, 1.0]) * STEP
COLUMNS = "kpoint band direction mass_me weight"


class EffectiveMasses(Target):
    name, label, details = "mass", "effective masses", "effective_masses"
    file, columns = "expMass_{x}.par", COLUMNS

    @staticmethod
    def read(path, spec, defects):
        rows = []
        for n, f in table_rows(path, spec, defects, COLUMNS):
            row = (kpoint(path, n, 1, f[0], spec, defects), band(path, n, 2, f[1], spec, defects),
                   direction(path, n, 3, f[2], defects), number(path, n, 4, f[3], "mass", defects, nonzero=True),
                   number(path, n, 5, f[4], "weight", defects, positive=True))
            if all(v is not None for v in row):
                (kname, k), b, (dname, u), m, w = row
                rows.append({"line": n, "kpoint": kname, "k": k, "band": b, "direction": dname, "u": u,
                             "reference": m, "weight": w})
        return rows

    def __init__(self, problem):
        super().__init__(problem)
        self.systems = [(x, t.spec.targets[self.name]) for x, t in enumerate(problem.targets)
                        if t.spec.targets.get(self.name)]
        if self.systems:
            with torch.no_grad():
                problem.refresh()
                self._check(problem)

    @property
    def active(self) -> bool:
        return bool(self.systems)

    def _samples(self, problem, x: int, rows) -> tuple[torch.Tensor, torch.Tensor]:
        """E (Hartree) of each row's band at k0 + t u, t = -h, -h/2, 0, h/2, h: (rows, 5); all bands at k0 (eV)."""
        t = problem.targets[x]
        crystal = t.ham.basis.crystal
        k0 = crystal.kpoints_cartesian(np.stack([r["k"] for r in rows]))
        u = np.stack([r["u"] for r in rows])
        points = crystal.kpoints_fractional((k0[:, None, :] + _OFFSETS[None, :, None] * u[:, None, :]).reshape(-1, 3))
        e = band_energies(t.ham, points, t.spec.nbands, memory_limit_gb=problem.memory_limit_gb,
                          label=f"system {x} ({t.spec.name}) effective masses").reshape(len(rows), 5, -1)
        slots = torch.tensor([r["band"] for r in rows], device=e.device)
        return torch.gather(e, 2, slots[:, None, None].expand(-1, 5, 1))[..., 0] / HARTREE_EV, e[:, 2]

    def curvatures(self, problem, x: int, rows) -> tuple[torch.Tensor, torch.Tensor]:
        """1/m (Richardson, in units of 1/m_e) of every row, and all bands at each row's k0 (eV)."""
        e, at_k0 = self._samples(problem, x, rows)
        d1 = (e[:, 4] - 2 * e[:, 2] + e[:, 0]) / STEP**2
        d2 = (e[:, 3] - 2 * e[:, 2] + e[:, 1]) / (STEP / 2) ** 2
        return (4 * d2 - d1) / 3, at_k0

    def loss(self, problem):
        term, out = torch.zeros((), dtype=torch.float64, device=problem.device), []
        for x, rows in self.systems:
            inverse, _ = self.curvatures(problem, x, rows)
            ref = torch.tensor([r["reference"] for r in rows], dtype=torch.float64, device=inverse.device)
            w = torch.tensor([r["weight"] for r in rows], dtype=torch.float64, device=inverse.device)
            term = term + (w * (ref * inverse - 1) ** 2).sum()
            out += [{"system": x, "line": r["line"], "kpoint": r["kpoint"], "band": r["band"],
                     "direction": r["direction"], "mass": 1.0 / float(c), "reference": r["reference"],
                     "weight": r["weight"]} for r, c in zip(rows, inverse.detach().cpu())]
        return term, out

    def _check(self, problem):
        """Log every row's mass for the potential the problem is built with; warn where it cannot be fitted as asked."""
        for x, rows in self.systems:
            inverse, at_k0 = self.curvatures(problem, x, rows)
            for r, c, levels in zip(rows, inverse.cpu().tolist(), at_k0.cpu()):
                where = f"expMass_{x}.par line {r['line']}: {r['kpoint']} band {r['band']} {r['direction']}"
                log.info("%s: m* = %.4g m_e (target %.4g m_e, weight %g)", where, 1 / c,
                         r["reference"], r["weight"])
                partners = int(((levels - levels[r["band"]]).abs() < 1e-4).sum())
                if partners > 2:
                    log.warning("%s: the band is %d-fold degenerate there (spin pairs included): its curvature "
                                "and gradient depend on the eigenvectors chosen; this mass is not well defined",
                                where, partners)
                if c * r["reference"] < 0:
                    log.warning("%s: the band curves the other way (m* = %.4g m_e, target %.4g m_e): a sign "
                                "mistake in the file, or the wrong band", where, 1 / c, r["reference"])
