"""PPmodel catalog: names, shapes, gates, initializers, checkpoints (sepm.models)."""

import pytest
import torch

from sepm.models import PotentialNet, ZeroFunction, build_model, init_strategy_name, load_state_dict_compat

NAMES = [
    "Net_relu_xavier", "Net_relu_xavier_decay", "Net_relu_xavier_decayGaussian", "Net_celu_HeInit_decayGaussian",
    "Net_celu_HeInit_scale_decayGaussian", "Net_celu_RandInit_decayGaussian", "Net_relu_HeInit_decayGaussian",
    "Net_sigmoid_xavier_decayGaussian", "Net_relu_xavier_BN_decayGaussian", "Net_relu_xavier_BN_dropout_decayGaussian",
    "Net_sig", "Net_tanh", "Net_relu", "Net_celu", "Net_tanh_HeInit_decay", "Net_sigmoid_decayGaussian",
    "Net_relu_xavierNormal_BN", "Net_tanh_uniform_scale", "Net_celu_RandInit_dropout_decay",
]


def config(n_species, sigma=1.0):
    return {"PPmodel_decay_rate": 5.0, "PPmodel_decay_center": 3.0, "PPmodel_gaussian_std": sigma,
            "PPmodel_scale": [1.0 + i for i in range(n_species)]}


def qgrid(lo=0.0, hi=3.0, n=50):
    return torch.linspace(lo, hi, n, dtype=torch.float64).reshape(-1, 1)


@pytest.mark.parametrize("n_species", [2, 3])
@pytest.mark.parametrize("name", NAMES)
def test_every_name_builds_and_trains(name, n_species):
    model = build_model(name, [8, 8], n_species, config(n_species), seed=1)
    v = model(qgrid())
    assert v.shape == (50, n_species) and v.dtype == torch.float64
    (v.square().sum() + v.sum()).backward()
    for key, p in model.named_parameters():
        assert p.dtype == torch.float64
        if not p.requires_grad:  # the output layer's BatchNorm: kept for DeepPseudopot's layout, never applied
            assert key.endswith((f"hidden_bn.{len(model.sizes) - 2}.weight", f"hidden_bn.{len(model.sizes) - 2}.bias"))
            continue
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, key
    assert model.describe().startswith(f"{name}: 1-8-8-{n_species}, ")


def test_describe():
    model = build_model("Net_relu_xavier_decayGaussian", [20, 20, 20], 2, config(2, sigma=1.5))
    assert model.describe() == ("Net_relu_xavier_decayGaussian: 1-20-20-20-2, ReLU, Xavier (normal) init, "
                                "Gaussian gate sigma=1.5")
    model = build_model("Net_celu_HeInit_scale_BN_dropout_decay", [4], 2, {**config(2), "PPmodel_dropout": 0.2})
    assert model.describe() == ("Net_celu_HeInit_scale_BN_dropout_decay: 1-4-2, CELU, He/Kaiming (normal) init, BatchNorm, "
                                "dropout p=0.2, logistic decay gate rate=5 center=3, scale=[1, 2]")


def test_gaussian_gate_kills_large_q():
    model = build_model("Net_relu_xavier_decayGaussian", [8, 8], 2, config(2, sigma=1.0), seed=3)
    with torch.no_grad():
        vmax = model(qgrid(0, 2)).abs().max()
        v12 = model(torch.tensor([[12.0]], dtype=torch.float64)).abs().max()
    assert vmax > 0 and v12 < 1e-6 * vmax


def test_logistic_decay_tends_to_zero():
    model = build_model("Net_celu_xavier_decay", [8, 8], 2, config(2), seed=3)
    ungated = build_model("Net_celu_xavier", [8, 8], 2, {}, seed=3)
    q = torch.tensor([[0.5], [3.0], [10.0], [20.0]], dtype=torch.float64)
    with torch.no_grad():
        assert ungated(q).abs().min() > 0
        ratio = model(q) / ungated(q)
    e = torch.exp(-5.0 * (q - 3.0))
    expected = e / (1 + e)  # = 1 - 1/(1 + e) without the cancellation at large q
    torch.testing.assert_close(ratio, expected.expand(-1, 2), rtol=1e-12, atol=1e-30)
    assert ratio[0].min() > 0.99 and ratio[-1].max() < 1e-30


