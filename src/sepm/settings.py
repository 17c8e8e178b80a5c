"""Every ``NN_config.par`` key, declared once: its type, default, allowed range or choices and meaning.

From :data:`SETTINGS` come the reader's key types (:mod:`sepm.io.nnconfig`), the range check of the file
and of ``--set`` overrides (:func:`range_defects`), the defaults a run reads (:func:`setting`), the
workflow's schema of ``set:`` blocks (:func:`workflow_schema`, written to
``workflow/schemas/nn_config.schema.json`` by ``python -m sepm.settings``) and the key list of
``sepm train --help`` (:func:`help_text`).

A default of ``None``: the key has no default; the stage that needs it checks it (PPmodel, mc_iter, ...)
or its absence has a meaning of its own (relE_bIdx, trainable_params, coupling_weight). ``filled``: the
defaults DeepPseudopot's reader sets, written into the configuration when the file is read (and logged
as "defaults taken"); every other default is taken where the key is read.
"""

from __future__ import annotations

from dataclasses import dataclass

from sepm.choices import (COUPLING_AVERAGES, FINAL_STATES, LINE_SEARCHES, LR_SCHEDULES, MC_PERTURB_MODES,
                          NETWORK_INPUTS, OPTIMIZERS, PRIOR_OPTIMIZERS)
from sepm.constants import LR_GAMMA
from sepm.errors import Defect


@dataclass(frozen=True)
class Setting:
    kind: str  # one of sepm.io.parfile.VALUE_TYPES
    default: object
    doc: str
    group: str
    minimum: float | None = None  # for a list: of every entry
    exclusive: bool = False  # minimum itself not allowed
    maximum: float | None = None
    choices: tuple = ()
    fold_case: bool = False  # choices compared lower-cased
    filled: bool = False

    def allowed(self) -> str | None:
        """The range as the error line words it, e.g. ">= 0", "in (0, 1]", "one of rms, mean_abs"."""
        if self.choices:
            return "one of " + (", ".join(self.choices) if isinstance(self.choices[0], str) else str(self.choices))
        if self.minimum is None:
            return None
        low = f"{self.minimum:g}"
        if self.maximum is not None:
            return f"in {'(' if self.exclusive else '['}{low}, {self.maximum:g}]"
        bound = f"{'>' if self.exclusive else '>='} {low}"
        return f"layer sizes {bound}" if self.kind.startswith("list") else bound

    def accepts(self, value) -> bool:
        if self.choices:
            return (value.lower() if self.fold_case else value) in self.choices
        values = value if isinstance(value, list) else [value]
        if self.minimum is not None and not all(v > self.minimum if self.exclusive else v >= self.minimum
                                                for v in values):
            return False
        return self.maximum is None or all(v <= self.maximum for v in values)


_MODEL, _RUN, _PRIOR, _TRAIN, _MC, _PENALTY, _COUPLING, _COMPAT = (
    "model", "run", "prior (fit to the Zunger form)", "gradient training", "Monte Carlo", "penalties",
    "electron-phonon couplings", "DeepPseudopot compatibility")
