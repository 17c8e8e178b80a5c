"""The prior anchor (sepm.fitting.targets.prior_anchor): mask on the shells, value against a closed form, gradient
against finite differences, and its place in the fitting objective."""

import math

import numpy as np
import pytest
import torch

from small_bundles import small_gaas
from sepm.constants import HARTREE_EV
from sepm.crystal import Crystal
from sepm.fitting.targets.prior_anchor import ANCHOR_Q, anchor_mask, prior_anchor
from sepm.fitting.stage import FitSetup

ZUNGER = torch.tensor([[50.0, 2.3, 3.7, 0.6], [107.0, 1.7, 4.7, 0.6]], dtype=torch.float64)
ALPHA = torch.tensor([0.3, 0.5], dtype=torch.float64)


def gaussians(alpha):
    """v_s(q) = -40 exp(-q^2 / (4 alpha_s)): a stand-in network."""
    return lambda q: -40.0 * torch.exp(-q[:, None] ** 2 / (4 * alpha))


def test_the_mask_is_zero_on_the_shells_and_one_far_from_them():
    shells = torch.tensor([0.0, 1.0, 1.2, 3.0], dtype=torch.float64)
    q = torch.tensor([0.0, 0.5, 1.0, 1.2, 2.1, 3.0, 5.0], dtype=torch.float64)
    m = anchor_mask(q, shells, 0.05).numpy()
    assert m[[2, 3, 5]] == pytest.approx(0.0, abs=1e-15)  # on a shell
    assert m[[0, 1, 4, 6]] == pytest.approx(1.0, abs=1e-12)  # q = 0 is not a shell: the bands fix only a sum there
    assert anchor_mask(torch.tensor([1.05], dtype=torch.float64), shells, 0.05).item() == pytest.approx(
        (1 - math.exp(-0.5)) * (1 - math.exp(-4.5)), rel=1e-12)  # one width from 1.0, three from 1.2


def test_prior_anchor_is_the_masked_mean_square_of_the_potential_change():
    counts, volume = torch.tensor([1.0, 3.0]), 300.0
    q = torch.linspace(0.0, 4.0, 81, dtype=torch.float64)
    mask = anchor_mask(q, torch.tensor([1.0, 2.0]), 0.1)
    value = float(prior_anchor(gaussians(ALPHA), ZUNGER, [(counts, volume)], mask, q))
    qq, a = q.numpy()[:, None], ZUNGER.numpy()
    v = -40.0 * np.exp(-qq**2 / (4 * ALPHA.numpy()))
    vz = a[:, 0] * (qq**2 - a[:, 1]) / (a[:, 2] * np.exp(a[:, 3] * qq**2) - 1)
    dv = (v - vz) * counts.numpy() / volume * HARTREE_EV
    assert value == pytest.approx(float(np.mean(mask.numpy() * np.sum(dv**2, axis=1))), rel=1e-12)
    assert value > 1e-2  # the test sees a real difference


def test_prior_anchor_gradient_matches_finite_differences():
    alpha = ALPHA.clone().requires_grad_(True)
    systems = [(torch.tensor([1.0, 1.0]), 250.0), (torch.tensor([2.0, 1.0]), 400.0)]
    mask = anchor_mask(ANCHOR_Q, torch.tensor([1.0, 1.2, 1.7]), 0.05)
    prior_anchor(gaussians(alpha), ZUNGER, systems, mask).backward()
    h = 1e-6
    for i in range(2):
        step = torch.zeros(2, dtype=torch.float64)
        step[i] = h
        up = float(prior_anchor(gaussians(ALPHA + step), ZUNGER, systems, mask))
        down = float(prior_anchor(gaussians(ALPHA - step), ZUNGER, systems, mask))
        assert float(alpha.grad[i]) == pytest.approx((up - down) / (2 * h), rel=1e-6)
        assert abs(float(alpha.grad[i])) > 0.1


def test_fit_objective_adds_lambda_times_the_anchor_off_the_shells(tmp_path):
    folder = small_gaas(tmp_path, kstride=20, config={"penalize_prior_lambda": 5.0, "penalize_prior_width": 0.05})
    setup = FitSetup(folder)
    assert setup.build_problem().evaluate().prior == 0.0  # the analytic potential is its own prior
    setup.bundle.params["Ga"] = np.array(setup.bundle.params["Ga"]) * np.array([1.1] + [1] * 8)  # Ga prior: a0 x 1.1
    problem = setup.build_problem()
    parts = problem.evaluate()
    spec = setup.bundle.systems[0]
    shells = problem.targets[0].ham.basis.pair_q
    mask = anchor_mask(ANCHOR_Q, shells, 0.05)
    volume = Crystal.from_system(spec).volume
    v = setup.pp.local_form_factor(ANCHOR_Q).detach().numpy()
    dv_ga = (v[:, setup.pp.species.index("Ga")] * (1 - 1.1)) / volume * HARTREE_EV  # one Ga in the cell
    assert parts.prior == pytest.approx(5.0 * float(np.mean(mask.numpy() * dv_ga**2)), rel=1e-12)
    first = float(shells[shells > 0].min())
    assert float(mask[torch.argmin((ANCHOR_Q - first).abs())]) < 1e-2 and float(mask[0]) == 1.0  # a masked term
    assert parts.prior > 1e-3
    assert parts.total == pytest.approx(sum(parts.bands) + parts.prior, rel=1e-12)


def test_a_zero_notch_width_is_refused_naming_the_file_and_key(tmp_path):
    from sepm.errors import InputError

    folder = small_gaas(tmp_path, kstride=20, config={"penalize_prior_lambda": 1.0, "penalize_prior_width": 0.0})
    with pytest.raises(InputError, match=r"NN_config.par.*penalize_prior_width must be > 0"):
        FitSetup(folder)
