"""DeepPseudopot's model catalog (utils/nn_models.py there): every class name, its state_dict layout,
forward pass and fresh initialization, checked against a functional re-implementation written here."""

import math

import pytest
import torch
import torch.nn.functional as F

from sepm.models import build_model, load_state_dict_compat
from sepm.models.catalog import ORIGINAL_CLASSES

F64 = torch.float64
# name: (state_dict prefix of the Linear list, activation, weight init, BatchNorm, envelope)
CLASSES = {
    "Net_sig": ("hidden", "sigmoid", "default", False, None),
    "Net_tanh": ("hidden", "tanh", "default", False, None),
    "Net_relu": ("hidden", "relu", "default", False, None),
    "Net_relu_xavier": ("hidden_l", "relu", "xavier_normal", False, None),
    "Net_sigmoid_xavier": ("hidden_l", "sigmoid", "xavier_normal", False, None),
    "Net_celu_HeInit": ("hidden_l", "celu", "kaiming_normal", False, None),
    "Net_celu_RandInit": ("hidden_l", "celu", "randn", False, None),
    "Net_sig_UniformInit": ("hidden", "sigmoid", "uniform01", False, None),
    "Net_tanh_XavierInit_dropout": ("hidden", "tanh", "xavier_uniform", False, None),
    "Net_relu_HeInit": ("hidden", "relu", "kaiming_uniform", False, None),
    "Net_sig_bn": ("hidden_l", "sigmoid", "default", True, None),
    "Net_tanh_bn": ("hidden_l", "tanh", "default", True, None),
    "Net_relu_bn": ("hidden_l", "relu", "default", True, None),
    "Net_Xavier_BN": ("hidden_l", "tanh", "xavier_uniform", True, None),
    "Net_He_BN": ("hidden_l", "relu", "kaiming_uniform", True, None),
    "Net_relu_xavier_BN_dropout": ("hidden_l", "relu", "xavier_normal", True, None),
    "Net_relu_xavier_BN": ("hidden_l", "relu", "xavier_normal", True, None),
    "Net_relu_xavier_BN_dropout_decay": ("neural_network.hidden_l", "relu", "xavier_normal", True, "cut10"),
    "Net_relu_xavier_decay": ("neural_network.hidden_l", "relu", "xavier_normal", False, "decay"),
    "Net_relu_xavier_decay2": ("neural_network.hidden_l", "relu", "xavier_normal", False, "decay2"),
    "Net_relu_xavier_decayGaussian": ("neural_network.hidden_l", "relu", "xavier_normal", False, "gauss"),
    "Net_sigmoid_xavier_decayGaussian": ("neural_network.hidden_l", "sigmoid", "xavier_normal", False, "gauss"),
    "Net_celu_HeInit_decayGaussian": ("neural_network.hidden_l", "celu", "kaiming_normal", False, "gauss"),
    "Net_celu_HeInit_scale_decayGaussian": ("neural_network.hidden_l", "celu", "kaiming_normal", False, "gauss_scale"),
    "Net_celu_RandInit_decayGaussian": ("neural_network.hidden_l", "celu", "randn", False, "gauss"),
    "Net_relu_HeInit_decayGaussian": ("neural_network.hidden", "relu", "kaiming_uniform", False, "gauss"),
    "Net_relu_xavier_BN_decayGaussian": ("neural_network.hidden_l", "relu", "xavier_normal", True, "gauss"),
    "Net_relu_xavier_BN_dropout_decayGaussian": ("neural_network.hidden_l", "relu", "xavier_normal", True, "gauss"),
}
CFG = {"PPmodel_decay_rate": 2.0, "PPmodel_decay_center": 4.0, "PPmodel_gaussian_std": 3.0,
       "PPmodel_scale": [0.5, 2.0]}
SIZES = [1, 6, 5, 2]


def test_table_is_the_whole_catalog():
    assert set(CLASSES) == set(ORIGINAL_CLASSES)


def reference_init(init: str, seed: int) -> dict:
    """The original's fresh draw: each nn.Linear built (torch's default draw), then its weight re-drawn."""
    torch.manual_seed(seed)
    layers = []
    for a, b in zip(SIZES[:-1], SIZES[1:]):
        lin = torch.nn.Linear(a, b, dtype=F64)
        w = lin.weight.data
        if init == "xavier_normal":
            w.normal_(0, math.sqrt(2 / (a + b)))
        elif init == "xavier_uniform":
            bound = math.sqrt(6 / (a + b))
            w.uniform_(-bound, bound)
        elif init == "kaiming_normal":
            w.normal_(0, math.sqrt(2 / a))
        elif init == "kaiming_uniform":
            bound = math.sqrt(6 / a)
            w.uniform_(-bound, bound)
        elif init == "uniform01":
            w.uniform_(0, 1)
        elif init == "randn":
            w.normal_(0, 1 / math.sqrt(a))
        layers.append((w.clone(), lin.bias.data.clone()))
    return layers


