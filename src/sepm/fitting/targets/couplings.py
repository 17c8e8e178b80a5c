r"""Electron-phonon couplings: coupling_weight sum_{atom, xyz, q, edge} w_q (g - g_ref)^2
(:mod:`sepm.observables.coupling`), for systems with qpoints_X.par and expCoupling_X.par (read by
:mod:`sepm.io.coupling_files`) when the weight (NN_config ``coupling_weight``, or the Monte Carlo stage's
through FitProblem's ``coupling_weight``) is > 0; ``coupling_average`` picks rms or DeepPseudopot's mean |M|.
"""

from __future__ import annotations

import logging

import torch

from ...settings import setting
from .base import Target

log = logging.getLogger("sepm")


class Couplings(Target):
    name, label = "coupling", "coupling_weight x electron-phonon coupling loss"

    def __init__(self, problem):
        from ...observables import SystemCouplings

        super().__init__(problem)
        how = setting(problem.bundle.config, "coupling_average")
        with_targets = [t for t in problem.targets
                        if t.spec.couplings is not None and t.spec.couplings.reference is not None]
        if problem.coupling_weight > 0:
            for t in with_targets:
                t.couplings = SystemCouplings(t.ham, t.spec, how)
            if with_targets:
                log.info("coupling loss (weight %g, %s average) for system(s) %s", problem.coupling_weight, how,
                         ", ".join(str(t.spec.index) for t in with_targets))
            if with_targets and how == "mean_abs":
                log.info("notice: coupling_average = mean_abs (DeepPseudopot's mean |M|) depends on the eigenvectors "
                         "chosen inside degenerate subspaces; use it in Monte Carlo, its gradient is not well defined")

    @property
    def active(self) -> bool:
        return any(t.couplings is not None for t in self.problem.targets)

    def loss(self, problem):
        total = torch.zeros((), dtype=torch.float64, device=problem.device)
        for t in problem.targets:
            if t.couplings is not None:
                total = total + t.couplings.loss(t.couplings.values(need_grad=torch.is_grad_enabled()))
        return problem.coupling_weight * total, []