S = Setting
SETTINGS: dict[str, Setting] = {
    # -- the model
    "PPmodel": S("str", None, "local-potential model: a network class (e.g. Net_celu_HeInit_decayGaussian) or "
                 "ZeroFunction (analytic Zunger form only); required by the fitting stages", _MODEL),
    "hiddenLayers": S("list[int]", [], "hidden-layer sizes of the network (required by a network PPmodel)", _MODEL,
                      minimum=1),
    "PPmodel_decay_rate": S("float", None, "decay gate: rate (required by *_decay* models)", _MODEL),
    "PPmodel_decay_center": S("float", None, "decay gate: center, 1/Bohr (required by *_decay* models)", _MODEL),
    "PPmodel_gaussian_std": S("float", None, "Gaussian gate: width, 1/Bohr (required by *Gaussian models)", _MODEL),
    "PPmodel_scale": S("list[float]", None, "output scale, one factor per species (required by *_scale models)",
                       _MODEL),
    "PPmodel_dropout": S("float", 0.0, "dropout probability (only *_dropout models)", _MODEL),
    "PPmodel_input": S("str", "q", "network input: q (DeepPseudopot's form) or q2 = q² (sepm): v(q) even in q, no "
                       "r⁻⁴ real-space tail from a slope at q = 0 (needs a Gaussian or no gate; with Net_gelu_* "
                       "v(q) is analytic: README, Network form)", _MODEL,
                       choices=NETWORK_INPUTS),
    "PPmodel_randinit_std": S("float", 1.0, "standard deviation of *_RandInit models' initial weights", _MODEL),
    "trainable_params": S("list[str]", None, "coefficients a0 .. a8 that move (default: a0..a4, + a5..a7 with "
                          "SObool, for ZeroFunction; none for a network, + a5..a7 with SObool in Monte Carlo)", _MODEL),
    "SObool": S("bool", False, "spin-orbit and nonlocal terms (a5..a7; spinor Hamiltonian)", _MODEL, filled=True),
    "LRgamma": S("float", LR_GAMMA, "screening of the long-range a4 tail, 1/Bohr", _MODEL, filled=True),
    "network_long_range": S("bool", False, "add the long-range a4 tail to a network potential (sepm)", _MODEL),
    # -- the run
    "nSystem": S("int", None, "number of systems X = 0 .. nSystem-1 (required)", _RUN, minimum=1),
    "device": S("str", "cpu", "torch device (the --device option decides in sepm)", _RUN, filled=True),
    "num_cores": S("int", 0, "local ranks of one fit (0 or 1: one process)", _RUN, minimum=0, filled=True),
    "seed": S("int", 0, "seed of the network draw, perturbations and Monte Carlo moves", _RUN, filled=True),
    "memory_limit_GB": S("float", 2.0, "memory budget for k-point batches, GB (also the basis check's limit when "
                         "given; else the machine's memory)", _RUN, minimum=0, exclusive=True),
    "checkpoint": S("bool", False, "recompute the Hamiltonian build in the backward pass (less memory)", _RUN,
                    filled=True),
    "separateKptGrad": S("bool", False, "accumulate gradients k-point by k-point (less memory)", _RUN, filled=True),
    "cacheSO": S("bool", False, "keep the SO/NL matrices between epochs (faster, more memory)", _RUN, filled=True),
    "relE_bIdx": S("int", None, "band whose energy at the first k-point is the zero of the band loss (none: "
                   "absolute energies)", _RUN, minimum=0),
    "smooth_reorder": S("bool", False, "reorder bands along the path by eigenvector overlap", _RUN),
    "runtime_flag": S("bool", False, "time every stage (profile.dat)", _RUN),
    "memory_flag": S("bool", False, "record every stage's peak memory (profile.dat)", _RUN),
    "SHOWPLOTS": S("bool", False, "accepted; sepm opens no windows (plots are PNG and PDF)", _RUN, filled=True),
    # -- the prior
    "init_Zunger_num_epochs": S("int", 0, "epochs of the network's fit to the Zunger form (0: no fit)", _PRIOR,
                                minimum=0, filled=True),
    "init_Zunger_optimizer": S("str", "adam", "optimizer of that fit", _PRIOR, choices=PRIOR_OPTIMIZERS,
                               fold_case=True, filled=True),
    "init_Zunger_optimizer_lr": S("float", 0.1, "its learning rate", _PRIOR, minimum=0),
    "init_Zunger_scheduler_gamma": S("float", 1.0, "its learning-rate decay factor per schedulerStep epochs",
                                     _PRIOR, minimum=0, filled=True),
    "init_Zunger_plotEvery": S("int", 0, "plot the prior's potential every that many epochs (0: never)", _PRIOR,
                               minimum=0, filled=True),
    "init_Zunger_printGrad": S("bool", False, "log gradient norms of the prior's fit", _PRIOR),
    # -- gradient training
    "max_num_epochs": S("int", 0, "training epochs (0: evaluate the initial potential only)", _TRAIN, minimum=0,
                        filled=True),
    "optimizer": S("str", "adam", "torch optimizer", _TRAIN, choices=OPTIMIZERS, fold_case=True, filled=True),
    "optimizer_lr": S("float", 1e-3, "learning rate (0: frozen)", _TRAIN, minimum=0),
    "scheduler_gamma": S("float", 1.0, "learning-rate decay factor (step and plateau schedules)", _TRAIN, minimum=0,
                         filled=True),
    "schedulerStep": S("int", 1, "epochs between decays (step), or without progress (plateau)", _TRAIN, minimum=1,
                       filled=True),
    "lr_schedule": S("str", "step", "learning-rate schedule (sepm)", _TRAIN, choices=LR_SCHEDULES),
    "lr_warmup_epochs": S("int", 0, "linear learning-rate warm-up epochs (sepm)", _TRAIN, minimum=0),
    "lr_min_factor": S("float", 0.0, "cosine schedule's final rate over optimizer_lr (sepm)", _TRAIN, minimum=0),
    "lbfgs_line_search": S("str", "none", "L-BFGS line search (sepm)", _TRAIN, choices=LINE_SEARCHES),
    "adam_beta1": S("float", 0.9, "Adam-family beta1 (applied only when given)", _TRAIN),
    "adam_beta2": S("float", 0.999, "Adam-family beta2 (applied only when given)", _TRAIN),
    "sgd_momentum": S("float", 0.0, "SGD momentum (applied only when given)", _TRAIN),
    "perturbEvery": S("int", -1, "kick the weights by up to 10 % every that many epochs (-1: never)", _TRAIN,
                      filled=True),
    "patience": S("int", 0, "stop after that many epochs without a new lowest cost (0: never)", _TRAIN, minimum=0,
                  filled=True),
    "plotEvery": S("int", 0, "write epoch_<N>_* checkpoints and plots every that many epochs (0: never)", _TRAIN,
                   minimum=0, filled=True),
    "printGrad": S("bool", False, "log gradient norms every epoch", _TRAIN),
    "pre_adjust_moves": S("int", 0, "random moves of the weights before training, each kept if the cost falls",
                          _TRAIN, minimum=0),
    "pre_adjust_stepSize": S("float", 0.005, "relative size of those moves", _TRAIN),
    "final_state": S("str", "best", "final_* potential: the lowest-cost epoch's or the last one's (sepm)", _TRAIN,
                     choices=FINAL_STATES),
    # -- Monte Carlo
    "mc_bool": S("bool", False, "Monte Carlo fitting (needs max_num_epochs = 0)", _MC, filled=True),
    "mc_iter": S("int", None, "iterations (required unless every mcOpts stage has totalIter)", _MC, minimum=0),
    "mc_percentage": S("float", None, "fraction of the trainable entries moved per step (required)", _MC,
                       minimum=0, exclusive=True, maximum=1),
    "mc_beta": S("float", None, "coldest inverse temperature, 1/eV^2 (required unless every stage has betas)", _MC),
    "mc_perturb_mode": S("int", None, "DeepPseudopot's perturbation of weights and a5..a7 (none: Gaussian steps)",
                         _MC, choices=MC_PERTURB_MODES),
    # -- penalties
    "penalize_starting": S("float", 0.0, "q beyond which the form factor is penalized, 1/Bohr", _PENALTY),
    "penalize_lambda": S("float", 0.0, "weight of the large-q form-factor penalty", _PENALTY, filled=True),
    "penalize_mag_threshold": S("float", 0.0, "form-factor magnitude above which it is penalized", _PENALTY),
    "penalize_mag_lambda": S("float", 0.0, "weight of the magnitude penalty", _PENALTY, filled=True),
    "penalize_tail_lambda": S("float", 0.0, "weight of the real-space tail penalty (sepm)", _PENALTY, minimum=0),
    "penalize_tail_integral_lambda": S("float", 0.0, "weight of the tail-integral penalty: the bulk potential from "
                                       "atoms beyond R, over the tail window (sepm)", _PENALTY, minimum=0),
    "penalize_tail_radius": S("float", 12.0, "start of the tail window, Bohr (sepm)", _PENALTY, minimum=0,
                              exclusive=True),
    "penalize_tail_rmax": S("float", 30.0, "end of the tail window, Bohr (sepm)", _PENALTY, minimum=0,
                            exclusive=True),
    "penalize_prior_lambda": S("float", 0.0, "weight of the prior anchor: v(q) held to the Zunger prior off the "
                               "shells (sepm.fitting.targets.prior_anchor)", _PENALTY, minimum=0),
    "penalize_prior_width": S("float", 0.05, "width of the prior anchor's notches at the shells, 1/Bohr (sepm)",
                              _PENALTY, minimum=0, exclusive=True),
    # -- couplings
    "coupling_weight": S("float", None, "weight of the coupling loss (expCoupling_X.par); none: 0 in gradient "
                         "training, 1 in Monte Carlo stages with fitCoupling = True", _COUPLING, minimum=0),
    "coupling_average": S("str", "rms", "average over degenerate states", _COUPLING, choices=COUPLING_AVERAGES),
    # -- read for DeepPseudopot's files, acted on as noted
    "deeppseudopot_basis": S("bool", False, "DeepPseudopot's plane-wave search box (cuts the sphere in non-cubic "
                             "cells; reproduces its numbers)", _COMPAT),
    "eigvec_reorder": S("bool", False, "accepted, not acted on (nor by DeepPseudopot)", _COMPAT),
}
del S