def reference_forward(name: str, state: dict, q: torch.Tensor, training: bool) -> torch.Tensor:
    prefix, act, _, bn, env = CLASSES[name]
    bn_prefix = prefix.replace("hidden_l", "hidden_bn")
    n = len(SIZES) - 1
    x = q if env != "cut10" else q[q[:, 0] <= 10]
    for i in range(n):
        x = x @ state[f"{prefix}.{i}.weight"].T + state[f"{prefix}.{i}.bias"]
        if i == n - 1:
            break
        if bn:
            if training:
                mean, var = x.mean(0), x.var(0, unbiased=False)
            else:
                mean, var = state[f"{bn_prefix}.{i}.running_mean"], state[f"{bn_prefix}.{i}.running_var"]
            x = (x - mean) / torch.sqrt(var + 1e-5) * state[f"{bn_prefix}.{i}.weight"] + state[f"{bn_prefix}.{i}.bias"]
        x = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "celu": F.celu}[act](x)
    if env == "cut10":
        out = torch.zeros(q.shape[0], SIZES[-1], dtype=F64)
        out[q[:, 0] <= 10] = x
        return out
    if env in ("decay", "decay2"):
        r, c = (2.0, 4.0) if env == "decay" else (1.5, 6.0)
        x = x * (1 - 1 / (1 + torch.exp(-r * (q - c))))
    elif env is not None:
        x = x * torch.exp(-q**2 / (2 * 3.0**2))
        if env == "gauss_scale":
            x = x * torch.tensor([0.5, 2.0], dtype=F64)
    return x


def expected_keys(name: str) -> list[str]:
    prefix, _, _, bn, _ = CLASSES[name]
    keys = [f"{prefix}.{i}.{p}" for i in range(len(SIZES) - 1) for p in ("weight", "bias")]
    if bn:
        bn_prefix = prefix.replace("hidden_l", "hidden_bn")
        keys += [f"{bn_prefix}.{i}.{p}" for i in range(len(SIZES) - 1)
                 for p in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")]
    return keys


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_layout_forward_and_round_trip(name, tmp_path):
    model = build_model(name, SIZES[1:-1], 2, CFG, seed=4)
    assert sorted(model.state_dict()) == sorted(expected_keys(name))
    # a checkpoint as the original writes it: float32 (torch's default there was set to float64, but
    # GPU runs saved float32), random BatchNorm statistics
    gen = torch.Generator().manual_seed(9)
    saved = {k: (torch.rand(v.shape, generator=gen, dtype=F64) + 0.5 if "running_var" in k else
                 torch.randn(v.shape, generator=gen, dtype=F64)).float() if v.is_floating_point() else v
             for k, v in model.state_dict().items()}
    torch.save(saved, tmp_path / "init_PPmodel.pth")
    state = torch.load(tmp_path / "init_PPmodel.pth", weights_only=True)
    fresh = load_state_dict_compat(build_model(name, SIZES[1:-1], 2, CFG, seed=5), state)
    assert all(v.dtype == F64 for v in fresh.state_dict().values() if v.is_floating_point())
    ref_state = {k: v.double() if v.is_floating_point() else v for k, v in state.items()}
    q = torch.linspace(0.0, 14.0, 57, dtype=F64)[:, None]
    with torch.no_grad():
        for training in (False, True):
            fresh.train(training)
            torch.testing.assert_close(fresh(q), reference_forward(name, ref_state, q, training), rtol=1e-12, atol=1e-12)
    torch.save(fresh.state_dict(), tmp_path / "again.pth")
    assert sorted(torch.load(tmp_path / "again.pth", weights_only=True)) == sorted(expected_keys(name))


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_fresh_initialization_is_the_originals_draw(name):
    _, _, init, _, _ = CLASSES[name]
    model = build_model(name, SIZES[1:-1], 2, CFG, seed=21)
    layers = model.network.layers
    for (w, b), lin in zip(reference_init(init, 21), layers):
        torch.testing.assert_close(lin.weight.data, w, rtol=1e-14, atol=0)  # same draw, std rounded alike
        assert torch.equal(lin.bias.data, b)


def test_cutoff_class_is_zero_beyond_q10_and_blind_to_it():
    model = build_model("Net_relu_xavier_BN_dropout_decay", [8], 2, {}, seed=1).train()
    q = torch.tensor([[0.5], [12.0], [3.0], [10.0], [25.0]], dtype=F64)
    v = model(q)
    assert (v[[1, 4]] == 0).all() and (v[[0, 2, 3]] != 0).all()
    # BatchNorm batch statistics come from q <= 10 only: adding large q changes nothing below 10
    torch.testing.assert_close(v[[0, 2, 3]], model(q[[0, 2, 3]]))


def test_decay2_needs_no_keys_and_dropout_is_off_by_default():
    model = build_model("Net_relu_xavier_decay2", [4], 2, {})
    assert "rate=1.5 center=6" in model.describe()
    assert build_model("Net_relu_xavier_BN_dropout", [4], 2, {}).dropout == 0.0
    assert build_model("Net_relu_xavier_BN_dropout", [4], 2, {"PPmodel_dropout": 0.3}).dropout == 0.3
    with pytest.raises(ValueError, match="has no dropout layer"):
        build_model("Net_relu_xavier_BN", [4], 2, {"PPmodel_dropout": 0.3})
