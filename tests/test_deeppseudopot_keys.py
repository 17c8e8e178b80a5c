"""Every NN_config.par key DeepPseudopot reads is accepted and acts as it does there (or says why not)."""

import logging

import numpy as np
import pytest
import torch

from small_bundles import small_gaas
from sepm.errors import InputError
from sepm.fitting.stage import FitSetup, run_fit
from sepm.fitting.train import scheduler_steps_after
from sepm.io.nnconfig import read_nn_config
from sepm.terms import LongRange

NET = {"PPmodel": "Net_relu_xavier_decayGaussian", "hiddenLayers": [6], "PPmodel_gaussian_std": 2.0}
# every key of DeepPseudopot's read_NNConfigFile, with a value of its type
ORIGINAL_KEYS = """SHOWPLOTS = 0
separateKptGrad = 1
checkpoint = 0
SObool = 1
cacheSO = 1
memory_flag = 1
runtime_flag = 1
init_Zunger_printGrad = 0
printGrad = 1
mc_bool = 0
smooth_reorder = 0
eigvec_reorder = 0
nSystem = 1
num_cores = 0
init_Zunger_num_epochs = 10
init_Zunger_plotEvery = 5
max_num_epochs = 3
plotEvery = 1
schedulerStep = 80
patience = 500
perturbEvery = -1
mc_iter = 10
pre_adjust_moves = 2
relE_bIdx = 3
mc_perturb_mode = 2
PPmodel = Net_relu_xavier_decay2   # a comment
PPmodel_decay_rate = 1.5
PPmodel_decay_center = 5.0
PPmodel_gaussian_std = 3.0
PPmodel_scale = 1.0 2.0
init_Zunger_optimizer_lr = 0.1
optimizer_lr = 0.005
init_Zunger_scheduler_gamma = 0.9
scheduler_gamma = 0.9
sgd_momentum = 0.5
adam_beta1 = 0.8
adam_beta2 = 0.99
mc_percentage = 0.1
mc_beta = 100
pre_adjust_stepSize = 0.01
hiddenLayers = 20 20 20
"""


def test_every_original_key_is_accepted(tmp_path):
    path = tmp_path / "NN_config.par"
    path.write_text(ORIGINAL_KEYS)
    config, where = read_nn_config(path)
    assert len(where) == ORIGINAL_KEYS.count("\n")
    assert config["memory_flag"] is True and config["printGrad"] is True and config["relE_bIdx"] == 3
    assert config["mc_perturb_mode"] == 2 and config["pre_adjust_stepSize"] == 0.01
    assert config["hiddenLayers"] == [20, 20, 20] and config["PPmodel"] == "Net_relu_xavier_decay2"


@pytest.mark.parametrize("text,message", [
    ("checkpoint = 1\nseparateKptGrad = 1\n", "NN_config.par:2: checkpoint = 1 .* separateKptGrad = 1 \\(line 3\\)"),
    ("mc_perturb_mode = 5\n", "NN_config.par:2: mc_perturb_mode must be one of \\(1, 2, 3, 4\\)"),
    ("memory_flags = 1\n", "NN_config.par:2: unknown key 'memory_flags' \\(did you mean 'memory_flag'\\?\\)"),
    ("relE_bIdx = -1\n", "NN_config.par:2: relE_bIdx must be >= 0"),
])
def test_bad_values_are_refused(tmp_path, text, message):
    path = tmp_path / "NN_config.par"
    path.write_text("nSystem = 1\n" + text)
    with pytest.raises(InputError, match=message):
        read_nn_config(path)


