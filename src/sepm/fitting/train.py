"""Gradient training (max_num_epochs > 0, mc_bool = 0).

One epoch = one optimizer step on the full objective (``FitProblem``) and the cost at the updated
parameters. The ``training_cost.dat`` columns are ``training_cost`` (the cost the step's gradient was
taken of, in training mode) and ``cost_after_step`` (the cost after the step: the next epoch's training
cost). For a deterministic model (no dropout, no BatchNorm; :func:`deterministic`) that cost is
evaluated with its gradient, which drives the next step (L-BFGS, with max_iter 1, gets it as its one
closure value), so an epoch costs one forward + backward (with ``lbfgs_line_search = strong_wolfe`` one per
trial step, the last trial's reused when the search ended there); otherwise (and with smooth_reorder) it is a
separate eval-mode evaluation (no dropout, BatchNorm
running statistics). It is not a validation on held-out data: the bundle format has no held-out systems
or k-points, and every cost is over the whole objective. ExponentialLR steps after epochs
schedulerStep + 1, 2 schedulerStep + 1, ... (DeepPseudopot's timing: its 0-based epoch e steps when
e > 0 and e % schedulerStep = 0); ``perturbEvery`` adds DeepPseudopot's random kick (:func:`_perturb`)
with the same timing; ``patience`` stops when the cost after a step has not improved for that many
epochs. ``printGrad`` logs the gradient norm of every trainable tensor after each backward pass.
``pre_adjust_moves`` > 0 first makes that many DeepPseudopot pre-adjustment moves (:func:`pre_adjust`).

Files: the complete training state (model, coefficients, optimizer, scheduler, random generator,
history, lowest-cost state) is written atomically to ``train_state.pth`` after every epoch, so a killed
run resumes where it stopped and reaches the same final loss as an uninterrupted one. Every
``plotEvery`` epochs an ``epoch_<N>_*`` checkpoint set (model, optimizer state, coefficients, band
tables, plotBS, plotPP) is written as a unit before that epoch's state (:func:`_write_set`), so a kill
never leaves a partial set. Divergence (:data:`DIVERGENCE_FACTOR`) stops the run with a
:class:`~sepm.errors.RunError`, writing the lowest-cost state as ``best_*`` and keeping the last good
state in ``train_state.pth``, marked so that a rerun refuses it instead of resuming.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import InputError, RunError
from ..models.checkpoint import read_checkpoint
from ..output import atomic_path, write_table, write_text
from ..profiling import PROFILER
from ..progress import Progress
from ..settings import setting
from . import ranks
from .schedule import LRSchedule

log = logging.getLogger("sepm")

OPTIMIZERS = {  # the names of sepm.choices.OPTIMIZERS
    "adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD, "lbfgs": torch.optim.LBFGS,
    "rmsprop": torch.optim.RMSprop, "adagrad": torch.optim.Adagrad, "adadelta": torch.optim.Adadelta,
    "adamax": torch.optim.Adamax, "nadam": torch.optim.NAdam, "radam": torch.optim.RAdam, "asgd": torch.optim.ASGD,
}

#: lbfgs_line_search (sepm.choices.LINE_SEARCHES): none (a step of lr along the L-BFGS direction, DeepPseudopot's)
#: or strong_wolfe (torch's strong-Wolfe line search: the step is lengthened or shortened until the cost has fallen
#: enough and the slope has flattened, so a step never climbs; lr is the first trial length). LINE_SEARCH_EVALS
#: bounds its evaluations per epoch (torch's max_ls).
LINE_SEARCH_EVALS = 25
#: NN_config keys passed to :func:`make_optimizer`
OPTIMIZER_OPTIONS = ("adam_beta1", "adam_beta2", "sgd_momentum", "lbfgs_line_search")

#: Relative size of a perturbEvery kick (DeepPseudopot's): w <- w (1 + U(-0.1, 0.1)) for the network and the
#: trainable coefficients, a5..a7 <- a (1 + U(-0.001, 0.001)) whether trainable or not.
PERTURB_SCALE = 0.10

STATE_FILE = "train_state.pth"
#: A checkpoint set's last file (its presence means the set is complete) and the staging folder's marker.
SET_LAST, SET_MARKER = "AdamState.pth", "COMPLETE"

#: Divergence: the cost after a step above this factor times the starting cost (the first training cost)
#: stops training, as do non-finite costs, gradients or parameters and eigensolver failures. The default
#: GaAs schedule's first step jumps ~150x and recovers; lr 1e6 reaches 1e24.
DIVERGENCE_FACTOR = 1e4


def make_optimizer(name: str, params, lr: float, options: dict | None = None) -> torch.optim.Optimizer:
    """``options``: adam_beta1 / adam_beta2 (Adam-family betas), sgd_momentum (SGD), lbfgs_line_search (L-BFGS)
    from NN_config.par.

    DeepPseudopot accepts these keys but assigns them to attributes torch never reads, so there they
    change nothing; here they are applied (a notice says so)."""
    key = name.lower()
    if key not in OPTIMIZERS:
        raise ValueError(f"optimizer {name!r} is not supported; choose one of {', '.join(sorted(OPTIMIZERS))}")
    options, extra = options or {}, {}
    if key == "lbfgs":
        if setting(options, "lbfgs_line_search") == "strong_wolfe":  # max_eval: the first evaluation + the search's
            return torch.optim.LBFGS(params, lr=lr, max_iter=1, history_size=20, line_search_fn="strong_wolfe",
                                     max_eval=1 + LINE_SEARCH_EVALS)
        return torch.optim.LBFGS(params, lr=lr, max_iter=1, history_size=20)
    if key in ("adam", "adamw", "adamax", "nadam", "radam") and ("adam_beta1" in options or "adam_beta2" in options):
        extra["betas"] = (setting(options, "adam_beta1"), setting(options, "adam_beta2"))
    if key == "sgd" and "sgd_momentum" in options:
        extra["momentum"] = setting(options, "sgd_momentum")
    if extra:
        log.info("notice: %s with %s (DeepPseudopot reads these keys but never passes them to torch)", name,
                 ", ".join(f"{k}={v}" for k, v in extra.items()))
    return OPTIMIZERS[key](params, lr=lr, **extra)


def scheduler_steps_after(epoch: int, scheduler_step: int) -> bool:
    """Whether the learning rate decays after 1-based ``epoch`` (DeepPseudopot: 0-based e > 0, e % step = 0)."""
    return epoch > 1 and (epoch - 1) % scheduler_step == 0


@dataclass
class TrainSettings:
    """Gradient training's NN_config keys (declared, with their defaults, in :mod:`sepm.settings`)."""
    epochs: int
    optimizer: str
    lr: float
    gamma: float
    scheduler_step: int
    perturb_every: int
    patience: int
    plot_every: int
    separate_kpoints: bool
    seed: int
    print_grad: bool
    pre_adjust_moves: int
    pre_adjust_step: float
    optimizer_options: dict
    lr_schedule: str  # learning-rate schedule (schedule.py): step, cosine, plateau
    warmup_epochs: int
    lr_min_factor: float
    final_state: str  # the state training ends in: the lowest-cost epoch's (best) or the last's

    @classmethod
    def from_config(cls, cfg: dict) -> "TrainSettings":
        keys = dict(epochs="max_num_epochs", optimizer="optimizer", lr="optimizer_lr", gamma="scheduler_gamma",
                    scheduler_step="schedulerStep", perturb_every="perturbEvery", patience="patience",
                    plot_every="plotEvery", separate_kpoints="separateKptGrad", seed="seed", print_grad="printGrad",
                    pre_adjust_moves="pre_adjust_moves", pre_adjust_step="pre_adjust_stepSize",
                    lr_schedule="lr_schedule", warmup_epochs="lr_warmup_epochs", lr_min_factor="lr_min_factor",
                    final_state="final_state")
        return cls(**{field: setting(cfg, key) for field, key in keys.items()},
                   optimizer_options={k: cfg[k] for k in OPTIMIZER_OPTIONS if k in cfg})


