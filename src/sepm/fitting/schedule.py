"""Learning rate of every training epoch: an optional linear warm-up, then one of three decays.

NN_config keys (sepm's; DeepPseudopot knows only the first decay):

- ``lr_schedule = step`` (default): x ``scheduler_gamma`` after epochs schedulerStep + 1,
  2 schedulerStep + 1, ... (DeepPseudopot's ExponentialLR timing);
- ``lr_schedule = cosine``: after the warm-up, half a cosine from ``optimizer_lr`` down to
  ``lr_min_factor`` x ``optimizer_lr`` at epoch ``max_num_epochs``;
- ``lr_schedule = plateau``: x ``scheduler_gamma`` whenever the training cost has not fallen below
  (1 - 1e-3) x its lowest value for ``schedulerStep`` epochs (ReduceLROnPlateau's rule);
- ``lr_warmup_epochs = W`` (default 0): epoch e <= W trains at e / W of the scheduled rate, so the
  first steps do not throw a prior network away (Adam's first step moves every parameter by about
  the rate, whatever its gradient; L-BFGS's is a gradient step of L1 length lr, before any curvature
  is known). The GaAs default (L-BFGS, lr 1, W = 10) goes 94.7 -> 81.4 eV^2 at its first step,
  10,200 eV^2 without the warm-up (bench/schedule.py).

:class:`LRSchedule` sets the rate of the next epoch after each optimizer step and keeps what the
plateau rule needs in a state_dict, so a resumed run continues the same schedule.
"""

from __future__ import annotations

import math

from ..choices import LR_SCHEDULES as SCHEDULES

#: relative improvement of the cost that counts as progress for the plateau rule
PLATEAU_THRESHOLD = 1e-3


class LRSchedule:
    """The learning rate of ``optimizer`` epoch by epoch (``settings``: a :class:`~.train.TrainSettings`)."""

    def __init__(self, optimizer, settings):
        if settings.lr_schedule not in SCHEDULES:
            raise ValueError(f"lr_schedule {settings.lr_schedule!r}: choose one of {', '.join(SCHEDULES)}")
        self.optimizer, self.s = optimizer, settings
        self.reductions, self.best, self.since_best = 0, math.inf, 0  # the plateau rule's
        self.set_lr(self.lr(1))

    def lr(self, epoch: int) -> float:
        """Learning rate of 1-based ``epoch``."""
        s = self.s
        rate = s.lr * min(1.0, epoch / s.warmup_epochs) if s.warmup_epochs > 0 else s.lr
        if s.lr_schedule == "cosine":
            span = max(1, s.epochs - s.warmup_epochs)
            t = min(1.0, max(0, epoch - s.warmup_epochs) / span)
            return rate * (s.lr_min_factor + (1 - s.lr_min_factor) * 0.5 * (1 + math.cos(math.pi * t)))
        if s.lr_schedule == "step":  # decays after epochs S + 1, 2 S + 1, ...: floor((epoch - 2) / S) before this one
            return rate * s.gamma ** max(0, (epoch - 2) // s.scheduler_step)
        return rate * s.gamma**self.reductions

    def set_lr(self, lr: float):
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def step(self, epoch: int, cost: float):
        """After the optimizer step of ``epoch`` (whose training cost was ``cost``): the rate of the next epoch."""
        if self.s.lr_schedule == "plateau" and epoch > self.s.warmup_epochs:
            if cost < self.best * (1 - PLATEAU_THRESHOLD):
                self.best, self.since_best = cost, 0
            else:
                self.since_best += 1
                if self.since_best >= self.s.scheduler_step:
                    self.reductions, self.since_best = self.reductions + 1, 0
        self.set_lr(self.lr(epoch + 1))

    def describe(self) -> str:
        s = self.s
        warm = f"{s.warmup_epochs}-epoch linear warm-up, then " if s.warmup_epochs > 0 else ""
        if s.lr_schedule == "cosine":
            return f"lr {s.lr:g}, {warm}cosine decay to {s.lr * s.lr_min_factor:g} at epoch {s.epochs}"
        if s.lr_schedule == "plateau":
            return f"lr {s.lr:g}, {warm}x{s.gamma:g} after {s.scheduler_step} epochs without progress"
        if s.gamma == 1:
            return f"lr {s.lr:g}, {warm}constant"
        return f"lr {s.lr:g}, {warm}x{s.gamma:g} every {s.scheduler_step} epochs"

    def state_dict(self) -> dict:
        return {"reductions": self.reductions, "best": self.best, "since_best": self.since_best}

    def load_state_dict(self, state: dict):
        """A state of this class (an older run's ExponentialLR state holds nothing the closed forms need)."""
        self.reductions = int(state.get("reductions", self.reductions))
        self.best = float(state.get("best", self.best))
        self.since_best = int(state.get("since_best", self.since_best))