def test_scale_multiplies_per_species():
    cfg = config(3)
    scaled = build_model("Net_celu_HeInit_scale_decayGaussian", [8, 8], 3, cfg, seed=5)
    plain = build_model("Net_celu_HeInit_decayGaussian", [8, 8], 3, cfg, seed=5)
    q = qgrid()
    with torch.no_grad():
        torch.testing.assert_close(scaled(q), plain(q) * torch.tensor(cfg["PPmodel_scale"], dtype=torch.float64))
    assert [p.requires_grad for p in scaled.parameters()] == [True] * 6  # gate adds no parameters


def test_missing_gate_keys_are_named():
    message = "PPmodel Net_relu_xavier_decayGaussian needs PPmodel_gaussian_std in NN_config.par"
    with pytest.raises(ValueError, match=message):
        build_model("Net_relu_xavier_decayGaussian", [8], 2, {})
    with pytest.raises(ValueError, match="PPmodel_decay_rate"):
        build_model("Net_relu_xavier_decay", [8], 2, {"PPmodel_decay_center": 1.0})
    with pytest.raises(ValueError, match="PPmodel_scale"):
        build_model("Net_celu_HeInit_scale_decayGaussian", [8], 2, {"PPmodel_gaussian_std": 1.0})
    with pytest.raises(ValueError, match="one factor per species"):
        build_model("Net_celu_HeInit_scale_decayGaussian", [8], 3, config(2))


@pytest.mark.parametrize("name,label,std", [  # DeepPseudopot's initializers: every bias is torch's default
    ("Net_relu_xavier", "Xavier (normal)", (2 / 128) ** 0.5),
    ("Net_tanh_XavierInit_dropout", "Xavier (uniform)", (2 / 128) ** 0.5),
    ("Net_relu_HeInit", "He/Kaiming (uniform)", (2 / 64) ** 0.5),
    ("Net_celu_HeInit", "He/Kaiming (normal)", (2 / 64) ** 0.5),
    ("Net_celu_RandInit", "RandInit", (1 / 64) ** 0.5),
    ("Net_relu_uniform", "uniform", (1 / 64) ** 0.5),
    ("Net_relu", "torch default", (1 / 3 / 64) ** 0.5),
])
def test_init_strategies(name, label, std):
    model = build_model(name, [64, 64], 2, {}, seed=11)
    assert init_strategy_name(model) == label
    w = model.network.layers[1].weight
    assert w.shape == (64, 64)
    assert w.std().item() == pytest.approx(std, rel=0.2)
    other = {"Xavier": (2 / 128) ** 0.5, "He/Kaiming": (2 / 64) ** 0.5}
    assert all(abs(w.std().item() / s - 1) > 0.2 for lab, s in other.items() if not label.startswith(lab) and s != std)
    bias = model.network.layers[1].bias
    bound = 1 / 64 ** 0.5 if label != "uniform" else 3 ** 0.5 / 64 ** 0.5
    assert bias.abs().max() <= bound and bias.std().item() == pytest.approx(bound / 3 ** 0.5, rel=0.3)


def test_seeds_reproducible_and_global_rng_untouched():
    q = qgrid()
    state = torch.get_rng_state()
    a, b, c = (build_model("Net_celu_RandInit_decayGaussian", [8, 8], 2, config(2), seed=s) for s in (1, 1, 2))
    assert torch.equal(torch.get_rng_state(), state)
    with torch.no_grad():
        assert torch.equal(a(q), b(q))
        assert (a(q) - c(q)).abs().max() > 1e-3
        unseeded = [build_model("Net_celu_RandInit_decayGaussian", [8, 8], 2, config(2))(q) for _ in range(2)]
    assert not torch.equal(*unseeded)