def test_overrides_get_the_same_range_checks_naming_the_override(tmp_path):
    from sepm.io.nnconfig import apply_overrides

    path = tmp_path / "NN_config.par"
    path.write_text("nSystem = 1\nmemory_limit_GB = 0\noptimizer_lr = -1\n")
    with pytest.raises(InputError) as info:
        read_nn_config(path)
    assert set(str(info.value).splitlines()) == {f"{path}:2: memory_limit_GB must be > 0, got 0.0",
                                                 f"{path}:3: optimizer_lr must be >= 0, got -1.0"}
    with pytest.raises(InputError) as info:
        apply_overrides({"nSystem": 1}, ["optimizer_lr=0.01", "hiddenLayers=8 0", "max_num_epochs=-5",
                                         "optimizer_lr=-1", "memory_limit_GB=0"])
    assert set(str(info.value).splitlines()) == {"--set:2: hiddenLayers must be layer sizes >= 1, got 8 0",
                                                 "--set:3: max_num_epochs must be >= 0, got -5",
                                                 "--set:4: optimizer_lr must be >= 0, got -1.0",
                                                 "--set:5: memory_limit_GB must be > 0, got 0.0"}
    assert apply_overrides({}, ["optimizer_lr=0", "max_num_epochs=0"])["optimizer_lr"] == 0.0  # lr 0: frozen


def test_relE_bIdx_is_relative_to_the_first_kpoint(tmp_path):
    folder = small_gaas(tmp_path, kstride=20, config={"relE_bIdx": 7})
    setup = FitSetup(folder)
    problem = setup.build_problem()
    with torch.no_grad():
        bands = problem.bands(0).numpy()
    t = problem.targets[0]
    ref, kw, bw = t.reference.numpy(), t.kweights.numpy(), t.band_weights.numpy()
    expected = np.sum(kw[:, None] * bw[None, :] * ((bands - bands[0, 7]) - (ref - ref[0, 7])) ** 2)
    per_k = np.sum(kw[:, None] * bw[None, :] * ((bands - bands[:, 7:8]) - (ref - ref[:, 7:8])) ** 2)
    assert problem.evaluate().total == pytest.approx(expected, rel=1e-12)
    assert abs(expected - per_k) > 1e-3 * expected  # the two meanings differ on this bundle
    (folder / "input_0.par").write_text("maxKE = 3\nnBands = 16\nrelE_bIdx = 7\n")
    with pytest.raises(InputError, match="input_0.par:3: relE_bIdx belongs in NN_config.par .* relE_perK_bIdx"):
        FitSetup(folder)


def test_relE_bIdx_gradients_agree_in_full_and_per_kpoint_modes(tmp_path):
    folder = small_gaas(tmp_path, kstride=20, config={**NET, "relE_bIdx": 5, "SObool": 0})
    setup = FitSetup(folder)
    problem = setup.build_problem()
    grads = []
    for separate in (False, True):
        setup.model.zero_grad()
        loss = problem.evaluate(backward=True, separate_kpoints=separate).total
        grads.append((loss, [p.grad.clone() for p in setup.model.parameters()]))
    (l0, g0), (l1, g1) = grads
    assert l1 == pytest.approx(l0, rel=1e-12)
    for a, b in zip(g0, g1):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12 * float(a.abs().max()))


def test_no_long_range_tail_on_a_network_unless_asked(tmp_path, caplog):
    folder = small_gaas(tmp_path, kstride=20, config=NET)
    with caplog.at_level(logging.INFO, logger="sepm"):
        plain = FitSetup(folder)
    assert not plain.pp.long_range and not any(isinstance(t, LongRange) for t in plain.build_problem().targets[0].ham.terms)
    assert "system 0 is not charge-neutral in a4: 1 x a4(As) + 1 x a4(Ga) = 0.762088 (not used here)" in caplog.text
    tail = FitSetup(folder, ["network_long_range=1"])
    assert tail.pp.long_range and any(isinstance(t, LongRange) for t in tail.build_problem().targets[0].ham.terms)
    analytic = FitSetup(folder, ["PPmodel=ZeroFunction"])
    assert analytic.pp.long_range
    q = torch.linspace(0.1, 3.0, 30, dtype=torch.float64)
    with torch.no_grad():
        diff = tail.pp.total_local_form_factor(q) - plain.pp.total_local_form_factor(q)
    a4 = torch.as_tensor(plain.initial_params[:, 4])
    expected = -4 * torch.pi / q[:, None] ** 2 * torch.exp(-q[:, None] ** 2 / (4 * 0.2**2)) * a4[None, :]
    torch.testing.assert_close(diff, expected, rtol=1e-12, atol=1e-14)
    assert float(diff.abs().max()) > 1e-3


