"""PPmodel names → models.

Every class of DeepPseudopot's ``utils/nn_models.py`` is in :data:`ORIGINAL_CLASSES` with that class's
forward pass, state_dict layout and fresh initialization, so its checkpoints load and its numbers
come out. Other names are parsed by tokens (sepm's extension), in this order, each optional part at
most once, case-insensitive::

    Net_<act>[_<init>][_scale][_BN][_dropout][_<gate>]   |   ZeroFunction

    act   relu | celu | sig | sigmoid | tanh | gelu (sepm's: analytic, see sepm.models.parts)
    init  xavier (xavier_normal) | xavierNormal | XavierInit (xavier_uniform) | HeInit (kaiming:
          uniform for relu, normal otherwise, as DeepPseudopot) | RandInit | UniformInit | uniform
          (none: torch default); see :mod:`sepm.models.parts`
    scale per-species factors PPmodel_scale (length N_species)
    BN    BatchNorm1d after each hidden Linear
    dropout  Dropout(p = PPmodel_dropout, default 0) after each hidden activation
    gate  decay (PPmodel_decay_rate, PPmodel_decay_center) | decayGaussian (PPmodel_gaussian_std)

e.g. ``Net_tanh_HeInit_decay``, ``Net_celu_xavier_BN``. Parsed names are wrapped
(``neural_network.hidden_l.*``) when gated or scaled, flat (``hidden_l.*``) otherwise. Other config
keys read: ``PPmodel_randinit_std`` (RandInit/uniform scale, default 1), ``PPmodel_dropout``,
``PPmodel_input`` (the network's input: q, or q² for a v(q) even in q; see :mod:`sepm.models.network`).
"""

from __future__ import annotations

import difflib
import functools
import itertools
from dataclasses import dataclass, field

import torch
from torch import nn

from sepm.models.network import PotentialNet, ZeroFunction
from sepm.models.parts import GATE_KEYS, INITIALIZERS
from sepm.settings import setting

_ACT = {"relu": "relu", "celu": "celu", "sig": "sigmoid", "sigmoid": "sigmoid", "tanh": "tanh", "gelu": "gelu"}
# optional slots in grammar order: field, {canonical token: value}; "he" is resolved by activation
_SLOTS = (
    ("init", {"xavier": "xavier_normal", "xavierNormal": "xavier_normal", "XavierInit": "xavier_uniform",
              "HeInit": "he", "RandInit": "randinit", "UniformInit": "uniform01", "uniform": "uniform"}),
    ("scale", {"scale": True}),
    ("batchnorm", {"BN": True}),
    ("dropout", {"dropout": True}),
    ("gate", {"decay": "decay", "decayGaussian": "gaussian"}),
)
GRAMMAR = ("one of DeepPseudopot's classes, ZeroFunction, or Net_<act>[_<init>][_scale][_BN][_dropout][_<gate>] "
           "with act in {relu, celu, sig, sigmoid, tanh, gelu}, init in {xavier, xavierNormal, XavierInit, HeInit, "
           "RandInit, UniformInit, uniform}, gate in {decay, decayGaussian}")


@dataclass(frozen=True)
class ModelSpec:
    """What a PPmodel name asks for. ``dropout``: the class applies Dropout(PPmodel_dropout) after hidden
    activations; ``fixed``: gate numbers built into the class (not read from NN_config.par)."""

    activation: str
    init: str = "default"
    scale: bool = False
    batchnorm: bool = False
    dropout: bool = False
    gate: str = "none"
    wrapped: bool = False
    layer_key: str = "hidden_l"
    fixed: dict = field(default_factory=dict, hash=False)

    @property
    def required_keys(self) -> tuple[str, ...]:
        """NN_config.par keys this model cannot be built without."""
        gate_keys = tuple(k for k in GATE_KEYS[self.gate] if k not in self.fixed)
        return gate_keys + (("PPmodel_scale",) if self.scale else ())


def _flat(act, init="default", layer_key="hidden_l", **kw) -> ModelSpec:
    return ModelSpec(act, init, layer_key=layer_key, **kw)


def _wrapped(inner: ModelSpec, gate: str, **kw) -> ModelSpec:
    return ModelSpec(inner.activation, inner.init, kw.pop("scale", False), inner.batchnorm, inner.dropout, gate,
                     True, inner.layer_key, **kw)


_NET_SIG = _flat("sigmoid", layer_key="hidden")
_NET_RELU_XAVIER = _flat("relu", "xavier_normal")
_NET_RELU_HEINIT = _flat("relu", "he_uniform", layer_key="hidden")
_NET_CELU_HEINIT = _flat("celu", "he_normal")
_NET_RELU_XAVIER_BN = _flat("relu", "xavier_normal", batchnorm=True)
_NET_RELU_XAVIER_BN_DROPOUT = _flat("relu", "xavier_normal", batchnorm=True, dropout=True)

