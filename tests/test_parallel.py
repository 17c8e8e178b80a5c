"""k-points in worker processes (num_cores > 1): same losses, gradients, bands and training as serial."""

import numpy as np
import pytest
import torch

from small_bundles import small_gaas
from sepm.fitting.parallel import kpoint_shares
from sepm.fitting.stage import FitSetup, run_fit

NETWORK = {"PPmodel": "Net_celu_HeInit_decayGaussian", "hiddenLayers": [6, 6], "PPmodel_gaussian_std": 2.0}


def gaas(tmp_path, soc: bool, **config):
    if soc:
        config = {"SObool": 1, "trainable_params": ["a0", "a3", "a4", "a5", "a6", "a7"], **config}
    folder = small_gaas(tmp_path, kstride=12, config={**NETWORK, "trainable_params": ["a4"], **config})
    if soc:
        for sym, a5 in (("Ga", 0.3), ("As", 0.2)):
            path = folder / f"init_{sym}Params.par"
            values = np.loadtxt(path)
            path.write_text("\n".join(map(str, [*values[:5], a5, 0.2, 0.1, 0])) + "\n")
    return folder


def loss_and_grads(setup, problem, separate):
    params = [p for m in (setup.model, setup.coefficients) for p in m.parameters()]
    for p in params:
        p.grad = None
    loss = problem.evaluate(backward=True, separate_kpoints=separate).total
    return loss, [p.grad.clone() for p in params]


def test_kpoint_shares_cover_every_kpoint_once():
    shares = kpoint_shares([7, 1, 6], 3)
    assert [s[0] for s in shares] == [(0, 3), (3, 5), (5, 7)]
    assert [s[1] for s in shares] == [(0, 1), (1, 1), (1, 1)]
    assert [s[2] for s in shares] == [(0, 2), (2, 4), (4, 6)]


@pytest.fixture(scope="module", params=[False, True], ids=["network-a4", "network-soc"])
def problems(request, tmp_path_factory):
    """(setup, serial problem, problem with 2 workers) sharing one model and coefficients."""
    setup = FitSetup(gaas(tmp_path_factory.mktemp("gaas"), request.param))
    serial = setup.build_problem(num_cores=0)
    with setup.build_problem(num_cores=2) as parallel:
        yield setup, serial, parallel
    assert parallel._pool is None  # closed by the context manager


def test_two_workers_match_serial_losses_gradients_and_bands(problems):
    setup, serial, parallel = problems
    results = [loss_and_grads(setup, problem, separate) for problem in (serial, parallel) for separate in (False, True)]
    assert parallel.workers() is not None and len(parallel.workers().shares) == 2
    (l0, g0), *others = results
    for loss, grads in others:
        assert loss == pytest.approx(l0, rel=1e-12)
        for a, b in zip(g0, grads):
            assert torch.allclose(a, b, rtol=1e-9, atol=1e-12 * float(a.abs().max()))
    assert any(float(g.abs().max()) > 0 for g in g0)
    assert parallel.evaluate().total == pytest.approx(l0, rel=1e-12)
    with torch.no_grad():
        setup.refresh()
        assert torch.allclose(parallel.bands(0), serial.bands(0), rtol=0, atol=1e-10)


def test_gradients_accumulate_like_backward(problems):
    setup, _, parallel = problems
    _, once = loss_and_grads(setup, parallel, False)
    parallel.evaluate(backward=True)  # adds to the existing .grad
    twice = [p.grad for m in (setup.model, setup.coefficients) for p in m.parameters()]
    for a, b in zip(once, twice):
        assert torch.allclose(2 * a, b, rtol=1e-12, atol=0)


def test_short_fit_matches_serial(tmp_path):
    folder = gaas(tmp_path, False, max_num_epochs=3, optimizer_lr=0.01)
    serial = run_fit(folder, tmp_path / "serial")
    parallel = run_fit(folder, tmp_path / "parallel", overrides=["num_cores=2"])
    assert parallel["epochs"] == 3
    assert parallel["final_cost"] == pytest.approx(serial["final_cost"], rel=1e-9)
    assert parallel["final_cost"] != pytest.approx(serial["start_cost"], rel=1e-6)  # it did train