def test_learning_rate_decays_one_epoch_after_schedulerStep(tmp_path):
    # DeepPseudopot: 0-based epoch e steps when e > 0 and e % schedulerStep == 0 -> after 1-based 3, 5, ...
    assert [e for e in range(1, 9) if scheduler_steps_after(e, 2)] == [3, 5, 7]
    config = {**NET, "SObool": 0, "max_num_epochs": 6, "schedulerStep": 2, "scheduler_gamma": 0.5,
              "optimizer_lr": 1e-3}
    run_fit(small_gaas(tmp_path, kstride=30, config=config), tmp_path / "fit")
    lr = np.loadtxt(tmp_path / "fit" / "training_cost.dat")[:, 3]
    np.testing.assert_allclose(lr, 1e-3 * np.array([1, 1, 0.5, 0.5, 0.25, 0.25]), rtol=1e-12)


def test_flags_print_gradients_profile_and_pre_adjust(tmp_path, caplog):
    config = {**NET, "SObool": 0, "max_num_epochs": 1, "printGrad": 1, "runtime_flag": 1, "memory_flag": 1,
              "pre_adjust_moves": 3, "pre_adjust_stepSize": 0.02}
    folder = small_gaas(tmp_path, kstride=30, config=config)
    with caplog.at_level(logging.INFO, logger="sepm"):
        run_fit(folder, tmp_path / "fit")
    assert "printGrad (training): model.neural_network.hidden_l.0.weight (6, 1): |g| = " in caplog.text
    rows = {line.split()[0]: line.split()[1:] for line in (tmp_path / "fit" / "profile.dat").read_text().splitlines()
            if not line.startswith("#")}
    assert {"initialization", "hamiltonian_build", "eigensolver", "epoch", "objective_and_gradient",
            "optimizer_step", "final_evaluation"} <= set(rows)
    assert all(float(r[1]) >= 0 and float(r[3]) > 10 for r in rows.values())  # seconds, peak RSS in MB
    moves = np.loadtxt(tmp_path / "fit" / "pre_adjust.dat")
    assert moves.shape == (3, 5) and (moves[:, 4] <= 0.02).all() and (moves[:, 4] > 0).all()
    best = int(moves[np.argmin(moves[:, 3]), 0])
    assert f"restored the state after move {best}" in caplog.text
    assert sorted(p.name for p in (tmp_path / "fit").glob("preEpoch_*_PPmodel.pth")) == [
        "preEpoch_1_PPmodel.pth", "preEpoch_2_PPmodel.pth", "preEpoch_3_PPmodel.pth"]
    # one entry moved per pre-adjustment
    a = torch.load(tmp_path / "fit" / "preEpoch_1_PPmodel.pth", weights_only=True)
    b = torch.load(tmp_path / "fit" / "preEpoch_2_PPmodel.pth", weights_only=True)
    assert sum(int((a[k] != b[k]).sum()) for k in a) == 1


def test_checkpoint_recomputes_with_the_same_gradient(tmp_path):
    folder = small_gaas(tmp_path, kstride=30, config={**NET, "SObool": 0, "separateKptGrad": 0})
    grads = []
    for value in (0, 1):
        setup = FitSetup(folder, [f"checkpoint={value}"])
        assert setup.pp.recompute == bool(value)
        problem = setup.build_problem()
        loss = problem.evaluate(backward=True).total
        grads.append((loss, [p.grad.clone() for p in setup.model.parameters()]))
    assert grads[1][0] == pytest.approx(grads[0][0], rel=1e-13)
    for a, b in zip(grads[0][1], grads[1][1]):
        torch.testing.assert_close(a, b, rtol=1e-11, atol=0)
    with pytest.raises(InputError, match="checkpoint = 1 .* separateKptGrad"):
        FitSetup(folder, ["checkpoint=1", "separateKptGrad=1"])


