"""Gradient fitting: recovery of a known potential, execution modes, resume, deformation potentials,
initialization strategies and optimizers."""

import json
import os

import numpy as np
import pytest
import torch
import yaml

from crystals import BUNDLES
from small_bundles import small_gaas
from sepm.fitting.coefficients import Coefficients, stoichiometry
from sepm.fitting.stage import FitSetup, run_fit
from sepm.io import read_bundle


def computed_bands(folder, overrides=()):
    setup = FitSetup(folder, overrides)
    problem = setup.build_problem()
    with torch.no_grad():
        setup.refresh()
        return problem.bands(0).numpy()


@pytest.fixture(scope="module")
def known(tmp_path_factory):
    """A GaAs bundle whose reference bands are those of its own Zunger potential, and that potential."""
    base = small_gaas(tmp_path_factory.mktemp("ref"))
    bundle = read_bundle(base)
    return computed_bands(base), {s: bundle.params[s].copy() for s in bundle.species}


def test_analytic_fit_recovers_known_potential(tmp_path, known):
    reference, params = known
    perturbed = {s: p * np.array([1.05, 0.95, 1.05, 0.95, 1, 1, 1, 1, 1]) for s, p in params.items()}
    folder = small_gaas(tmp_path, reference=reference, params=perturbed,
                        config={"max_num_epochs": 40, "optimizer": "lbfgs", "optimizer_lr": 1.0,
                                "trainable_params": ["a0", "a1", "a2", "a3"]})
    summary = run_fit(folder, tmp_path / "fit")
    assert summary["start_rmse_meV"][0] > 50
    assert summary["final_rmse_meV"][0] < 5
    assert (tmp_path / "fit" / "final_GaParams.par").is_file()


def test_per_k_and_full_batch_gradients_are_identical(tmp_path):
    folder = small_gaas(tmp_path, config={"SObool": 1, "trainable_params": ["a0", "a3", "a4", "a5", "a6", "a7"],
                                          "PPmodel": "Net_celu_HeInit_decayGaussian", "hiddenLayers": [6, 6],
                                          "PPmodel_gaussian_std": 2.0})
    for sym, a5 in (("Ga", 0.3), ("As", 0.2)):
        path = folder / f"init_{sym}Params.par"
        values = np.loadtxt(path)
        path.write_text("\n".join(map(str, [*values[:5], a5, 0.2, 0.1, 0])) + "\n")
    setup = FitSetup(folder)
    problem = setup.build_problem()
    params = [p for m in (setup.model, setup.coefficients) for p in m.parameters()]
    grads = []
    for separate in (False, True):
        for p in params:
            p.grad = None
        loss = problem.evaluate(backward=True, separate_kpoints=separate).total
        grads.append((loss, [p.grad.clone() for p in params]))
    (l0, g0), (l1, g1) = grads
    assert l1 == pytest.approx(l0, rel=1e-12)
    for a, b in zip(g0, g1):
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-12 * float(a.abs().max()))
    assert any(float(g.abs().max()) > 0 for g in g0)


@pytest.mark.parametrize("model", ["Net_relu_xavier_dropout_decayGaussian", "Net_relu_xavier_decayGaussian"],
                         ids=["dropout", "deterministic"])
def test_resume_reproduces_uninterrupted_run(tmp_path, model):
    """With dropout the cost after a step is a separate evaluation; without, it is the next step's gradient
    evaluation, which a resumed run recomputes."""
    config = {"PPmodel": model, "hiddenLayers": [5, 5], "PPmodel_gaussian_std": 2.0,
              "max_num_epochs": 6, "optimizer_lr": 0.01, "perturbEvery": 4, "scheduler_gamma": 0.8, "seed": 3}
    folder = small_gaas(tmp_path, kstride=15, config=config)
    whole = run_fit(folder, tmp_path / "whole")
    partial = run_fit(folder, tmp_path / "resumed", stop_after=3)
    assert partial["stopped"].startswith("stopped after epoch 3")
    resumed = run_fit(folder, tmp_path / "resumed")
    assert resumed["final_cost"] == pytest.approx(whole["final_cost"], rel=1e-10, abs=0)
    cost = np.loadtxt(tmp_path / "resumed" / "training_cost.dat")
    assert cost[:, 1:3] == pytest.approx(np.loadtxt(tmp_path / "whole" / "training_cost.dat")[:, 1:3], rel=1e-12)
    assert cost.shape[0] == 6 and list(cost[:, 0]) == [1, 2, 3, 4, 5, 6]


