"""Local-potential models: q (n, 1) in 1/Bohr → v(q) (n, N_species) in Hartree·Bohr³, float64.

:class:`PotentialNet` is ``v(q) = MLP(x(q)) · g(q) · s`` (see :mod:`sepm.models.parts` for the layers,
initializers and gates), with the network's input ``x`` chosen by NN_config ``PPmodel_input``:

- ``q`` (default, DeepPseudopot's form): ``x = q``;
- ``q2`` (sepm): ``x = q²``, so v(q) is even in q.

Why the form sets the real-space tail: for a spherical v, ``v(r) = (1/2π²r) ∫₀^∞ q v(q) sin(qr) dq``.
Integrating by parts, every point where ``f = q v(q)`` is not smooth adds a power of 1/r:

- q = 0: with f odd there is nothing, but a slope ``s = v'(0)`` gives ``f''(0) = 2s`` and
  ``v(r) → −s/(π² r⁴)``, one sign at every r. An input q makes s generically non-zero; an input q²
  makes every odd derivative at 0 vanish.
- a jump ``Δ`` in f'' at q₀ > 0 adds ``Δ cos(q₀r)/(2π² r⁴)``, a jump in f' adds ``∝ sin(q₀r)/r³``: CELU
  (second derivative 0 → 1) and ReLU (first derivative 0 → 1) make one at every q where a neuron
  switches, with either input.

A power-law tail does not vanish when the client cuts a table at r_last and subtracts the last row: it
moves v(q → 0) by about ``(4π/3) r_last³ v(r_last)`` and every bulk level with it, by an amount that
follows where the table ends. On the default GaAs network (celu, measured with bench/network_form.py)
the kinks dominate: ``r⁴|v(r)|`` ≈ 30–240 Hartree·Bohr⁷ over 20–100 Bohr, against ``s/π²`` ≤ 1.8
from the slope, so ``q2`` alone removes the slope but not the tail. Only a network analytic on the real
axis (``q2`` with an analytic activation, ``gelu``, and the Gaussian or no gate) has no
power-law tail: its v(r) decays exponentially, at a rate set by how close v's nearest complex
singularity lies to the real q axis (its sharpest feature). The ``q2`` form is refused with the decay
and cutoff gates, which are not even in q.

Its state_dict has the layout of the DeepPseudopot class of the same name, so that tool's
checkpoints load unchanged; the ``q2`` form adds one buffer, ``input_q2`` (a flag, 1.0), so that its
checkpoints record their form and do not load into a ``q`` network (nor the reverse):

- gated classes (``*_decay``, ``*_decayGaussian``, ...) wrap the network: ``neural_network.<layers>.<i>.*``;
- ungated classes are the network itself: ``<layers>.<i>.*``;
- ``<layers>`` is ``hidden_l``, or ``hidden`` for the older classes (Net_sig, Net_tanh, Net_relu,
  Net_sig_UniformInit, Net_tanh_XavierInit_dropout, Net_relu_HeInit and what wraps them);
- BatchNorm is ``hidden_bn.<i>.*``, one per Linear layer (the output layer's is unused).

:func:`load_state_dict_compat` also reads sepm's own older checkpoints (every class wrapped,
BatchNorm in ``bn_l``). :class:`ZeroFunction` is "no network": v = 0, the analytic Zunger form is
the whole local potential.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from sepm.choices import NETWORK_INPUTS
from sepm.models.parts import ACTIVATIONS, CUTOFF_Q, INITIALIZERS, MLP, Gate


#: The state_dict key that marks the q² form.
Q2_KEY = "input_q2"


class PotentialNet(nn.Module):
    """Neural-network local potential ``v(q) = MLP(x(q)) · g(q) · s``; layer sizes ``1, *hidden_layers,
    n_species``; ``input``: ``q`` or ``q2`` (x = q², v even in q).

    ``wrapped`` puts the network under ``neural_network.`` in the state_dict; ``layer_key`` names its
    Linear list (see the module docstring).
    """

    def __init__(self, hidden_layers: Sequence[int], n_species: int, activation: str = "relu",
                 init: str = "default", batchnorm: bool = False, dropout: float = 0.0, gate: str = "none", *,
                 decay_rate: float | None = None, decay_center: float | None = None,
                 gaussian_std: float | None = None, scale: Sequence[float] | None = None,
                 randinit_std: float = 1.0, name: str = "PotentialNet", wrapped: bool = True,
                 layer_key: str = "hidden_l", input: str = "q"):
        super().__init__()
        if n_species < 1 or any(n < 1 for n in hidden_layers):
            raise ValueError("need n_species >= 1 and >= 1 neuron per hidden layer, "
                             f"got {n_species}, {list(hidden_layers)}")
        if input not in NETWORK_INPUTS:
            raise ValueError(f"PPmodel_input must be one of {', '.join(NETWORK_INPUTS)}, got {input!r}")
        if input == "q2" and gate in ("decay", "cutoff"):
            raise ValueError(f"PPmodel_input = q2 makes v(q) even, but the {gate} gate is not even in q: "
                             "use a *_decayGaussian or ungated model, or PPmodel_input = q")
        self.input = input
        if input == "q2":
            self.register_buffer(Q2_KEY, torch.ones((), dtype=torch.float64))
        self.name, self.activation, self.init, self.dropout = name, activation, init, dropout
        self.sizes = [1, *hidden_layers, n_species]
        mlp = MLP(self.sizes, activation, init, batchnorm, dropout, randinit_std, layer_key)
        if wrapped:
            self.neural_network = mlp
        else:  # the network's modules sit at the top of the state_dict; ``mlp`` runs them
            for child_name, child in mlp.named_children():
                self.add_module(child_name, child)
            object.__setattr__(self, "_flat_mlp", mlp)
        self.gate = Gate(gate, n_species, decay_rate=decay_rate, decay_center=decay_center,
                         gaussian_std=gaussian_std, scale=scale)

    @property
    def network(self) -> MLP:
        return self.neural_network if "neural_network" in self._modules else self._flat_mlp

    @property
    def n_species(self) -> int:
        return self.sizes[-1]

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        q = q.reshape(-1, 1)
        if self.gate.kind == "cutoff":
            inside = q[:, 0] <= CUTOFF_Q
            out = q.new_zeros(q.shape[0], self.n_species)
            out[inside] = self.network(q[inside]) * self.gate(q[inside])
            return out
        return self.network(q.square() if self.input == "q2" else q) * self.gate(q)

    def describe(self) -> str:
        """One line, e.g. ``Net_relu_xavier_decayGaussian: 1-20-20-20-2, ReLU, Xavier (normal) init,
        Gaussian gate sigma=1.5``."""
        parts = ["-".join(map(str, self.sizes)), *(["input q²"] if self.input == "q2" else []),
                 ACTIVATIONS[self.activation].__name__,
                 f"{INITIALIZERS[self.init]} init"]
        if self.network.hidden_bn is not None:
            parts.append("BatchNorm")
        if self.dropout:
            parts.append(f"dropout p={self.dropout:g}")
        parts.append(self.gate.describe())
        return f"{self.name}: {', '.join(parts)}"


class ZeroFunction(nn.Module):
    """v(q) = 0 for every species: no network, only the analytic coefficients are fitted."""

    def __init__(self, n_species: int):
        super().__init__()
        self.n_species = n_species
        self.name = "ZeroFunction"

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        return q.new_zeros(q.reshape(-1, 1).shape[0], self.n_species)

    def describe(self) -> str:
        return f"ZeroFunction: v(q) = 0 for {self.n_species} species (analytic local potential only)"


def _spellings(key: str) -> list[str]:
    """Other spellings of a state_dict key: with or without ``neural_network.`` and ``module.``, ``bn_l``
    for ``hidden_bn``."""
    bare = key[len("neural_network."):] if key.startswith("neural_network.") else key
    forms = [bare, f"neural_network.{bare}"]
    forms += [f.replace("hidden_bn.", "bn_l.") for f in forms if "hidden_bn." in f]
    return forms + [f"module.{f}" for f in forms]


def load_state_dict_compat(model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> nn.Module:
    """Load a state_dict saved by DeepPseudopot (or sepm) into ``model``; returns ``model``.

    Accepts float32 tensors (cast to the model's float64), a leading ``module.`` (DataParallel) prefix,
    and sepm's older layout (every network under ``neural_network.``, BatchNorm in ``bn_l``, no
    BatchNorm for the output layer, whose statistics are never used). Any other missing or unexpected
    key, or a shape mismatch, raises ValueError naming the first one.
    """
    own = model.state_dict()
    given = dict(state_dict)
    chosen, missing = {}, []
    for key in own:
        found = next((k for k in _spellings(key) if k in given), None)
        if found is None:
            missing.append(key)
        else:
            chosen[key] = found
    unexpected = [k for k in given if k not in chosen.values()]
    if any("bn_l." in k for k in chosen.values()):  # sepm's older layout has no output-layer BatchNorm
        last = f"hidden_bn.{len(model.network.layers) - 1}."
        missing = [k for k in missing if last not in k]
    arch = getattr(model, "describe", lambda: type(model).__name__)()
    forms = ["q2" if any(k.rsplit(".", 1)[-1] == Q2_KEY for k in keys) else "q" for keys in (own, given)]
    if forms[0] != forms[1]:
        raise ValueError(f"the state_dict holds a network of PPmodel_input = {forms[1]}, {arch} has PPmodel_input = "
                         f"{forms[0]}: set PPmodel_input = {forms[1]} in NN_config.par")
    if missing or unexpected:
        first = f"missing key {missing[0]!r} (shape {tuple(own[missing[0]].shape)})" if missing else \
            f"unexpected key {unexpected[0]!r} (shape {tuple(given[unexpected[0]].shape)})"
        raise ValueError(f"state_dict does not fit {arch}: {first}; "
                         f"{len(missing)} missing, {len(unexpected)} unexpected keys")
    for key, src in chosen.items():
        if given[src].shape != own[key].shape:
            raise ValueError(f"state_dict does not fit {arch}: {src!r} has shape {tuple(given[src].shape)}, "
                             f"the model expects {tuple(own[key].shape)}")
    model.load_state_dict({**own, **{k: given[s].to(dtype=own[k].dtype, device=own[k].device)
                                     for k, s in chosen.items()}})
    return model