def test_optimizer_keys_reach_torch(tmp_path):
    from sepm.fitting.train import make_optimizer

    p = [torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))]
    assert make_optimizer("adam", p, 0.1, {"adam_beta1": 0.8, "adam_beta2": 0.95}).param_groups[0]["betas"] == (0.8, 0.95)
    assert make_optimizer("sgd", p, 0.1, {"sgd_momentum": 0.7}).param_groups[0]["momentum"] == 0.7
    assert make_optimizer("adam", p, 0.1, {}).param_groups[0]["betas"] == (0.9, 0.999)


def test_smooth_reorder_follows_bands_through_a_crossing():
    from sepm.fitting.reorder import smooth_order

    k = np.linspace(0.0, 1.0, 21)
    rising, falling = -1.0 + 2.0 * k, 1.0 - 2.0 * k + 0.3 * k**2  # two Kramers pairs crossing near k = 0.5
    smooth = np.stack([rising, rising, falling, falling], axis=1)
    sorted_levels = torch.as_tensor(np.sort(smooth, axis=1))
    perm = smooth_order(sorted_levels)
    reordered = torch.gather(sorted_levels, 1, perm).numpy()
    np.testing.assert_allclose(reordered, smooth, atol=1e-12)
    assert not np.allclose(sorted_levels.numpy(), smooth)  # sorting alone swaps them
    # per k-point: predicted from a previous iteration's bands; the first four k-points keep their order
    rows = [2, 12, 13]
    perm_k = smooth_order(sorted_levels[rows], previous=torch.as_tensor(smooth), rows=rows)
    np.testing.assert_allclose(torch.gather(sorted_levels[rows], 1, perm_k).numpy(), smooth[rows], atol=1e-12)


@pytest.mark.parametrize("separate", [0, 1])
def test_smooth_reorder_reorders_training_losses_only(tmp_path, separate):
    folder = small_gaas(tmp_path, kstride=6, config={**NET, "SObool": 0, "smooth_reorder": 1,
                                                     "separateKptGrad": separate})
    setup = FitSetup(folder)
    problem = setup.build_problem()
    validation = problem.evaluate().total
    first = problem.evaluate(backward=True, separate_kpoints=bool(separate)).total
    second = problem.evaluate(backward=True, separate_kpoints=bool(separate)).total
    t = problem.targets[0]
    assert t.reordered is not None and t.reordering is None
    with torch.no_grad():
        from sepm.losses import band_loss

        again = float(band_loss(t.reordered, t.reference, t.kweights, t.band_weights))
    assert second == pytest.approx(again, rel=1e-12)
    with torch.no_grad():
        setup.refresh()
        plain = problem.bands(0)
    torch.testing.assert_close(t.reordered.sort(1).values, plain.sort(1).values, rtol=0, atol=1e-12)  # a permutation
    assert problem.evaluate().total == pytest.approx(validation, rel=1e-12) and np.isfinite(first)