def _save_state(path: Path, state: dict):
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def deterministic(modules: dict) -> bool:
    """Whether training and eval mode compute the same function: no dropout (p > 0), no BatchNorm."""
    for module in modules.values():
        for sub in module.modules():
            if isinstance(sub, torch.nn.modules.batchnorm._BatchNorm) or \
                    (isinstance(sub, torch.nn.modules.dropout._DropoutNd) and sub.p > 0):
                return False
    return True


class _Diverged(Exception):
    """Raised inside an epoch with the reason it diverged."""


def _diverged_reason(after: float, params, limit: float, start_cost: float) -> str | None:
    if not math.isfinite(after):
        return f"the cost after the step is {after}"
    if not all(bool(torch.isfinite(p).all()) for p in params):
        return "a parameter is not finite after the step"
    if after > limit:
        return (f"the cost after the step, {after:.4g}, exceeds {DIVERGENCE_FACTOR:g} x the starting cost "
                f"{start_cost:.4g}")
    return None


def _module_states(modules: dict) -> dict:
    return {n: {k: v.detach().clone() for k, v in m.state_dict().items()} for n, m in modules.items()}


def saved_state(outdir, fingerprint: str, device="cpu", quiet: bool = False) -> dict | None:
    """The training state in ``outdir`` when it was written for this ``fingerprint`` (else None, logged
    unless ``quiet``); in a distributed fit rank 0's, on every rank."""
    return ranks.from_writer(_saved_state(outdir, fingerprint, device, quiet))


