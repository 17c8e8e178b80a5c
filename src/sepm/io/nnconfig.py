"""``NN_config.par``: the run configuration of a DeepPseudopot bundle.

Format: ``key = value`` per line, ``#`` comments (also trailing), booleans ``0``/``1`` (``True``/``False``
accepted), lists space separated::

    PPmodel = Net_celu_HeInit_decayGaussian
    hiddenLayers = 20 20 20
    nSystem = 1
    max_num_epochs = 600

Known keys and their types are in :data:`NN_CONFIG_SCHEMA`: every key DeepPseudopot's main.py reads,
with its meaning there, plus sepm's own; unknown keys are defects with a did-you-mean.
:data:`NN_CONFIG_DEFAULTS` fills keys left out; keys without a default (PPmodel,
hiddenLayers, optimizer_lr, mc_iter, ...) stay absent and are checked by the stage that needs them.
``nSystem`` is required; ``mc_bool = 1`` together with ``max_num_epochs > 0`` is rejected.
"""

from __future__ import annotations

from pathlib import Path

from sepm.errors import Defect
from sepm.fitting.perturb_modes import MODES as MC_PERTURB_MODES
from sepm.fitting.schedule import SCHEDULES as LR_SCHEDULES
from sepm.fitting.train import LINE_SEARCHES
from sepm.io.parfile import _finish, _sink, read_keyvalue
from sepm.observables.coupling import AVERAGES as COUPLING_AVERAGES

#: final_state: the final_* potential is the lowest-cost epoch's (best) or the last epoch's (last).
FINAL_STATES = ("best", "last")

NN_CONFIG_SCHEMA: dict[str, str] = {
    "PPmodel": "str",
    "hiddenLayers": "list[int]",
    "nSystem": "int",
    "SObool": "bool",
    "cacheSO": "bool",
    "SHOWPLOTS": "bool",
    "separateKptGrad": "bool",
    "checkpoint": "bool",
    "num_cores": "int",
    "device": "str",
    "seed": "int",
    "memory_limit_GB": "float",
    "PPmodel_decay_rate": "float",
    "PPmodel_decay_center": "float",
    "PPmodel_gaussian_std": "float",
    "PPmodel_scale": "list[float]",
    "PPmodel_dropout": "float",
    "PPmodel_randinit_std": "float",
    "trainable_params": "list[str]",
    "init_Zunger_num_epochs": "int",
    "init_Zunger_optimizer": "str",
    "init_Zunger_optimizer_lr": "float",
    "init_Zunger_scheduler_gamma": "float",
    "init_Zunger_plotEvery": "int",
    "optimizer": "str",
    "optimizer_lr": "float",
    "scheduler_gamma": "float",
    "schedulerStep": "int",
    "perturbEvery": "int",
    "max_num_epochs": "int",
    "plotEvery": "int",
    "patience": "int",
    "mc_bool": "bool",
    "mc_iter": "int",
    "mc_percentage": "float",
    "mc_beta": "float",
    "penalize_starting": "float",
    "penalize_lambda": "float",
    "penalize_mag_threshold": "float",
    "penalize_mag_lambda": "float",
    "LRgamma": "float",
    # DeepPseudopot keys (utils/read.py there)
    "memory_flag": "bool",
    "runtime_flag": "bool",
    "printGrad": "bool",
    "init_Zunger_printGrad": "bool",
    "smooth_reorder": "bool",
    "eigvec_reorder": "bool",
    "pre_adjust_moves": "int",
    "pre_adjust_stepSize": "float",
    "relE_bIdx": "int",
    "mc_perturb_mode": "int",
    "sgd_momentum": "float",
    "adam_beta1": "float",
    "adam_beta2": "float",
    # sepm extension: the long-range a4 tail on top of a network potential (DeepPseudopot: never)
    "network_long_range": "bool",
    # sepm compatibility switch: DeepPseudopot's plane-wave search box (cuts the sphere in non-cubic cells)
    "deeppseudopot_basis": "bool",
    # sepm extension: weight of the electron-phonon coupling loss (expCoupling_X.par) in gradient training
    # (0: not fitted) and in Monte Carlo stages with fitCoupling = True (default there 1); the average over
    # degenerate states, rms (gauge invariant) or mean_abs (DeepPseudopot's, gauge dependent)
    "coupling_weight": "float",
    "coupling_average": "str",
    # sepm extensions: the training's learning-rate schedule (sepm.fitting.schedule)
    "lr_schedule": "str",
    "lr_warmup_epochs": "int",
    "lr_min_factor": "float",
    # sepm extension: which state the final_* potential is, the epoch of lowest cost after a step (best)
    # or the last epoch's (last, as DeepPseudopot)
    "final_state": "str",
    # sepm extension: the real-space tail penalty (sepm.fitting.tail_penalty): the bulk-level shift a cut of
    # v(r) at r in [penalize_tail_radius, penalize_tail_rmax] Bohr would cause, squared, times the lambda
    "penalize_tail_lambda": "float",
    "penalize_tail_radius": "float",
    "penalize_tail_rmax": "float",
    # sepm extension: the prior anchor (sepm.fitting.prior_anchor): v(q) held to the bundle's Zunger form where
    # no system's |G_i - G_j| lies (Gaussian notches of width penalize_prior_width 1/Bohr), times the lambda
    "penalize_prior_lambda": "float",
    "penalize_prior_width": "float",
    # sepm extension: L-BFGS's line search, none (DeepPseudopot's fixed step) or strong_wolfe (sepm.fitting.train)
    "lbfgs_line_search": "str",
}