@pytest.mark.parametrize("mode", [1, 2, 3, 4])
def test_mc_perturb_modes(mode):
    from sepm.fitting.perturb_modes import perturb

    gen = torch.Generator().manual_seed(mode)
    x = torch.cat([torch.tensor([50.0, -40.0, 0.001, -0.005, 1.0, -2.0, 3.0, 0.5], dtype=torch.float64),
                   torch.tensor([0.2, 0.3, 7.0], dtype=torch.float64)])  # 8 weights, then a5, a6 and a "a0"
    network, coupling, p = [slice(0, 8)], torch.tensor([8, 9]), 0.1
    moved = [perturb(x, mode, p, network, coupling, gen) for _ in range(200)]
    for new in moved:
        assert new[10] == x[10]  # neither a weight nor a5..a7: untouched here
        ratio = new[:8] / x[:8]
        if mode == 1:
            assert ((ratio - 1).abs() <= p).all() and ((new[8:10] / x[8:10] - 1).abs() <= p / 100).all()
        elif mode == 2:
            assert 1 - p <= ratio[0] <= 1 and 1 <= ratio[1] <= 1 + p  # pulled back from |w| > 30
            assert ((ratio[2:4] - 1).abs() <= 10 * p).all() and ((ratio[4:] - 1).abs() <= p).all()
        elif mode == 3:
            assert torch.equal(new[8:10], x[8:10])
            assert int(((new[:8] - x[:8]).abs() > 1e-6).sum()) <= 4  # half get the kick (the rest: std/(std + 1e-8) as there)
        else:
            step = new[:8] - x[:8]
            assert torch.allclose(step.abs(), torch.full((8,), p, dtype=torch.float64)) or torch.equal(step, torch.zeros(8, dtype=torch.float64))
            dc = (new[8:10] - x[8:10]).abs()
            assert all(float(d) == pytest.approx(0.0, abs=1e-15) or float(d) == pytest.approx(p / 100) for d in dc)
    spread = torch.stack(moved)[:, 4].std()
    assert spread > 0.01  # the weights do move


def test_mc_with_perturb_mode_moves_the_network(tmp_path):
    from sepm.fitting.montecarlo import run_mc

    folder = small_gaas(tmp_path, kstride=30, config={**NET, "SObool": 0, "mc_bool": 1, "trainable_params": ["a0"],
                                                      "mc_percentage": 0.05, "mc_beta": 5.0, "mc_iter": 2,
                                                      "mc_perturb_mode": 1})
    summary = run_mc(folder, tmp_path / "mc")
    assert np.isfinite(summary["best_cost"]) and summary["best_cost"] <= summary["start_cost"]


def test_perturb_every_kicks_as_the_original(tmp_path, caplog):
    from sepm.fitting.train import _perturb

    # timing: 0-based epoch e > 0 with e % perturbEvery == 0 -> after 1-based epochs 3, 5 for perturbEvery = 2
    config = {**NET, "SObool": 1, "max_num_epochs": 5, "perturbEvery": 2, "optimizer_lr": 1e-4}
    with caplog.at_level(logging.INFO, logger="sepm"):
        run_fit(small_gaas(tmp_path, kstride=30, config=config), tmp_path / "fit")
    kicked = [e for e in range(1, 6) if f"epoch {e}: perturbed the network" in caplog.text]
    assert kicked == [3, 5]
    # size: network weights within 10 %, a5..a7 (here fixed) within 0.1 %, both actually moved
    setup = FitSetup(small_gaas(tmp_path / "k", kstride=30, config={**NET, "SObool": 1}))
    before_w = [p.detach().clone() for p in setup.model.parameters()]
    before_c = setup.coefficients().detach().clone()
    _perturb({"coefficients": setup.coefficients, "model": setup.model}, 0, 3)
    ratio_w = torch.cat([(p.detach() / b).reshape(-1) for p, b in zip(setup.model.parameters(), before_w)])
    after_c = setup.coefficients().detach()
    ratio_c = after_c[:, 5:8][before_c[:, 5:8] != 0] / before_c[:, 5:8][before_c[:, 5:8] != 0]
    assert ((ratio_w - 1).abs() <= 0.1).all() and (ratio_w - 1).abs().max() > 0.05
    assert ((ratio_c - 1).abs() <= 1e-3).all() and (ratio_c != 1).all()
    torch.testing.assert_close(after_c[:, :5], before_c[:, :5], rtol=0, atol=0)