def _saved_state(outdir, fingerprint: str, device, quiet: bool) -> dict | None:
    path = Path(outdir) / STATE_FILE
    if not path.is_file():
        return None
    state = read_checkpoint(path, device, "training state")
    if state.get("fingerprint", "") != fingerprint:
        if not quiet:
            log.info("%s was written for another configuration or initialization; starting afresh", path)
        return None
    return state


def refuse_diverged(path: Path, state: dict | None):
    """A state marked diverged is never resumed: a RunError says what happened and what to do."""
    if state is not None and state.get("diverged"):
        d = state["diverged"]
        raise RunError(f"{path}: the run that wrote it diverged at epoch {d['epoch']} ({d['reason']}) and it holds "
                       f"the last good state (epoch {state['epoch']}); change the configuration (e.g. a lower "
                       "optimizer_lr: a new configuration starts afresh) or delete it to start over")


def train(problem, modules: dict, settings: TrainSettings, outdir, optimizer_state=None, state: dict | None = None,
          on_checkpoint=None, stop_after: int | None = None, fingerprint: str = "") -> dict:
    """Train the parameters of ``modules`` (name -> torch.nn.Module) on ``problem``.

    ``optimizer_state`` (e.g. init_AdamState.pth) seeds the optimizer of a fresh run. ``on_checkpoint``
    (epoch, prefix, folder) writes the <prefix> band and potential outputs (epoch_<N>_ checkpoints, and
    best_ when training diverges) into ``folder``. ``stop_after`` ends the run after that epoch as if it
    had been killed (the state is saved; a rerun resumes). ``state``: a saved state to resume from (the
    caller checks it: :func:`saved_state`, :func:`refuse_diverged`); the state saved after every epoch is
    stamped with ``fingerprint`` (of the configuration and inputs). Divergence raises :class:`RunError`.
    The result's ``state`` is the last state saved."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    params = [p for m in modules.values() for p in m.parameters() if p.requires_grad]
    if not params:
        raise ValueError("nothing to train: the model has no parameters and no coefficient is trainable")
    optimizer = make_optimizer(settings.optimizer, params, settings.lr, settings.optimizer_options)
    scheduler = LRSchedule(optimizer, settings)
    history, best, best_epoch, since_best, start = [], float("inf"), 0, 0, 0
    state_path = outdir / STATE_FILE
    if state is not None:
        for name, module in modules.items():
            module.load_state_dict(state["modules"][name])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"].cpu())
        history = state["history"].tolist()
        best, since_best, start = float(state["best"]), int(state["since_best"]), int(state["epoch"])
        best_epoch = int(state.get("best_epoch", start))
        log.info("resuming training from %s at epoch %d (lowest cost after a step %.6g)", state_path, start, best)
    else:
        torch.manual_seed(settings.seed)  # dropout draws: a run is reproducible from its seed
    if start == 0 and optimizer_state is not None:
        optimizer.load_state_dict(optimizer_state)
        scheduler.set_lr(scheduler.lr(1))
        log.info("optimizer state loaded from the initialization (learning rate reset to %g)", scheduler.lr(1))
    best_modules = state["best_modules"] if state is not None and "best_modules" in state else _module_states(modules)
    log.info("training %d parameters with %s (%s), %s gradients, up to %d epochs",
             sum(p.numel() for p in params), settings.optimizer, scheduler.describe(),
             "per-k-point" if settings.separate_kpoints else "full-batch", settings.epochs)
    # One evaluation per epoch where it can be: for a deterministic model the cost after a step is the next
    # step's training cost, so it is evaluated with its gradient and that gradient drives the next step.
    reuse = deterministic(modules) and not problem.smooth_reorder
    log.info("training on %s", problem.describe())
    log.info("cost after each step: %s", "evaluated with the next step's gradient (one evaluation per epoch)" if reuse
             else "a separate eval-mode evaluation (dropout, BatchNorm or smooth_reorder)")

    evaluations = [0]  # cost and gradient evaluations of this run (a line search makes several per epoch)

    def closure():
        evaluations[0] += 1
        optimizer.zero_grad()
        with PROFILER.stage("objective and gradient"):
            total = problem.evaluate(backward=True, separate_kpoints=settings.separate_kpoints).total
        if settings.print_grad:
            log_gradients(modules, "training")
        return total

    def flat() -> torch.Tensor:
        return torch.cat([p.detach().reshape(-1) for p in params])

    def step(pending: float | None) -> tuple[float, float | None]:
        """One optimizer step; ``pending``: the cost at the current parameters whose gradient is in .grad.
        Returns the training cost and, when the step's last evaluation was at the parameters it ended at (a
        line search that stopped at its last trial), the cost there, whose gradient is then in .grad."""
        for m in modules.values():
            m.train()
        if isinstance(optimizer, torch.optim.LBFGS):  # max_iter 1: the first closure call is at the current point
            cached, last = [pending], {}

            def once():
                value, cached[0] = cached[0], None
                if value is None:  # a fresh evaluation (a line search's trials included)
                    value = closure()
                    last.update(cost=float(value), at=flat())
                return value

            with PROFILER.stage("optimizer step"):
                cost = float(optimizer.step(once))
            return cost, last["cost"] if last and torch.equal(last["at"], flat()) else None
        cost = closure() if pending is None else pending
        if not math.isfinite(cost) or not all(bool(torch.isfinite(p.grad).all()) for p in params if p.grad is not None):
            raise _Diverged(f"the training cost ({cost:.4g}) or its gradient is not finite")
        with PROFILER.stage("optimizer step"):
            optimizer.step()
        return cost, None

    def snapshot(epoch: int) -> dict:
        return copy.deepcopy({
            "epoch": epoch, "modules": {n: m.state_dict() for n, m in modules.items()},
            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "history": torch.tensor(history, dtype=torch.float64), "best": best, "best_epoch": best_epoch,
            "best_modules": best_modules, "since_best": since_best, "rng": torch.get_rng_state(),
            "fingerprint": fingerprint})

    if start == 0 and settings.pre_adjust_moves > 0:
        pre_adjust(problem, modules, settings, outdir, closure)
    if start > 0 and settings.plot_every > 0 and start % settings.plot_every == 0 and \
            not ranks.from_writer((outdir / f"epoch_{start}_{SET_LAST}").is_file()):
        log.info("the epoch_%d_ checkpoint set is incomplete; writing it again from the resumed state", start)
        _epoch_checkpoint(outdir, start, modules, optimizer, on_checkpoint)

    good = snapshot(start)  # the last state that did not diverge
    start_cost = history[0][1] if history else None
    stopped, pending = "max_num_epochs reached", None
    progress = Progress(f"train {outdir}", "epoch", settings.epochs, start=start)
    for epoch in range(start + 1, settings.epochs + 1):
        t0 = time.perf_counter()
        try:
            with PROFILER.stage("epoch", epoch):
                train_cost, known = step(pending)
                if start_cost is None:
                    start_cost = train_cost
                    log.info("divergence check: stop when a cost, gradient or parameter is not finite or the cost "
                             "after a step exceeds %g x the starting cost %.6g", DIVERGENCE_FACTOR, start_cost)
                if settings.perturb_every > 0 and scheduler_steps_after(epoch, settings.perturb_every):
                    _perturb(modules, settings.seed, epoch)
                    known = None
                scheduler.step(epoch, train_cost)
                if not reuse:
                    for m in modules.values():
                        m.eval()
                with PROFILER.stage("cost_after_step"):
                    if reuse:
                        after = pending = closure() if known is None else known
                    else:  # the next step evaluates its own training-mode cost and gradient
                        after, pending = problem.evaluate().total, None
            limit = DIVERGENCE_FACTOR * start_cost if start_cost > 0 else float("inf")
            reason = _diverged_reason(after, params, limit, start_cost)
        except (_Diverged, torch.linalg.LinAlgError, InputError) as err:
            reason = str(err).splitlines()[0]
        if reason is not None:
            _stop_diverged(outdir, epoch, reason, good, modules, settings, on_checkpoint, start_cost,
                           problem.describe())
        history.append([epoch, train_cost, after, optimizer.param_groups[0]["lr"], time.perf_counter() - t0])
        if after < best:
            best, best_epoch, since_best, best_modules = after, epoch, 0, _module_states(modules)
        else:
            since_best += 1
        progress.update(epoch, f"cost {after:.5g} eV^2", f"best {best:.5g} (epoch {best_epoch})",
                        f"lr {optimizer.param_groups[0]['lr']:.3g}")
        _write_cost(outdir, history, problem.describe())
        if settings.plot_every > 0 and epoch % settings.plot_every == 0:
            _epoch_checkpoint(outdir, epoch, modules, optimizer, on_checkpoint)
        good = snapshot(epoch)
        _save_state(state_path, good)  # after the checkpoint set: a kill before this replays the epoch
        if settings.patience > 0 and since_best >= settings.patience:
            stopped = f"patience: no improvement of the cost after a step in {settings.patience} epochs"
            break
        if stop_after is not None and epoch >= stop_after:
            stopped = f"stopped after epoch {epoch} on request"
            break
    last_epoch = history[-1][0] if history else start
    log.info("training ended at epoch %d (%s); lowest cost after a step %.6g; %d cost and gradient evaluations "
             "(%.2f per epoch)", last_epoch, stopped, best, evaluations[0], evaluations[0] / max(1, last_epoch - start))
    final_epoch = last_epoch
    if settings.final_state == "best" and best_epoch and best_epoch != last_epoch and stop_after is None:
        for name, module in modules.items():
            module.load_state_dict(best_modules[name])
        final_epoch = best_epoch
        log.info("final state: epoch %d's, the lowest cost after a step (%.6g; the last epoch's was %.6g; "
                 "final_state = last keeps the last)", best_epoch, best, history[-1][2])
    return {"history": history, "best": best, "stopped": stopped, "optimizer": optimizer, "final_epoch": final_epoch,
            "evaluations": evaluations[0], "state": good}


def _stop_diverged(outdir: Path, epoch: int, reason: str, good: dict, modules: dict, settings: TrainSettings,
                   on_checkpoint, start_cost: float, cost_terms: str):
    """Keep the last good state in train_state.pth (marked, so a rerun says so instead of resuming it), its
    cost history, and the lowest-cost state as best_*; then raise the one-line RunError."""
    _save_state(outdir / STATE_FILE, {**good, "diverged": {"epoch": epoch, "reason": reason}})
    _write_cost(outdir, good["history"].tolist(), cost_terms)
    for name, module in modules.items():
        module.load_state_dict(good["best_modules"][name])
    _write_set(outdir, "best_", lambda folder: _write_potential(folder, "best_", modules, on_checkpoint,
                                                            good["best_epoch"]))
    log.info("divergence at epoch %d: %s; wrote best_* (epoch %d) and kept the epoch-%d state in %s", epoch, reason,
             good["best_epoch"], good["epoch"], outdir / STATE_FILE)
    best = good["best"] if good["best_epoch"] else start_cost
    cost = "unknown" if best is None else f"{best:.6g}"  # None: the first evaluation already failed
    raise RunError(f"training diverged at epoch {epoch}: {reason} ({settings.optimizer}, lr {settings.lr:g}); kept "
                   f"best_* (epoch {good['best_epoch']}, cost {cost}) and the epoch-{good['epoch']} state in "
                   f"{outdir / STATE_FILE}; lower optimizer_lr and run again")


def log_gradients(modules: dict, what: str):
    """printGrad: the 2-norm and largest |component| of the gradient of every trainable tensor."""
    for mname, module in modules.items():
        for pname, p in module.named_parameters():
            if p.requires_grad:
                g = p.grad
                text = "none" if g is None else f"|g| = {float(g.norm()):.6g}, max |g_i| = {float(g.abs().max()):.6g}"
                log.info("printGrad (%s): %s.%s %s: %s", what, mname, pname, tuple(p.shape), text)


def pre_adjust(problem, modules: dict, settings: TrainSettings, outdir: Path, closure):
    """DeepPseudopot's pre-adjustment before training (pre_adjust_moves, pre_adjust_stepSize).

    Each move computes the gradient, finds the one trainable entry with the largest |gradient| g_max
    and moves only it, by -u stepSize g_max/|g_max| with u ~ U(0, 1) (a step of at most stepSize), then
    evaluates the cost and writes ``preEpoch_<n>_PPmodel.pth``. Afterwards the state after the move whose
    g_max was smallest (the best-conditioned gradient) is restored. The optimizer is not stepped.
    """
    gen = torch.Generator().manual_seed(settings.seed * 7919 + 17)
    best, rows = None, []
    for move in range(1, settings.pre_adjust_moves + 1):
        for m in modules.values():
            m.train()
        cost = closure()
        grads = [(p, p.grad) for m in modules.values() for p in m.parameters()
                 if p.requires_grad and p.grad is not None]
        if not grads:
            raise ValueError("pre_adjust_moves: no gradient to follow")
        p_max, g = max(grads, key=lambda pg: float(pg[1].abs().max()))
        index = int(g.abs().argmax())
        g_max = float(g.reshape(-1)[index])
        step = settings.pre_adjust_step * float(torch.rand((), generator=gen, dtype=torch.float64))
        with torch.no_grad():
            p_max.view(-1)[index] -= step * math.copysign(1.0, g_max)
        for m in modules.values():
            m.eval()
        with PROFILER.stage("validation"):
            after = problem.evaluate().total
        state = {n: {k: v.detach().clone() for k, v in m.state_dict().items()} for n, m in modules.items()}
        if "model" in modules:
            with atomic_path(outdir / f"preEpoch_{move}_PPmodel.pth") as tmp:
                torch.save(state["model"], tmp)
        rows.append([move, cost, after, abs(g_max), step])
        log.info("pre_adjust move %d/%d: cost %.6g -> %.6g, largest |gradient| %.4g, step %.3g",
                 move, settings.pre_adjust_moves, cost, after, abs(g_max), step)
        if best is None or abs(g_max) <= best[0]:
            best = (abs(g_max), move, state)
    for name, module in modules.items():
        module.load_state_dict(best[2][name])
    write_table(outdir / "pre_adjust.dat", ["move", "cost_before", "cost_after", "max_abs_gradient", "step"], rows,
                header_lines=["DeepPseudopot pre-adjustment: one entry (largest |gradient|) moved per line"],
                fmt="%.10g")
    log.info("pre_adjust: restored the state after move %d (smallest largest-|gradient| %.4g)", best[1], best[0])


def _perturb(modules: dict, seed: int, epoch: int):
    """perturbEvery: DeepPseudopot's kick (its perturb_model, mode 1, 10 %), after the epoch's step."""
    from .coefficients import Coefficients

    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)

    def scale_(t: torch.Tensor, size: float):
        t.mul_((1.0 + size * (2 * torch.rand(t.shape, generator=gen, dtype=torch.float64) - 1)).to(t.device, t.dtype))

    with torch.no_grad():
        for module in modules.values():
            if not isinstance(module, Coefficients):
                for p in module.parameters():
                    if p.requires_grad:
                        scale_(p, PERTURB_SCALE)
                continue
            if module.free is not None:  # a5..a7 (SOC, NL) by 0.1 %, the other trainable ones by 10 %
                free = module.free.view(module.base.shape[0], len(module.columns))
                for i, c in enumerate(module.columns):
                    scale_(free[:, i], PERTURB_SCALE / 100 if c in (5, 6, 7) else PERTURB_SCALE)
            for c in (5, 6, 7):
                if c not in module.columns:  # fixed a5..a7 are kicked too, as there
                    scale_(module.base[:, c], PERTURB_SCALE / 100)
    log.info("epoch %d: perturbed the network (and trainable coefficients) by up to %.0f %%, a5..a7 by up to %.1f %%",
             epoch, 100 * PERTURB_SCALE, PERTURB_SCALE)


def _write_cost(outdir: Path, history, cost_terms: str):
    """training_cost.dat; ``cost_terms``: the targets summed (:meth:`FitProblem.describe`)."""
    write_table(outdir / "training_cost.dat", ["epoch", "training_cost", "cost_after_step", "lr", "seconds"], history,
                header_lines=[cost_terms,
                              "training_cost: before the epoch's optimizer step (training mode); cost_after_step: "
                              "after it (eval mode), i.e. the next epoch's; no held-out data"], fmt="%.10g")


def _write_potential(folder: Path, prefix: str, modules: dict, on_checkpoint, epoch: int):
    if on_checkpoint is not None:
        on_checkpoint(epoch, prefix, folder)
    elif "model" in modules:
        with atomic_path(folder / f"{prefix}PPmodel.pth") as tmp:
            torch.save(modules["model"].state_dict(), tmp)


def _epoch_checkpoint(outdir: Path, epoch: int, modules: dict, optimizer, on_checkpoint):
    prefix = f"epoch_{epoch}_"

    def write(folder: Path):
        _write_potential(folder, prefix, modules, on_checkpoint, epoch)
        with atomic_path(folder / f"{prefix}{SET_LAST}") as tmp:
            torch.save(optimizer.state_dict(), tmp)

    _write_set(outdir, prefix, write)


def _write_set(outdir: Path, prefix: str, write):
    """Write a checkpoint set as a unit: ``write(folder)`` fills a staging folder, a marker says it is
    complete, then its files are renamed into ``outdir`` (``SET_LAST`` last). A kill before the marker
    leaves nothing visible (the staging folder is removed by the next run, which replays the epoch); a
    kill after it is completed by the next run (:func:`tidy_outdir`)."""
    staging = outdir / f".{prefix}set.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    write(staging)
    write_text(staging / SET_MARKER, "complete\n")
    _publish(staging, outdir)


def _publish(staging: Path, outdir: Path):
    files = sorted((f for f in staging.iterdir() if f.name != SET_MARKER), key=lambda f: f.name.endswith(SET_LAST))
    for f in files:
        os.replace(f, outdir / f.name)
    shutil.rmtree(staging)


def tidy_outdir(outdir):
    """Before a run writes into ``outdir`` (holding its lock): complete the checkpoint sets a killed run had
    finished writing, remove the unfinished ones and the temporary files killed writes left behind."""
    outdir = Path(outdir)
    if not outdir.is_dir():
        return
    for staging in sorted(outdir.glob(".*_set.tmp")):
        if (staging / SET_MARKER).is_file():
            _publish(staging, outdir)
            log.info("completed the %s checkpoint set a killed run had written", staging.name[1:-len("set.tmp")])
        else:
            shutil.rmtree(staging)
            log.info("removed the unfinished %s checkpoint set of a killed run (its epoch is replayed)",
                     staging.name[1:-len("set.tmp")])
    stale = [f for f in outdir.glob(".*.tmp*") if f.is_file()]
    for f in stale:
        f.unlink()
    if stale:
        log.info("removed %d temporary file(s) left by interrupted writes in %s", len(stale), outdir)
