"""The real-space tail penalties (sepm.fitting.tail_penalty): values against closed forms, gradients against
finite differences, and their place in the fitting objective."""

import math

import numpy as np
import pytest
import torch

from small_bundles import small_gaas
from sepm.constants import HARTREE_EV
from sepm.crystal import Crystal
from sepm.fitting.stage import FitSetup
from scipy.special import erfc

from sepm.fitting.tail_penalty import tail_integral_penalty, tail_penalty, tail_radii

ALPHA = torch.tensor([0.02, 0.035], dtype=torch.float64)  # v_s(r) = exp(-alpha_s r^2): slow enough to be seen


def gaussians(alpha):
    """v_s(q) of v_s(r) = exp(-alpha_s r^2): (pi / alpha)^(3/2) exp(-q^2 / (4 alpha))."""
    return lambda q: (math.pi / alpha) ** 1.5 * torch.exp(-q[:, None] ** 2 / (4 * alpha))


def test_tail_penalty_is_the_mean_squared_level_shift_of_a_cut():
    counts, volume, radius, rmax = torch.tensor([1.0, 3.0]), 300.0, 10.0, 20.0
    value = float(tail_penalty(gaussians(ALPHA), [(counts, volume)], radius, rmax))
    r = np.linspace(radius, rmax, len(tail_radii(radius, rmax)))
    shift = (4 * np.pi / 3) * r[:, None] ** 3 * np.exp(-ALPHA.numpy() * r[:, None] ** 2) * counts.numpy() / volume
    assert value == pytest.approx(float(np.mean(np.sum((shift * HARTREE_EV) ** 2, axis=1))), rel=1e-6)
    assert value > 1e-3  # the test sees a real tail


@pytest.mark.parametrize("penalty, radius, rmax", [(tail_penalty, 9.0, 16.0), (tail_integral_penalty, 6.0, 14.0)])
def test_tail_penalty_gradients_match_finite_differences(penalty, radius, rmax):
    alpha = ALPHA.clone().requires_grad_(True)
    systems = [(torch.tensor([1.0, 1.0]), 250.0), (torch.tensor([2.0, 1.0]), 400.0)]
    penalty(gaussians(alpha), systems, radius, rmax).backward()
    h = 1e-6
    for i in range(2):
        step = torch.zeros(2, dtype=torch.float64)
        step[i] = h
        up = float(penalty(gaussians(ALPHA + step), systems, radius, rmax))
        down = float(penalty(gaussians(ALPHA - step), systems, radius, rmax))
        assert float(alpha.grad[i]) == pytest.approx((up - down) / (2 * h), rel=1e-6)
        assert abs(float(alpha.grad[i])) > 1.0


def test_tail_integral_is_the_bulk_potential_of_the_atoms_beyond_r():
    """exp(-alpha r^2): 4 pi int_R^inf r^2 v dr = 4 pi [R exp(-alpha R^2) / (2 alpha) + sqrt(pi) erfc(sqrt(alpha) R)
    / (4 alpha^1.5)], times N_s / Omega, in eV; squared, summed over species, averaged over the window."""
    counts, volume, radius, rmax = torch.tensor([1.0, 3.0]), 300.0, 6.0, 14.0
    value = float(tail_integral_penalty(gaussians(ALPHA), [(counts, volume)], radius, rmax))
    r = np.linspace(radius, rmax, len(tail_radii(radius, rmax)))[:, None]
    a = ALPHA.numpy()
    beyond = 4 * np.pi * (r * np.exp(-a * r**2) / (2 * a) + np.sqrt(np.pi) * erfc(np.sqrt(a) * r) / (4 * a**1.5))
    expected = np.mean(np.sum((beyond * counts.numpy() / volume * HARTREE_EV) ** 2, axis=1))
    assert value == pytest.approx(float(expected), rel=1e-8) and value > 1e-2


def test_fit_objective_adds_lambda_times_the_tail_penalties(tmp_path):
    folder = small_gaas(tmp_path, kstride=20, config={"penalize_tail_lambda": 50.0, "penalize_tail_radius": 8.0,
                                                      "penalize_tail_rmax": 14.0,
                                                      "penalize_tail_integral_lambda": 7.0})
    setup = FitSetup(folder)
    problem = setup.build_problem()
    parts = problem.evaluate()
    spec = setup.bundle.systems[0]
    counts = torch.tensor([1.0, 1.0])  # one As, one Ga
    with torch.no_grad():
        cells = [(counts, Crystal.from_system(spec).volume)]
        shift = tail_penalty(setup.pp.local_form_factor, cells, 8.0, 14.0)
        integral = tail_integral_penalty(setup.pp.local_form_factor, cells, 8.0, 14.0)
    assert parts.penalty == pytest.approx(50.0 * float(shift) + 7.0 * float(integral), rel=1e-12)
    assert float(shift) > 0 and float(integral) > 0
    assert parts.total == pytest.approx(sum(parts.bands) + parts.penalty, rel=1e-12)


def test_an_empty_tail_window_is_refused_naming_the_keys(tmp_path):
    from sepm.errors import InputError

    folder = small_gaas(tmp_path, kstride=20, config={"penalize_tail_lambda": 1.0, "penalize_tail_radius": 30.0,
                                                      "penalize_tail_rmax": 20.0})
    with pytest.raises(InputError, match="NN_config.par: penalize_tail_radius = 30 must be below penalize_tail_rmax"):
        FitSetup(folder).build_problem()