NN_CONFIG_DEFAULTS: dict = {
    "SObool": False,
    "cacheSO": False,
    "SHOWPLOTS": False,
    "separateKptGrad": False,
    "checkpoint": False,
    "num_cores": 0,
    "device": "cpu",
    "seed": 0,
    "init_Zunger_num_epochs": 0,
    "init_Zunger_optimizer": "adam",
    "init_Zunger_scheduler_gamma": 1.0,
    "init_Zunger_plotEvery": 0,
    "optimizer": "adam",
    "scheduler_gamma": 1.0,
    "schedulerStep": 1,
    "perturbEvery": -1,
    "max_num_epochs": 0,
    "plotEvery": 0,
    "patience": 0,  # 0 = never stop early
    "mc_bool": False,
    "LRgamma": 0.2,
    "penalize_lambda": 0.0,
    "penalize_mag_lambda": 0.0,
}

_NON_NEGATIVE = ("num_cores", "init_Zunger_num_epochs", "init_Zunger_plotEvery", "max_num_epochs",
                 "plotEvery", "patience", "mc_iter", "pre_adjust_moves", "relE_bIdx", "optimizer_lr",
                 "init_Zunger_optimizer_lr", "scheduler_gamma", "init_Zunger_scheduler_gamma",
                 "coupling_weight", "lr_warmup_epochs", "lr_min_factor", "penalize_tail_lambda",
                 "penalize_prior_lambda")  # lr 0: frozen
_POSITIVE = ("nSystem", "schedulerStep")
_POSITIVE_REAL = ("memory_limit_GB", "penalize_tail_radius", "penalize_tail_rmax", "penalize_prior_width")


_CHECKPOINT_CONFLICT = ("checkpoint = 1 (recompute the Hamiltonian build in the backward pass) and separateKptGrad "
                        "= 1 ({where}) do not go together: per-k-point gradients already bound the memory; "
                        "use one of them")


def range_defects(given: dict, place) -> list[Defect]:
    """The range of each value in ``given``; ``place(key)`` is the (path, line) that set it."""
    rules = [(key, lambda v: v >= 1, ">= 1") for key in _POSITIVE]
    rules += [(key, lambda v: v >= 0, ">= 0") for key in _NON_NEGATIVE]
    rules += [(key, lambda v: v > 0, "> 0") for key in _POSITIVE_REAL]
    rules += [("hiddenLayers", lambda v: min(v) >= 1, "layer sizes >= 1"),
              ("mc_percentage", lambda v: 0 < v <= 1, "in (0, 1]"),
              ("mc_perturb_mode", lambda v: v in MC_PERTURB_MODES, f"one of {MC_PERTURB_MODES}"),
              ("coupling_average", lambda v: v in COUPLING_AVERAGES, f"one of {', '.join(COUPLING_AVERAGES)}"),
              ("lr_schedule", lambda v: v in LR_SCHEDULES, f"one of {', '.join(LR_SCHEDULES)}"),
              ("final_state", lambda v: v in FINAL_STATES, f"one of {', '.join(FINAL_STATES)}"),
              ("lbfgs_line_search", lambda v: v in LINE_SEARCHES, f"one of {', '.join(LINE_SEARCHES)}")]
    return [Defect(*place(key), f"{key} must be {what}, got {_show(given[key])}")
            for key, ok, what in rules if key in given and not ok(given[key])]