#: the defaults written into the configuration when NN_config.par is read
FILLED_DEFAULTS = {key: s.default for key, s in SETTINGS.items() if s.filled}
#: key -> type, as the key = value reader takes it
KINDS = {key: s.kind for key, s in SETTINGS.items()}

_CAST = {"int": int, "float": float, "bool": bool, "str": str}


def setting(config: dict, key: str):
    """``config[key]``, or the declared default where the key is absent (or None); typed by the declaration."""
    declared = SETTINGS[key]
    value = config.get(key)
    if value is None:
        value = declared.default
    if value is None:
        return None
    return list(value) if declared.kind.startswith("list") else _CAST[declared.kind](value)


def range_defects(given: dict, place) -> list[Defect]:
    """The range of each value in ``given``; ``place(key)`` is the (path, line) that set it."""
    return [Defect(*place(key), f"{key} must be {SETTINGS[key].allowed()}, got {_show(value)}")
            for key, value in given.items() if key in SETTINGS and not SETTINGS[key].accepts(value)]


def _show(value) -> str:
    return " ".join(map(str, value)) if isinstance(value, list) else str(value)


# -- generated descriptions -------------------------------------------------------------------------
_NUMBER = r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$"
_JSON_TYPES = {"int": {"type": ["integer", "string"], "pattern": r"^[-+]?\d+$"},
               "float": {"type": ["number", "string"], "pattern": _NUMBER},
               "bool": {"type": ["boolean", "integer"], "minimum": 0, "maximum": 1},
               "str": {"type": "string", "minLength": 1}}


