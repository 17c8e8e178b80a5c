"""Composable parts of the neural-network local potential v(q).

The network maps |q| (1/Bohr) to one value per species (Hartree·Bohr³). With layer sizes
``1, h_1, …, h_H, N_species``:

    x⁰ = q,    xⁱ = D(σ(B(Wⁱ xⁱ⁻¹ + bⁱ))),  i = 1…H,    y = W^{H+1} x^H + b^{H+1}

σ is the activation (:data:`ACTIVATIONS`), B an optional BatchNorm1d and D an optional Dropout; the
output layer is linear. A fixed (not trained) envelope g(q), times an optional per-species scale s,
then makes the potential vanish at large q (:class:`Gate`):

    v(q) = y(q) · g(q) · s

    none       g = 1
    decay      g = 1 − 1/(1 + exp(−r (q − c))) = sigmoid(r (c − q))
               r = PPmodel_decay_rate, c = PPmodel_decay_center (fixed r = 1.5, c = 6 for
               Net_relu_xavier_decay2)
    gaussian   g = exp(−q² / (2σ²))                                   σ = PPmodel_gaussian_std
    cutoff     v = y(q) for q ≤ 10, 0 above; the network (and its BatchNorm statistics) sees only
               q ≤ 10 (Net_relu_xavier_BN_dropout_decay)
    scale      s = PPmodel_scale (one factor per species), else 1

Initializers (:data:`INITIALIZERS`, applied to each Linear layer right after it is created, the
draw order of DeepPseudopot's classes; "default bias" is torch's U(−1/√fan_in, 1/√fan_in)):

    default         torch's own: W, b ~ U(−1/√fan_in, 1/√fan_in)
    xavier_normal   W ~ xavier_normal (std √(2/(fan_in+fan_out))), default bias
    xavier_uniform  W ~ xavier_uniform (same std), default bias
    he_normal       W ~ kaiming_normal, fan_in (gain √2 for ReLU/CELU, 5/3 tanh, 1 sigmoid), default bias
    he_uniform      W ~ kaiming_uniform, same gain, default bias
    randinit        W ~ N(0, (s/√fan_in)²), s = PPmodel_randinit_std (default 1), default bias
    uniform01       W ~ U(0, 1), default bias (Net_sig_UniformInit)
    uniform         W, b ~ U(−√3 s/√fan_in, √3 s/√fan_in): RandInit's variance, biases drawn too (sepm's)

The BatchNorm layers follow DeepPseudopot's layout: one per Linear layer, output layer included
(``hidden_bn.<i>``), and the output layer's is never applied.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

#: gelu (sepm) is x Φ(x), ReLU-shaped and an entire function: with the q² input (PPmodel_input) the network is
#: analytic in q, where CELU (second derivative jumps) and ReLU (kinks) leave r⁻⁴ / r⁻³ tails in v(r).
ACTIVATIONS: dict[str, type[nn.Module]] = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU, "celu": nn.CELU,
                                           "gelu": nn.GELU}
# kaiming gain per activation; torch has none for CELU or GELU, both ReLU-shaped for x > 0
_KAIMING_NONLINEARITY = {"sigmoid": "sigmoid", "tanh": "tanh", "relu": "relu", "celu": "relu", "gelu": "relu"}

INITIALIZERS: dict[str, str] = {  # key -> name written to the initialization log
    "default": "torch default",
    "xavier_normal": "Xavier (normal)",
    "xavier_uniform": "Xavier (uniform)",
    "he_normal": "He/Kaiming (normal)",
    "he_uniform": "He/Kaiming (uniform)",
    "randinit": "RandInit",
    "uniform01": "uniform [0, 1) weights",
    "uniform": "uniform",
}

GATES = ("none", "decay", "gaussian", "cutoff")
GATE_KEYS: dict[str, tuple[str, ...]] = {  # NN_config.par keys each gate needs
    "none": (),
    "decay": ("PPmodel_decay_rate", "PPmodel_decay_center"),
    "gaussian": ("PPmodel_gaussian_std",),
    "cutoff": (),
}
#: q (1/Bohr) above which the cutoff gate sets v = 0.
CUTOFF_Q = 10.0
#: Layer-list names of the state_dict: DeepPseudopot's older classes call it ``hidden``.
LAYER_KEYS = ("hidden_l", "hidden")


def init_linear(layer: nn.Linear, init: str, activation: str, std: float = 1.0) -> None:
    """Initialize one freshly built Linear layer in place by the strategy ``init`` (module docstring)."""
    w, b = layer.weight, layer.bias
    scale = std / math.sqrt(layer.in_features)
    nonlinearity = _KAIMING_NONLINEARITY[activation]
    with torch.no_grad():
        if init == "default":
            pass  # nn.Linear drew it already
        elif init == "xavier_normal":
            nn.init.xavier_normal_(w)
        elif init == "xavier_uniform":
            nn.init.xavier_uniform_(w)
        elif init == "he_normal":
            nn.init.kaiming_normal_(w, mode="fan_in", nonlinearity=nonlinearity)
        elif init == "he_uniform":
            nn.init.kaiming_uniform_(w, nonlinearity=nonlinearity)
        elif init == "randinit":
            w.normal_(0.0, scale)
        elif init == "uniform01":
            w.uniform_(0.0, 1.0)
        elif init == "uniform":
            w.uniform_(-math.sqrt(3) * scale, math.sqrt(3) * scale)
            b.uniform_(-math.sqrt(3) * scale, math.sqrt(3) * scale)
        else:
            raise ValueError(f"unknown initializer {init!r}; known: {', '.join(INITIALIZERS)}")


class MLP(nn.Module):
    """Fully connected network ``sizes[0] → … → sizes[-1]``; Linear layers in ``<layer_key>`` (``hidden_l``
    or ``hidden``), BatchNorm in ``hidden_bn``.

    Hidden layer: Linear → BatchNorm1d (optional) → activation → Dropout (p > 0); output layer: Linear.
    """

    def __init__(self, sizes: Sequence[int], activation: str = "relu", init: str = "default",
                 batchnorm: bool = False, dropout: float = 0.0, randinit_std: float = 1.0,
                 layer_key: str = "hidden_l"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; known: {', '.join(ACTIVATIONS)}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {dropout}")
        if layer_key not in LAYER_KEYS:
            raise ValueError(f"layer_key must be one of {LAYER_KEYS}, got {layer_key!r}")
        f64 = torch.float64
        self.layer_key = layer_key
        layers = nn.ModuleList()
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers.append(nn.Linear(a, b, dtype=f64))
            init_linear(layers[-1], init, activation, randinit_std)
        self.add_module(layer_key, layers)
        self.hidden_bn = nn.ModuleList(nn.BatchNorm1d(n, dtype=f64) for n in sizes[1:]) if batchnorm else None
        if batchnorm:  # the output layer's BatchNorm is kept for the state_dict layout only: frozen
            self.hidden_bn[-1].requires_grad_(False)
        self.act = ACTIVATIONS[activation]()
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    @property
    def layers(self) -> nn.ModuleList:
        return getattr(self, self.layer_key)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        *hidden, out = self.layers
        for i, layer in enumerate(hidden):
            x = layer(x)
            if self.hidden_bn is not None:
                x = self.hidden_bn[i](x)
            x = self.drop(self.act(x))
        return out(x)


class Gate(nn.Module):
    """The fixed envelope ``g(q) · s`` of the module docstring; its numbers are non-persistent buffers.

    Non-persistent: they follow ``.to(device)`` but stay out of the state_dict, so checkpoints hold
    only network weights (as DeepPseudopot's do) and the gate comes from NN_config.par.
    """

    def __init__(self, kind: str = "none", n_species: int = 1, *, decay_rate: float | None = None,
                 decay_center: float | None = None, gaussian_std: float | None = None,
                 scale: Sequence[float] | None = None):
        super().__init__()
        if kind not in GATES:
            raise ValueError(f"unknown gate {kind!r}; known: {', '.join(GATES)}")
        given = {"PPmodel_decay_rate": decay_rate, "PPmodel_decay_center": decay_center,
                 "PPmodel_gaussian_std": gaussian_std}
        for key in GATE_KEYS[kind]:
            if given[key] is None:
                raise ValueError(f"the {kind} gate needs {key}")
        if kind == "gaussian" and not gaussian_std > 0:
            raise ValueError(f"PPmodel_gaussian_std must be > 0, got {gaussian_std}")
        if scale is not None and len(scale) != n_species:
            raise ValueError(f"PPmodel_scale needs one factor per species ({n_species}), got {len(scale)}")
        self.kind = kind
        for name, value in (("decay_rate", decay_rate), ("decay_center", decay_center),
                            ("gaussian_std", gaussian_std), ("scale", scale)):
            value = None if value is None else torch.as_tensor(value, dtype=torch.float64)
            self.register_buffer(name, value, persistent=False)

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        """Envelope for q of shape (n, 1): shape (n, 1), or (n, n_species) with a scale."""
        if self.kind == "decay":
            g = torch.sigmoid(self.decay_rate * (self.decay_center - q))
        elif self.kind == "gaussian":
            g = torch.exp(-q.square() / (2 * self.gaussian_std.square()))
        else:  # the cutoff is applied by the network wrapper (the network must not see q > 10)
            g = torch.ones_like(q)
        return g if self.scale is None else g * self.scale

    def describe(self) -> str:
        if self.kind == "decay":
            text = f"logistic decay gate rate={_num(self.decay_rate)} center={_num(self.decay_center)}"
        elif self.kind == "gaussian":
            text = f"Gaussian gate sigma={_num(self.gaussian_std)}"
        elif self.kind == "cutoff":
            text = f"hard cutoff at q={CUTOFF_Q:g}"
        else:
            text = "no gate"
        if self.scale is not None:
            text += f", scale=[{', '.join(_num(s) for s in self.scale)}]"
        return text


def _num(x: torch.Tensor) -> str:
    return f"{x.item():g}"
