"""PPmodel_input: the q² network form is even in q, records itself in checkpoints and sidecars; the default
form still gives an original DeepPseudopot checkpoint's v(q)."""

from pathlib import Path

import pytest
import torch

from sepm.fitting.potential_files import load_potential, save_potential
from sepm.io.bundle import read_bundle
from sepm.models import build_model, load_state_dict_compat
from sepm.models.checkpoint import read_checkpoint

VANILLA = Path(__file__).parent / "data" / "deeppseudopot" / "test_memory_inputs_vanilla"
NAME = "Net_celu_HeInit_decayGaussian"


def config(form):
    return {"PPmodel_gaussian_std": 2.0, "PPmodel_input": form}


@pytest.mark.parametrize("name", [NAME, "Net_gelu_HeInit_decayGaussian"])
def test_q2_form_is_even_with_zero_slope_at_zero(name):
    q = torch.linspace(0.0, 6.0, 61, dtype=torch.float64)[:, None]
    even = build_model(name, [8, 8], 2, config("q2"), seed=1)
    with torch.no_grad():
        assert torch.equal(even(q), even(-q))
    zero = torch.zeros(1, 1, dtype=torch.float64, requires_grad=True)
    for form, check in (("q2", lambda s: s == 0.0), ("q", lambda s: abs(s) > 1e-3)):
        v = build_model(name, [8, 8], 2, config(form), seed=1)(zero)[0]
        slopes = [float(torch.autograd.grad(vi, zero, retain_graph=True)[0]) for vi in v]
        assert all(check(s) for s in slopes), (form, slopes)
    h = 1e-4  # a central difference agrees: the slope vanishes to round-off, the curvature does not
    with torch.no_grad():
        v = even(torch.tensor([[-h], [0.0], [h]], dtype=torch.float64))
    assert torch.all((v[2] - v[0]).abs() < 1e-12) and torch.all((v[2] - 2 * v[1] + v[0]).abs() > 1e-10)


def test_q2_checkpoint_round_trips_with_its_form(tmp_path):
    model = build_model(NAME, [8, 8], 2, config("q2"), seed=1).eval()
    save_potential(tmp_path, "final_", model, torch.zeros(2, 9, dtype=torch.float64), ["Ga", "As"],
                   {"PPmodel": NAME, "hiddenLayers": [8, 8], **config("q2")})
    _, loaded, cfg = load_potential(tmp_path)
    q = torch.linspace(0.0, 8.0, 33, dtype=torch.float64)[:, None]
    assert cfg["PPmodel_input"] == "q2" and loaded.input == "q2"
    with torch.no_grad():
        assert torch.equal(loaded(q), model(q))
    state = read_checkpoint(tmp_path / "final_PPmodel.pth")  # weights_only=True
    with pytest.raises(ValueError, match="holds a network of PPmodel_input = q2.*set PPmodel_input = q2"):
        load_state_dict_compat(build_model(NAME, [8, 8], 2, config("q")), state)
    with pytest.raises(ValueError, match="holds a network of PPmodel_input = q,"):
        load_state_dict_compat(model, build_model(NAME, [8, 8], 2, config("q")).state_dict())


def test_q2_form_refuses_gates_that_are_not_even():
    with pytest.raises(ValueError, match="decay gate is not even"):
        build_model("Net_celu_HeInit_decay", [4], 2, {"PPmodel_decay_rate": 1.5, "PPmodel_decay_center": 5.0,
                                                       "PPmodel_input": "q2"})


def test_original_checkpoint_keeps_its_v_of_q():
    """DeepPseudopot's Net_celu_HeInit_decayGaussian, evaluated by hand from the raw weights: input q."""
    bundle = read_bundle(VANILLA)
    cfg = bundle.config
    model = build_model(cfg["PPmodel"], cfg["hiddenLayers"], len(bundle.species), cfg)
    state = read_checkpoint(VANILLA / "init_PPmodel.pth")
    load_state_dict_compat(model, state).eval()
    q = torch.linspace(0.0, 10.0, 101, dtype=torch.float64)[:, None]
    x = q
    for i in range(4):
        x = x @ state[f"neural_network.hidden_l.{i}.weight"].double().T + state[f"neural_network.hidden_l.{i}.bias"]
        x = torch.celu(x) if i < 3 else x
    expected = x * torch.exp(-q ** 2 / (2 * cfg["PPmodel_gaussian_std"] ** 2))
    with torch.no_grad():
        torch.testing.assert_close(model(q), expected, rtol=1e-12, atol=1e-12)