#: DeepPseudopot's classes (utils/nn_models.py). BatchNorm classes other than the *_BN_dropout ones
#: hold a Dropout there that their forward pass never applies: no dropout here either.
ORIGINAL_CLASSES: dict[str, ModelSpec] = {
    "Net_sig": _NET_SIG,
    "Net_tanh": _flat("tanh", layer_key="hidden", dropout=True),
    "Net_relu": _flat("relu", layer_key="hidden"),
    "Net_relu_xavier": _NET_RELU_XAVIER,
    "Net_sigmoid_xavier": _flat("sigmoid", "xavier_normal"),
    "Net_celu_HeInit": _NET_CELU_HEINIT,
    "Net_celu_RandInit": _flat("celu", "randinit"),
    "Net_sig_UniformInit": _flat("sigmoid", "uniform01", layer_key="hidden"),
    "Net_tanh_XavierInit_dropout": _flat("tanh", "xavier_uniform", layer_key="hidden", dropout=True),
    "Net_relu_HeInit": _NET_RELU_HEINIT,
    "Net_sig_bn": _flat("sigmoid", batchnorm=True),
    "Net_tanh_bn": _flat("tanh", batchnorm=True),
    "Net_relu_bn": _flat("relu", batchnorm=True),
    "Net_Xavier_BN": _flat("tanh", "xavier_uniform", batchnorm=True),
    "Net_He_BN": _flat("relu", "he_uniform", batchnorm=True),
    "Net_relu_xavier_BN_dropout": _NET_RELU_XAVIER_BN_DROPOUT,
    "Net_relu_xavier_BN": _NET_RELU_XAVIER_BN,
    "Net_relu_xavier_BN_dropout_decay": _wrapped(_NET_RELU_XAVIER_BN_DROPOUT, "cutoff"),
    "Net_relu_xavier_decay": _wrapped(_NET_RELU_XAVIER, "decay"),
    "Net_relu_xavier_decay2": _wrapped(_NET_RELU_XAVIER, "decay",
                                       fixed={"PPmodel_decay_rate": 1.5, "PPmodel_decay_center": 6.0}),
    "Net_relu_xavier_decayGaussian": _wrapped(_NET_RELU_XAVIER, "gaussian"),
    "Net_sigmoid_xavier_decayGaussian": _wrapped(_flat("sigmoid", "xavier_normal"), "gaussian"),
    "Net_celu_HeInit_decayGaussian": _wrapped(_NET_CELU_HEINIT, "gaussian"),
    "Net_celu_HeInit_scale_decayGaussian": _wrapped(_NET_CELU_HEINIT, "gaussian", scale=True),
    "Net_celu_RandInit_decayGaussian": _wrapped(_flat("celu", "randinit"), "gaussian"),
    "Net_relu_HeInit_decayGaussian": _wrapped(_NET_RELU_HEINIT, "gaussian"),
    "Net_relu_xavier_BN_decayGaussian": _wrapped(_NET_RELU_XAVIER_BN, "gaussian"),
    "Net_relu_xavier_BN_dropout_decayGaussian": _wrapped(_NET_RELU_XAVIER_BN_DROPOUT, "gaussian"),
}


@functools.cache
def known_names() -> tuple[str, ...]:
    """Every accepted name, in canonical spelling (for did-you-mean): the original classes first."""
    slots = [[""] + list(table) for _, table in _SLOTS]
    grammar = ("_".join(t for t in ("Net", act, *opt) if t) for act in _ACT for opt in itertools.product(*slots))
    return tuple(dict.fromkeys(("ZeroFunction", *ORIGINAL_CLASSES, *grammar)))


def parse_ppmodel(name: str) -> ModelSpec | None:
    """The spec of a PPmodel name; None for ZeroFunction. Unknown names raise ValueError with close matches."""
    if name.lower() == "zerofunction":
        return None
    original = {k.lower(): v for k, v in ORIGINAL_CLASSES.items()}.get(name.lower())
    if original is not None:
        return original
    tokens = name.split("_")
    if len(tokens) < 2 or tokens[0].lower() != "net" or tokens[1].lower() not in _ACT:
        _unknown(name, "it must start with Net_<act>")
    fields, pos = {"activation": _ACT[tokens[1].lower()]}, 2
    for slot, table in _SLOTS:
        lookup = {k.lower(): v for k, v in table.items()}
        if pos < len(tokens) and tokens[pos].lower() in lookup:
            fields[slot] = lookup[tokens[pos].lower()]
            pos += 1
    if pos < len(tokens):
        _unknown(name, f"token {tokens[pos]!r} is unknown or out of order")
    if fields.get("init") == "he":
        fields["init"] = "he_uniform" if fields["activation"] == "relu" else "he_normal"
    fields["wrapped"] = fields.get("gate", "none") != "none" or fields.get("scale", False)
    return ModelSpec(**fields)


@functools.cache
def _by_tokens() -> dict[tuple[str, ...], str]:
    return {tuple(sorted(n.lower().split("_"))): n for n in known_names()}


def _unknown(name: str, why: str) -> None:
    reordered = _by_tokens().get(tuple(sorted(name.lower().split("_"))))
    close = [reordered] if reordered else difflib.get_close_matches(name, known_names(), n=3, cutoff=0.6)
    hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
    raise ValueError(f"unknown PPmodel {name!r}: {why}.{hint} PPmodel names are {GRAMMAR}.")


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
    dropout = setting(config, "PPmodel_dropout")
    if dropout and not spec.dropout:
        raise ValueError(f"PPmodel {ppmodel} has no dropout layer; PPmodel_dropout = {dropout:g} cannot apply "
                         "(use a *_dropout class or remove PPmodel_dropout)")
    gate_numbers = {k: spec.fixed.get(k, config.get(k)) for k in
                    ("PPmodel_decay_rate", "PPmodel_decay_center", "PPmodel_gaussian_std")}
    kwargs = dict(
        hidden_layers=hidden_layers, n_species=n_species, activation=spec.activation, init=spec.init,
        batchnorm=spec.batchnorm, dropout=dropout, gate=spec.gate,
        decay_rate=gate_numbers["PPmodel_decay_rate"], decay_center=gate_numbers["PPmodel_decay_center"],
        gaussian_std=gate_numbers["PPmodel_gaussian_std"], scale=config["PPmodel_scale"] if spec.scale else None,
        randinit_std=setting(config, "PPmodel_randinit_std"), name=ppmodel, wrapped=spec.wrapped,
        layer_key=spec.layer_key, input=setting(config, "PPmodel_input"))
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