def test_state_dict_keys():
    model = build_model("Net_relu_xavier_decayGaussian", [20, 20, 20], 3, config(3))
    keys = [f"neural_network.hidden_l.{i}.{p}" for i in range(4) for p in ("weight", "bias")]
    assert list(model.state_dict()) == keys
    bn = build_model("Net_relu_xavier_BN", [8, 8], 2, {})  # ungated: the network itself, one BatchNorm per Linear
    assert {k.rsplit(".", 1)[0] for k in bn.state_dict()} == {
        "hidden_l.0", "hidden_l.1", "hidden_l.2", "hidden_bn.0", "hidden_bn.1", "hidden_bn.2"}


@pytest.mark.parametrize("name", ["Net_celu_HeInit_decayGaussian", "Net_relu_xavier_BN_dropout_decayGaussian"])
def test_checkpoint_round_trip(name, tmp_path):
    model = build_model(name, [8, 8], 2, config(2), seed=1)
    model(qgrid())  # a training-mode pass moves the BatchNorm running statistics
    model.eval()
    torch.save(model.state_dict(), tmp_path / "init_PPmodel.pth")
    state = torch.load(tmp_path / "init_PPmodel.pth", weights_only=True)
    fresh = load_state_dict_compat(build_model(name, [8, 8], 2, config(2), seed=2), state).eval()
    q = qgrid()
    with torch.no_grad():
        assert torch.equal(fresh(q), model(q))
        legacy = {f"module.{k}": v.float() if v.is_floating_point() else v for k, v in state.items()}
        old = load_state_dict_compat(build_model(name, [8, 8], 2, config(2), seed=3), legacy).eval()
        assert all(p.dtype == torch.float64 for p in old.parameters())
        torch.testing.assert_close(old(q), model(q), rtol=1e-5, atol=1e-6)


def test_checkpoint_mismatch_names_key():
    state = build_model("Net_relu_xavier", [8, 8], 2, {}).state_dict()
    shapes = r"'hidden_l.1.weight' has shape \(8, 8\), the model expects \(16, 8\)"
    with pytest.raises(ValueError, match=shapes):
        load_state_dict_compat(build_model("Net_relu_xavier", [8, 16], 2, {}), state)
    with pytest.raises(ValueError, match="missing key 'hidden_l.3.weight'"):
        load_state_dict_compat(build_model("Net_relu_xavier", [8, 8, 8], 2, {}), state)
    with pytest.raises(ValueError, match="unexpected key 'module.hidden_l.3.weight'"):
        load_state_dict_compat(build_model("Net_relu_xavier", [8, 8], 2, {}),
                               {**state, "module.hidden_l.3.weight": torch.zeros(2, 2)})


def test_zero_function():
    model = build_model("ZeroFunction", [20, 20], 3, {})
    assert isinstance(model, ZeroFunction) and not list(model.parameters()) and not model.state_dict()
    v = model(qgrid())
    assert v.shape == (50, 3) and v.dtype == torch.float64 and not v.any()
    assert init_strategy_name(model).startswith("none")
    assert load_state_dict_compat(model, {}) is model


@pytest.mark.parametrize("name,suggestion", [
    ("Net_relu_xavier_decayGausian", "Net_relu_xavier_decayGaussian"),
    ("Net_rellu_HeInit", "Net_relu_HeInit"),
    ("Zerofunc", "ZeroFunction"),
    ("Net_relu_decayGaussian_xavier", "Net_relu_xavier_decayGaussian"),
])
def test_unknown_name_did_you_mean(name, suggestion):
    with pytest.raises(ValueError, match=f"Did you mean '{suggestion}'.*Net_<act>"):
        build_model(name, [8], 2, config(2))


def test_potential_net_direct():
    net = PotentialNet([4], 2, "tanh", "he_normal", gate="gaussian", gaussian_std=2.0)
    assert net(torch.zeros(5, dtype=torch.float64)).shape == (5, 2)
    with pytest.raises(ValueError, match="PPmodel_gaussian_std"):
        PotentialNet([4], 2, gate="gaussian")
