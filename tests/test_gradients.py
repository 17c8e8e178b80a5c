"""Band-energy gradients (autograd through the eigenvalues) against central finite differences."""

import pytest
import torch

from crystals import gaas_pseudopotential, hamiltonian, zincblende
from sepm.bands import band_energies
from sepm.potentials.zunger import zunger

K = [[0.13, 0.31, 0.07], [0.5, 0.5, 0.5], [0.0, 0.0, 0.0]]
WEIGHTS = torch.linspace(1.0, 2.0, 8, dtype=torch.float64).repeat_interleave(2)  # equal within pairs


def objective(pp, crystal):
    e = band_energies(hamiltonian(crystal, pp, 2.5), K, 16)
    return (WEIGHTS * e).sum() + (e[:, 9] - e[:, 6]).pow(2).sum()


def central_difference(f, x, index, h):
    with torch.no_grad():
        x[index] += h
        up = f().item()
        x[index] -= 2 * h
        down = f().item()
        x[index] += h
    return (up - down) / (2 * h)


@pytest.mark.parametrize("index,soc", [((1, 0), False), ((0, 3), False), ((0, 4), False),
                                       ((1, 5), True), ((0, 6), True), ((1, 7), True)],
                         ids=["a0_Ga", "a3_As", "a4_As", "a5_Ga", "a6_As", "a7_Ga"])
def test_coefficient_gradient(index, soc):
    crystal = zincblende()
    pp = gaas_pseudopotential(soc=soc, nonlocal_=soc, a5=(0.3, 0.2), a67=((0.4, -0.2), (0.3, 0.1)), requires_grad=True)
    loss = objective(pp, crystal)
    (grad,) = torch.autograd.grad(loss, pp.params)
    fd = central_difference(lambda: objective(pp, crystal), pp.params.data, index, 1e-5)
    assert grad[index].item() == pytest.approx(fd, rel=1e-6)
    assert abs(fd) > 1e-3


def test_network_weight_gradient():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(1, 6), torch.nn.Tanh(), torch.nn.Linear(6, 2)).double()
    base = gaas_pseudopotential()

    def local(q):
        return zunger(q, base.params) + 5.0 * net(q[:, None]) * torch.exp(-q[:, None] ** 2)

    pp = gaas_pseudopotential(local=local)
    crystal = zincblende()
    loss = objective(pp, crystal)
    weight = net[0].weight
    (grad,) = torch.autograd.grad(loss, weight)
    fd = central_difference(lambda: objective(pp, crystal), weight.data, (3, 0), 1e-5)
    assert grad[3, 0].item() == pytest.approx(fd, rel=1e-6)
    assert abs(fd) > 1e-4