def test_deformation_potential_same_in_every_mode_and_moves_to_target(tmp_path):
    folder = small_gaas(tmp_path, kstride=10, config={"trainable_params": ["a8"], "max_num_epochs": 15,
                                                       "optimizer": "adam", "optimizer_lr": 0.05})
    (folder / "input_0.par").write_text("maxKE = 3\nnBands = 16\nfit_defPot = 1\n")
    # Gamma (k index 2 of the thinned path) valence top (band 7) to conduction (band 8), +1 % lattice constant
    (folder / "expDefPot_0.par").write_text("2 7 2 8 1.01 -12.0 1.0\n")
    setup = FitSetup(folder)
    problem = setup.build_problem()
    full = problem.evaluate(backward=True)
    per_k = problem.evaluate(backward=True, separate_kpoints=True)
    d0 = full.deformation_potentials[0][0]
    assert per_k.deformation_potentials[0][0] == pytest.approx(d0, rel=1e-12)
    assert -20 < d0 < 0  # GaAs gap deformation potential is negative (gap closes under expansion)
    summary = run_fit(folder, tmp_path / "fit")
    d1 = summary["deformation_potentials"][0][0]
    assert abs(d1 - (-12.0)) < abs(d0 - (-12.0)) - 0.5  # moved towards the target
    assert summary["final_params"]["Ga"][8] != 0.0


def test_long_range_moves_keep_neutrality(tmp_path):
    bundle = read_bundle(small_gaas(tmp_path))
    base = np.stack([bundle.params[s] for s in bundle.species])
    coeffs = Coefficients(base, ["a4"], stoichiometry(bundle))
    with torch.no_grad():
        coeffs.shift.fill_(0.37)
    a4 = coeffs()[:, 4]
    assert float(a4.sum()) == pytest.approx(base[:, 4].sum(), abs=1e-12)
    assert float((a4 - torch.as_tensor(base[:, 4])).abs().max()) > 0.2


@pytest.mark.parametrize("name", ["adam", "sgd", "lbfgs", "rmsprop", "adamw", "adagrad", "nadam", "radam"])
def test_optimizers_run(tmp_path, name):
    # plain SGD (and RAdam, SGD-like in its first steps) at 1e-3 sends the cost from 122 to 3e12: a divergence
    lr = 1e-6 if name in ("sgd", "radam") else 1e-3
    folder = small_gaas(tmp_path, kstride=20, config={"max_num_epochs": 2, "optimizer": name, "optimizer_lr": lr})
    summary = run_fit(folder, tmp_path / "fit")
    assert summary["epochs"] == 2 and np.isfinite(summary["final_cost"])


def test_patience_stops_early(tmp_path):
    folder = small_gaas(tmp_path, kstride=20, config={"max_num_epochs": 50, "optimizer": "sgd", "optimizer_lr": 0.0,
                                                      "patience": 3})
    summary = run_fit(folder, tmp_path / "fit")
    assert summary["epochs"] == 4 and summary["stopped"].startswith("patience")


@pytest.mark.parametrize("config,strategy", [
    ({"PPmodel": "ZeroFunction"}, "analytic only (ZeroFunction)"),
    ({"PPmodel": "Net_relu_xavier_decayGaussian", "hiddenLayers": [8], "PPmodel_gaussian_std": 2.0,
      "init_Zunger_num_epochs": 600, "init_Zunger_optimizer_lr": 0.05}, "fit to Zunger form"),
    ({"PPmodel": "Net_relu_HeInit_decayGaussian", "hiddenLayers": [8], "PPmodel_gaussian_std": 2.0},
     "He/Kaiming (uniform)"),
    ({"PPmodel": "Net_celu_RandInit_decayGaussian", "hiddenLayers": [8], "PPmodel_gaussian_std": 2.0}, "RandInit"),
])
def test_initialization_strategy_is_recorded(tmp_path, config, strategy):
    folder = small_gaas(tmp_path, kstride=20, config=config)
    summary = run_fit(folder, tmp_path / "fit")
    record = json.loads((tmp_path / "fit" / "init_record.json").read_text())
    assert record["strategy"] == strategy == summary["initialization"]["strategy"]
    if strategy == "fit to Zunger form":
        assert record["final_mse"] < 50.0


def test_checkpoint_reuse_chain(tmp_path):
    """A previous stage's final model and coefficients initialize the next stage exactly."""
    config = {"PPmodel": "Net_relu_xavier_decayGaussian", "hiddenLayers": [8], "PPmodel_gaussian_std": 2.0,
              "max_num_epochs": 3, "optimizer_lr": 0.01, "trainable_params": ["a4"]}
    folder = small_gaas(tmp_path, kstride=20, config=config)
    first = run_fit(folder, tmp_path / "first")
    second = run_fit(folder, tmp_path / "second", overrides=["max_num_epochs=0"],
                     init_model=tmp_path / "first" / "final_PPmodel.pth", init_params=(tmp_path / "first", "final_"))
    assert second["initialization"]["strategy"] == "checkpoint reuse"
    assert second["start_cost"] == pytest.approx(first["final_cost"], rel=1e-12)


