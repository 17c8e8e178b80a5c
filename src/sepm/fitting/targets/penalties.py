r"""Penalties on the local potential (NN_config ``penalize_*``), eV^2:

    penalize_lambda sum_s int_0^12 w(q) |v_s(q)| dq                (large-q penalty)
  + penalize_mag_lambda sum_s int_0^12 relu(|v_s(q)| - T) dq       (magnitude penalty, T = penalize_mag_threshold)
  + penalize_tail_lambda mean_r sum_s Delta_s(r)^2                 (real-space tail, :mod:`sepm.fitting.tail_penalty`)
  + penalize_tail_integral_lambda mean_R sum_s I_s(R)^2           (tail integral, same module and window)

with w(q) = 1 / (1 + exp(-(q - q0 - 0.5) / 0.1)) a smooth switch at q0 + 0.5 (q0 = penalize_starting).
"""

from __future__ import annotations

from pathlib import Path

import torch

from ...errors import Defect, InputError
from ...settings import setting
from ..tail_penalty import tail_integral_penalty, tail_penalty
from .base import Target, cell_compositions

PENALTY_Q = torch.linspace(0.0, 12.0, 241, dtype=torch.float64)


class Penalties(Target):
    name, label = "penalty", "penalties"

    def __init__(self, problem):
        super().__init__(problem)
        cfg = problem.bundle.config
        p = {k: setting(cfg, k) for k in ("penalize_starting", "penalize_lambda", "penalize_mag_threshold",
                                          "penalize_mag_lambda", "penalize_tail_lambda",
                                          "penalize_tail_integral_lambda", "penalize_tail_radius",
                                          "penalize_tail_rmax")}
        tails = p["penalize_tail_lambda"] > 0 or p["penalize_tail_integral_lambda"] > 0
        if tails and p["penalize_tail_radius"] >= p["penalize_tail_rmax"]:
            raise InputError(Defect(Path(problem.bundle.path) / "NN_config.par", None, "penalize_tail_radius = "
                                    f"{p['penalize_tail_radius']:g} must be below penalize_tail_rmax = "
                                    f"{p['penalize_tail_rmax']:g} Bohr (the window of the tail penalty)"))
        self.settings = p

    @property
    def active(self) -> bool:
        p = self.settings
        return any(p[k] > 0 for k in ("penalize_lambda", "penalize_mag_lambda", "penalize_tail_lambda",
                                      "penalize_tail_integral_lambda"))

    def loss(self, problem):
        p, total = self.settings, torch.zeros((), dtype=torch.float64, device=problem.device)
        if not self.active:
            return total, []
        q = PENALTY_Q.to(problem.device)
        v = problem.pp.local_form_factor(q).abs()
        dq = float(q[1] - q[0])
        if p["penalize_lambda"] > 0:
            switch = torch.sigmoid((q - p["penalize_starting"] - 0.5) / 0.1)
            total = total + p["penalize_lambda"] * (switch[:, None] * v).sum() * dq
        if p["penalize_mag_lambda"] > 0:
            total = total + p["penalize_mag_lambda"] * torch.relu(v - p["penalize_mag_threshold"]).sum() * dq
        if p["penalize_tail_lambda"] > 0:
            total = total + p["penalize_tail_lambda"] * self.tail(problem, tail_penalty).to(total)
        if p["penalize_tail_integral_lambda"] > 0:
            total = total + p["penalize_tail_integral_lambda"] * self.tail(problem, tail_integral_penalty).to(total)
        return total, []

    def tail(self, problem, term) -> torch.Tensor:
        """A tail term of :mod:`sepm.fitting.tail_penalty` without its lambda, eV^2."""
        p = self.settings
        return term(lambda q: problem.pp.local_form_factor(q.to(problem.device)).cpu(),
                    cell_compositions(problem), p["penalize_tail_radius"], p["penalize_tail_rmax"])