def _show(value) -> str:
    return " ".join(map(str, value)) if isinstance(value, list) else str(value)


def read_nn_config(path: Path, defects: list[Defect] | None = None) -> tuple[dict, dict[str, int]]:
    """Read ``NN_config.par``; returns ``(config with defaults filled, line_of_key for keys in the file)``."""
    defects, owned = _sink(defects)
    path = Path(path)
    given, where = read_keyvalue(path, NN_CONFIG_SCHEMA, defects)
    if "nSystem" not in where and path.is_file():
        defects.append(Defect(path, None, "required key 'nSystem' is missing (number of systems X = 0..nSystem-1)"))
    defects += range_defects(given, lambda key: (path, where[key]))
    if given.get("checkpoint") and given.get("separateKptGrad"):
        defects.append(Defect(path, where["checkpoint"],
                              _CHECKPOINT_CONFLICT.format(where=f"line {where['separateKptGrad']}")))
    if given.get("mc_bool") and given.get("max_num_epochs", 0) > 0:
        defects.append(Defect(
            path, where["mc_bool"],
            f"mc_bool = 1 (line {where['mc_bool']}) and max_num_epochs = {given['max_num_epochs']} "
            f"(line {where['max_num_epochs']}) are mutually exclusive: Monte Carlo fitting needs "
            "max_num_epochs = 0, gradient training needs mc_bool = 0"))
    _finish(defects, owned)
    return {**NN_CONFIG_DEFAULTS, **given}, where


def apply_overrides(config: dict, overrides: list[str], origin: str = "--set") -> dict:
    """A copy of ``config`` with ``KEY=VALUE`` overrides typed by :data:`NN_CONFIG_SCHEMA`.

    Bad keys or values raise :class:`~sepm.errors.InputError` naming ``origin`` and the key."""
    import difflib

    from sepm.errors import InputError
    from sepm.io.parfile import parse_value

    out = dict(config)
    defects, position = [], {}
    for i, item in enumerate(overrides, 1):
        key, sep, value = (part.strip() for part in item.partition("="))
        if not sep or key not in NN_CONFIG_SCHEMA:
            close = difflib.get_close_matches(key, NN_CONFIG_SCHEMA, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            defects.append(Defect(Path(origin), i, f"{item!r}: unknown NN_config key {key!r}{hint}; use KEY=VALUE"))
            continue
        try:
            out[key] = parse_value(value, NN_CONFIG_SCHEMA[key])
            position[key] = i
        except ValueError as err:
            defects.append(Defect(Path(origin), i, f"{key}: {err}"))
    defects += range_defects({k: out[k] for k in position}, lambda key: (Path(origin), position[key]))
    if out.get("mc_bool") and int(out.get("max_num_epochs", 0)) > 0:
        defects.append(Defect(Path(origin), None, "mc_bool = 1 and max_num_epochs > 0 are mutually exclusive"))
    if out.get("checkpoint") and out.get("separateKptGrad"):
        defects.append(Defect(Path(origin), None, _CHECKPOINT_CONFLICT.format(where="after the overrides")))
    if defects:
        raise InputError(defects)
    return out


def config_notices(config: dict) -> list[str]:
    """Notices for keys that are accepted but change nothing here (logged by every stage that reads them)."""
    out = []
    if config.get("SHOWPLOTS"):
        out.append("SHOWPLOTS = 1: sepm opens no plot windows; every plot is written as PNG and PDF")
    if config.get("eigvec_reorder"):
        out.append("eigvec_reorder = 1 is not acted on: DeepPseudopot reads it but never uses it either; "
                   "use smooth_reorder = 1 or kpoints_X_orderMatrix.par to fix the band order")
    return out