def test_train_init_from_a_prior_reuses_its_network(tmp_path):
    """`sepm train --init-from PRIOR --init-prefix init_` (the pipeline's optimize step) starts from the prior's
    network file instead of fitting the Zunger form again (it used to refit: --init-from was resolved too late)."""
    from sepm.cli import main

    config = {"PPmodel": "Net_relu_xavier_decayGaussian", "hiddenLayers": [8], "PPmodel_gaussian_std": 2.0,
              "init_Zunger_num_epochs": 200, "init_Zunger_optimizer_lr": 0.05}
    folder = small_gaas(tmp_path, kstride=20, config=config)
    assert main(["prior", str(folder), str(tmp_path / "prior")]) == 0
    prior = torch.load(tmp_path / "prior" / "init_PPmodel.pth", weights_only=True)
    assert main(["train", str(folder), str(tmp_path / "fit"), "--init-from", str(tmp_path / "prior"),
                 "--init-prefix", "init_", "--set", "max_num_epochs=0"]) == 0
    record = json.loads((tmp_path / "fit" / "init_record.json").read_text())
    assert record["strategy"] == "checkpoint reuse"
    assert record["model_file"] == str(tmp_path / "prior" / "init_PPmodel.pth")
    final = torch.load(tmp_path / "fit" / "final_PPmodel.pth", weights_only=True)
    assert all(torch.equal(final[k], prior[k]) for k in prior)


def test_cache_so_gives_identical_loss_and_gradients(tmp_path):
    folder = small_gaas(tmp_path, kstride=10, config={"SObool": 1, "trainable_params": ["a5", "a6", "a7"]})
    for sym in ("Ga", "As"):
        path = folder / f"init_{sym}Params.par"
        values = np.loadtxt(path)
        path.write_text("\n".join(map(str, [*values[:5], 0.3, 0.2, 0.1, 0])) + "\n")
    results = []
    for cache in (0, 1):
        setup = FitSetup(folder, [f"cacheSO={cache}"])
        problem = setup.build_problem()
        for _ in range(2):  # the second evaluation reuses the cached geometry
            setup.coefficients.free.grad = None
            loss = problem.evaluate(backward=True).total
        results.append((loss, setup.coefficients.free.grad.clone()))
        cached = problem.targets[0].ham.basis.__dict__.get("projector_cache")
        assert (cached is not None) == bool(cache)
    assert results[1][0] == pytest.approx(results[0][0], rel=1e-13)
    assert torch.allclose(results[1][1], results[0][1], rtol=1e-12)
    assert len(cached.store) > 0


def test_relative_energy_mode_ignores_absolute_alignment(tmp_path, known):
    reference, _ = known
    losses = []
    for shift in (0.0, 1.3):
        folder = small_gaas(tmp_path / f"s{shift}", reference=reference + shift + np.linspace(0, 0.2, 16),
                            config={"trainable_params": ["a0", "a3"]})
        (folder / "input_0.par").write_text("maxKE = 3\nnBands = 16\nrelE_perK_bIdx = 7\n")
        setup = FitSetup(folder)
        losses.append(setup.build_problem().evaluate().total)
    assert losses[1] == pytest.approx(losses[0], rel=1e-12)
    assert losses[0] > 0.1  # the band-dependent part of the shift is still seen
    folder = small_gaas(tmp_path / "fit", reference=reference + 1.3,
                        config={"max_num_epochs": 60, "optimizer": "adam", "optimizer_lr": 0.05,
                                "trainable_params": ["a0"]},
                        params={"Ga": [50.77526879 * 1.03, 2.29527553, 3.72038796, 0.5916358, 0.79710125]})
    (folder / "input_0.par").write_text("maxKE = 3\nnBands = 16\nrelE_perK_bIdx = 7\n")
    summary = run_fit(folder, tmp_path / "out")
    assert summary["final_cost"] < 0.02 * summary["start_cost"]
    assert summary["final_params"]["Ga"][0] == pytest.approx(50.77526879, rel=2e-3)


@pytest.mark.skipif(not os.environ.get("SEPM_SLOW_TESTS"),
                    reason="the full GaAs fit, 1000 prior + 250 training epochs like the pipeline's prior and optimize "
                    "stages (about 3 min on 2 shared cores); set SEPM_SLOW_TESTS=1 (CI does)")