def _json_schema(s: Setting) -> dict:
    """One key's schema: a YAML value or the text NN_config.par would hold (e.g. 1e-3, which YAML reads as a
    string; sepm checks such text again)."""
    value = dict(_JSON_TYPES[s.kind.removeprefix("list[").removesuffix("]")])
    if s.choices:
        value.pop("pattern", None)
        value["enum"] = list(s.choices) + ([c.upper() for c in s.choices] if s.fold_case else [])
    elif s.minimum is not None:
        value["exclusiveMinimum" if s.exclusive else "minimum"] = s.minimum
        if s.maximum is not None:
            value["maximum"] = s.maximum
    out = {"type": ["array", "string"], "minItems": 1, "items": value} if s.kind.startswith("list") else value
    default = "" if s.default in (None, []) else f" (default {_text(s.default)})"
    return {"description": s.doc + default, **out}


def workflow_schema() -> dict:
    """JSON schema of a workflow ``set:`` block (NN_config keys and values)."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "description": "NN_config.par keys that override the bundle's values (generated from sepm.settings by "
                           "`python -m sepm.settings`; do not edit)",
            "type": "object", "default": {}, "additionalProperties": False,
            "properties": {key: _json_schema(s) for key, s in SETTINGS.items()}}


def _text(value) -> str:
    if isinstance(value, bool):
        return str(int(value))
    return " ".join(map(str, value)) if isinstance(value, list) else f"{value:g}" if isinstance(value, float) \
        else str(value)


def help_text(width: int = 79) -> str:
    """The NN_config keys for ``--help``, grouped: key (type, default, range) and meaning."""
    import textwrap

    lines = ["NN_config.par keys (also --set KEY=VALUE):"]
    for group in dict.fromkeys(s.group for s in SETTINGS.values()):
        lines.append(f"\n  {group}:")
        for key, s in SETTINGS.items():
            if s.group == group:
                facts = [s.kind] + ([f"default {_text(s.default)}"] if s.default not in (None, []) else []) + \
                    ([s.allowed()] if s.allowed() else [])
                lines.append(textwrap.fill(f"{key} ({', '.join(facts)}): {s.doc}", width, initial_indent="    ",
                                           subsequent_indent="        "))
    return "\n".join(lines)


if __name__ == "__main__":  # python -m sepm.settings > workflow/schemas/nn_config.schema.json
    import json

    print(json.dumps(workflow_schema(), indent=2))
