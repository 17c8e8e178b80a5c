"""PPmodel names → models. DeepPseudopot's class names are parsed by tokens, not looked up one by one.

Grammar (tokens in this order, each optional part at most once, case-insensitive)::

    Net_<act>[_<init>][_scale][_BN][_dropout][_<gate>]   |   ZeroFunction

    act   relu | celu | sig | sigmoid | tanh
    init  xavier | xavierNormal | HeInit | RandInit | uniform       (none: torch default)
    scale per-species factors PPmodel_scale (length N_species)
    BN    BatchNorm1d after each hidden Linear
    dropout  Dropout(p = PPmodel_dropout, default 0.1) after each hidden activation
    gate  decay (PPmodel_decay_rate, PPmodel_decay_center) | decayGaussian (PPmodel_gaussian_std)

e.g. ``Net_relu_xavier_decayGaussian``, ``Net_celu_HeInit_scale_decayGaussian``, ``Net_tanh``.
Other config keys read: ``PPmodel_randinit_std`` (RandInit/uniform scale, default 1).
"""

from __future__ import annotations

import difflib
import functools
import itertools
from dataclasses import dataclass

import torch
from torch import nn

from sepm.models.network import PotentialNet, ZeroFunction
from sepm.models.parts import GATE_KEYS, INITIALIZERS

_ACT = {"relu": "relu", "celu": "celu", "sig": "sigmoid", "sigmoid": "sigmoid", "tanh": "tanh"}
# optional slots in grammar order: field, {canonical token: value}
_SLOTS = (
    ("init", {"xavier": "xavier", "xavierNormal": "xavier_normal", "HeInit": "he", "RandInit": "randinit",
              "uniform": "uniform"}),
    ("scale", {"scale": True}),
    ("batchnorm", {"BN": True}),
    ("dropout", {"dropout": True}),
    ("gate", {"decay": "decay", "decayGaussian": "gaussian"}),
)
GRAMMAR = ("Net_<act>[_<init>][_scale][_BN][_dropout][_<gate>] or ZeroFunction; act in {relu, celu, sig, "
           "sigmoid, tanh}, init in {xavier, xavierNormal, HeInit, RandInit, uniform}, gate in {decay, decayGaussian}")
DEFAULT_DROPOUT = 0.1


@dataclass(frozen=True)
class ModelSpec:
    """What a PPmodel name asks for."""

    activation: str
    init: str = "default"
    scale: bool = False
    batchnorm: bool = False
    dropout: bool = False
    gate: str = "none"

    @property
    def required_keys(self) -> tuple[str, ...]:
        """NN_config.par keys this model cannot be built without."""
        return GATE_KEYS[self.gate] + (("PPmodel_scale",) if self.scale else ())


@functools.cache
def known_names() -> tuple[str, ...]:
    """Every name the grammar accepts, in canonical spelling (for did-you-mean)."""
    slots = [[""] + list(table) for _, table in _SLOTS]
    return ("ZeroFunction", *("_".join(t for t in ("Net", act, *opt) if t)
                              for act in _ACT for opt in itertools.product(*slots)))


def parse_ppmodel(name: str) -> ModelSpec | None:
    """Parse a PPmodel name; None for ZeroFunction. Unknown names raise ValueError with close matches."""
    if name.lower() == "zerofunction":
        return None
    tokens = name.split("_")
    if len(tokens) < 2 or tokens[0].lower() != "net" or tokens[1].lower() not in _ACT:
        _unknown(name, "it must start with Net_<act>")
    fields, pos = {"activation": _ACT[tokens[1].lower()]}, 2
    for field, table in _SLOTS:
        lookup = {k.lower(): v for k, v in table.items()}
        if pos < len(tokens) and tokens[pos].lower() in lookup:
            fields[field] = lookup[tokens[pos].lower()]
            pos += 1
    if pos < len(tokens):
        _unknown(name, f"token {tokens[pos]!r} is unknown or out of order")
    return ModelSpec(**fields)


@functools.cache
def _by_tokens() -> dict[tuple[str, ...], str]:
    return {tuple(sorted(n.lower().split("_"))): n for n in known_names()}


def _unknown(name: str, why: str) -> None:
    reordered = _by_tokens().get(tuple(sorted(name.lower().split("_"))))
    close = [reordered] if reordered else difflib.get_close_matches(name, known_names(), n=3, cutoff=0.6)
    hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
    raise ValueError(f"unknown PPmodel {name!r}: {why}.{hint} PPmodel names follow {GRAMMAR}.")


def build_model(ppmodel: str, hidden_layers: list[int], n_species: int, config: dict | None = None,
                seed: int | None = None) -> nn.Module:
    """Build the model named ``ppmodel`` (float64). ``config`` supplies the PPmodel_* keys of NN_config.par.

    With ``seed`` the initial weights are reproducible and the global RNG is left untouched.
    """
    spec = parse_ppmodel(ppmodel)
    if spec is None:
        return ZeroFunction(n_species)
    config = config or {}
    for key in spec.required_keys:
        if config.get(key) is None:
            raise ValueError(f"PPmodel {ppmodel} needs {key} in NN_config.par")
    if spec.scale and len(config["PPmodel_scale"]) != n_species:
        raise ValueError(f"PPmodel {ppmodel}: PPmodel_scale needs one factor per species ({n_species}), "
                         f"got {len(config['PPmodel_scale'])}")
    kwargs = dict(
        hidden_layers=hidden_layers, n_species=n_species, activation=spec.activation, init=spec.init,
        batchnorm=spec.batchnorm, dropout=config.get("PPmodel_dropout", DEFAULT_DROPOUT) if spec.dropout else 0.0,
        gate=spec.gate, decay_rate=config.get("PPmodel_decay_rate"), decay_center=config.get("PPmodel_decay_center"),
        gaussian_std=config.get("PPmodel_gaussian_std"), scale=config["PPmodel_scale"] if spec.scale else None,
        randinit_std=config.get("PPmodel_randinit_std", 1.0), name=ppmodel)
    if seed is None:
        return PotentialNet(**kwargs)
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        return PotentialNet(**kwargs)


def init_strategy_name(model: nn.Module) -> str:
    """The initialization strategy of ``model``, for the initialization log."""
    if isinstance(model, ZeroFunction):
        return "none (ZeroFunction: analytic local potential only)"
    if isinstance(model, PotentialNet):
        return INITIALIZERS[model.init]
    return f"unknown ({type(model).__name__})"