def test_default_gaas_fit_keeps_its_prior_and_beats_the_zunger_start(tmp_path):
    """The README's first command's fit: config/config.yaml's GaAs settings (network prior fitted to the bundle's
    Zunger form, then L-BFGS with a strong-Wolfe line search and a 10-epoch warm-up, 250 epochs, the prior anchor at
    lambda 1000). The first step does not raise the cost above the prior's; the fit ends with the weight-20 bands within
    25 meV (measured 18.5-18.7) and every band group closer than the bundle's Zunger potential (all 151 -> 38-39 meV,
    weight-1 162 -> 43-44 meV; README, Prior anchor). L-BFGS's end point moves with the last bits of the arithmetic, so
    the bounds are the goals, not the measured values."""
    config = yaml.safe_load((BUNDLES.parents[1] / "config" / "config.yaml").read_text())["materials"]["GaAs"]
    values = {**config["set"], **config["optimize"][0]["set"], "plotEvery": 0}
    summary = run_fit(BUNDLES / "GaAs", tmp_path, overrides=[f"{k}={v}" for k, v in values.items()])
    assert summary["initialization"]["strategy"] == "fit to Zunger form"
    cost = np.loadtxt(tmp_path / "training_cost.dat")
    assert len(cost) == 250 and cost[0, 2] <= summary["start_cost"]
    spec = read_bundle(BUNDLES / "GaAs").systems[0]

    def rmse(stem, weight=None):
        error = np.loadtxt(tmp_path / f"{stem}_bands_0.dat")[:, 2:] - spec.ref_bands
        columns = spec.band_weights != 0 if weight is None else spec.band_weights == weight
        return float(np.sqrt(np.mean(error[:, columns] ** 2)))

    assert rmse("final", 20) <= 0.025
    for weight in (None, 1, 20):
        assert rmse("final", weight) < rmse("oldFunc", weight)
    assert 1e-3 * summary["final_rmse_meV"][0] == pytest.approx(rmse("final"), rel=1e-6)


def test_reciprocal_space_penalties(tmp_path):
    config = {"penalize_starting": 2.0, "penalize_lambda": 0.5, "penalize_mag_threshold": 60.0,
              "penalize_mag_lambda": 0.25}
    folder = small_gaas(tmp_path, kstride=20, config=config)
    setup = FitSetup(folder)
    parts = setup.build_problem().evaluate()
    q = torch.linspace(0.0, 12.0, 241, dtype=torch.float64)
    with torch.no_grad():
        v = setup.pp.local_form_factor(q).abs()
    switch = 1 / (1 + torch.exp(-(q - 2.5) / 0.1))
    expected = 0.05 * (0.5 * float((switch[:, None] * v).sum()) + 0.25 * float(torch.relu(v - 60.0).sum()))
    assert parts.penalty == pytest.approx(expected, rel=1e-12)
    assert parts.penalty > 0 and parts.total == pytest.approx(sum(parts.bands) + parts.penalty, rel=1e-12)


def test_notices_describe_the_effective_config(caplog):
    """--set keys are not reported as defaults taken, and a PPmodel given by --set is not reported missing."""
    assert any("no PPmodel given" in n for n in read_bundle(BUNDLES / "GaAs").config_notices())
    with caplog.at_level("INFO", logger="sepm"):
        FitSetup(BUNDLES / "GaAs", ["PPmodel=Net_celu_HeInit_decayGaussian", "PPmodel_gaussian_std=2", "mc_bool=0",
                                    "seed=3"])
    notices = [r.getMessage() for r in caplog.records if r.getMessage().startswith("notice:")]
    defaults = next(n for n in notices if "defaults taken" in n)
    assert "SObool = 0" in defaults and "mc_bool" not in defaults and "seed" not in defaults
    assert not any("PPmodel" in n for n in notices)


def test_cost_after_step_is_the_next_epochs_training_cost(tmp_path):
    """training_cost.dat names its third column for what it is (no held-out data in a bundle)."""
    folder = small_gaas(tmp_path, kstride=15, config={"max_num_epochs": 4, "optimizer": "adam", "optimizer_lr": 0.05,
                                                       "trainable_params": ["a0", "a1"]})
    run_fit(folder, tmp_path / "fit")
    lines = (tmp_path / "fit" / "training_cost.dat").read_text().splitlines()
    assert [line for line in lines if line.startswith("#")][-1] == "# epoch training_cost cost_after_step lr seconds"
    cost = np.loadtxt(lines)
    assert cost[:-1, 2] == pytest.approx(cost[1:, 1], rel=1e-12)
    assert len(set(cost[:, 1])) == 4  # the parameters moved every epoch
