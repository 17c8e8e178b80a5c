"""SOC / NL radial integrals against adaptive quadrature of their definitions (1e-10 relative)."""

import numpy as np
import pytest
import torch
from scipy.integrate import quad
from scipy.special import spherical_jn

from sepm.terms.radial import gaussian_radial, scaled_i1, shifted_gaussian_radial_matrix, spherical_j1

K = [0.0, 1e-3, 0.04, 0.3, 1.0, 2.2, 3.7, 5.5]


def integrate(f, upper=np.inf):
    return quad(f, 0, upper, epsabs=0, epsrel=1e-13, limit=1000)[0]


@pytest.mark.parametrize("width", [0.7, 1.0])
def test_closed_form_gaussian_radial(width):
    k = torch.tensor(K, dtype=torch.float64)
    r = gaussian_radial(k[:, None], k[None, :], width).numpy()
    for i, a in enumerate(K):
        for j, b in enumerate(K):
            ref = integrate(lambda x: x * x * spherical_jn(1, a * x) * spherical_jn(1, b * x) * np.exp(-(x / width) ** 2))
            assert r[i, j] == pytest.approx(ref, rel=1e-10, abs=1e-300)


def test_shifted_gaussian_quadrature():
    k = torch.tensor(K, dtype=torch.float64)
    q = shifted_gaussian_radial_matrix(k).numpy()
    for i, a in enumerate(K):
        for j, b in enumerate(K):
            ref = integrate(lambda x: x * x * spherical_jn(1, a * x) * spherical_jn(1, b * x) * np.exp(-((x - 1.5) ** 2)), 14.0)
            if ref != 0.0:
                assert q[i, j] == pytest.approx(ref, rel=1e-10)


def test_shifted_gaussian_is_batched():
    k = torch.tensor([[0.5, 1.5, 3.0], [0.1, 2.0, 4.0]], dtype=torch.float64)
    batched = shifted_gaussian_radial_matrix(k)
    for b in range(2):
        assert torch.allclose(batched[b], shifted_gaussian_radial_matrix(k[b]), rtol=1e-12)


def test_bessel_series_branches_are_continuous():
    x = torch.tensor([0.0999999, 0.1, 0.1000001, 1e-8, 30.0], dtype=torch.float64)
    ref_j = spherical_jn(1, x.numpy())
    ref_i = np.exp(-x.numpy()) * np.array([(v * np.cosh(v) - np.sinh(v)) / v**2 if v > 1e-3 else v / 3 for v in x.numpy()])
    assert np.allclose(spherical_j1(x).numpy(), ref_j, rtol=1e-13)
    assert np.allclose(scaled_i1(x).numpy(), ref_i, rtol=1e-12)
    assert torch.isfinite(scaled_i1(torch.tensor([800.0], dtype=torch.float64))).all()  # never overflows
