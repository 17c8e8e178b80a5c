"""Fit targets read from the bundle (expMass_X.par, expGap_X.par): values checked independently, gradients
against finite differences, bad lines named, and the names reaching the cost header and fit_summary.json."""

import json

import numpy as np
import pytest
import torch

from small_bundles import small_gaas
from sepm.analysis.masses import BandSampler, finite_difference_masses
from sepm.bands import band_energies
from sepm.errors import InputError
from sepm.fitting.stage import FitSetup, run_fit
from sepm.fitting.targets import TARGETS
from sepm.io import read_bundle

GAMMA, CB, VB = np.zeros(3), 8, 7  # GaAs: 16 spin-doubled slots, the valence-band top in slot 7


def with_targets(tmp_path, config=None):
    folder = small_gaas(tmp_path, config={"trainable_params": ["a0", "a1", "a2", "a3"], **(config or {})})
    (folder / "expMass_0.par").write_text("# kpoint band direction mass_me weight\nG 8 100 0.067 1\n"
                                          "Gamma 9 [111] 0.067 0.5\n")
    (folder / "expGap_0.par").write_text("# kpoint_VB band_VB kpoint_CB band_CB gap_eV weight\n"
                                         "G 7 G 8 1.52 1\n0 7 G 8 2.5 0.5\n")
    return folder


def test_mass_and_gap_values_and_gradients(tmp_path):
    setup = FitSetup(with_targets(tmp_path))
    problem = setup.build_problem()
    masses, gaps = problem.terms["mass"], problem.terms["gap"]
    assert masses.active and gaps.active and problem.terms["defpot"].active is False
    t = problem.targets[0]
    with torch.no_grad():
        setup.refresh()
        inverse, _ = masses.curvatures(problem, 0, masses.systems[0][1])
        value = gaps.gaps(problem, 0, gaps.systems[0][1])
        # independently: sepm masses' finite differences (Richardson, step 0.01) and the bands at Γ and L
        sampler = BandSampler(t.ham, t.spec.nbands)
        for row, c in zip(masses.systems[0][1], inverse):
            fd = finite_difference_masses(sampler, GAMMA, row["u"], 0.01).richardson[row["band"]]
            assert 1 / float(c) == pytest.approx(fd, rel=1e-9)
        e = band_energies(t.ham, np.stack([GAMMA, t.spec.kpoints[0]]), t.spec.nbands).numpy()
        assert value.numpy() == pytest.approx([e[0, CB] - e[0, VB], e[0, CB] - e[1, VB]], rel=1e-12)
    assert 0.01 < 1 / float(inverse[0]) < 1.0 and float(value[0]) > 0  # an electron mass and a gap
    free = setup.coefficients.free
    for target in (masses, gaps):
        free.grad = None
        setup.refresh()
        term, rows = target.loss(problem)
        assert len(rows) == 2 and float(term.detach()) > 0
        term.backward()
        analytic, numeric, h = free.grad.clone(), [], 1e-5
        with torch.no_grad():
            for i in range(free.numel()):
                plus_minus = []
                for sign in (1, -1):
                    free[i] += sign * h
                    setup.refresh()
                    plus_minus.append(float(target.loss(problem)[0]))
                    free[i] -= sign * h
                numeric.append((plus_minus[0] - plus_minus[1]) / (2 * h))
        numeric = torch.tensor(numeric, dtype=torch.float64)
        assert float(numeric.abs().max()) > 1e-3
        assert torch.allclose(analytic, numeric, rtol=1e-4, atol=1e-6 * float(numeric.abs().max()))


@pytest.mark.parametrize("name, text, message", [
    ("expMass_0.par", "G 8 100 0.067\n",
     "expMass_0.par:1: expected 5 columns (kpoint band direction mass_me weight), found 4"),
    ("expMass_0.par", "G 8 100 0.067 1\nX 8 100 0.067 1\n", "expMass_0.par:2: column 1: 'X' is neither a k-point"),
    ("expMass_0.par", "G 8 1x0 0.067 1\n", "expMass_0.par:1: column 3: direction '1x0' is not three digits"),
    ("expMass_0.par", "G 16 100 0.067 1\n", "expMass_0.par:1: column 2: '16' is not a band index 0..15"),
    ("expMass_0.par", "G 8 100 0 1\n", "expMass_0.par:1: column 4: mass must not be 0"),
    ("expGap_0.par", "G 7 99 8 1.5 1\n",
     "expGap_0.par:1: column 3: k-point index 99 out of range (0..10, kpoints_0.par has 11 k-points)"),
    ("expGap_0.par", "G 7 G 8 1.5 -1\n", "expGap_0.par:1: column 6: weight must be >= 0, got -1"),
    ("expGap_0.par", "# nothing\n", "expGap_0.par: no rows (kpoint_VB band_VB kpoint_CB band_CB gap_eV weight)"),
])
def test_bad_target_lines_are_named(tmp_path, name, text, message):
    folder = small_gaas(tmp_path)
    (folder / name).write_text(text)
    with pytest.raises(InputError) as err:
        read_bundle(folder)
    assert len(err.value.defects) == 1 and message in str(err.value)


def test_targets_reach_the_cost_header_and_summary(tmp_path):
    folder = with_targets(tmp_path, {"max_num_epochs": 2, "optimizer": "adam", "optimizer_lr": 0.001})
    summary = run_fit(folder, tmp_path / "fit")
    header = (tmp_path / "fit" / "training_cost.dat").read_text().splitlines()[0]
    assert header == "# cost = weighted band loss (eV^2) + effective masses + gaps"
    saved = json.loads((tmp_path / "fit" / "fit_summary.json").read_text())
    terms = {t.name for t in TARGETS} - {"bands"}
    assert {f"final_{n}_cost" for n in terms} <= set(saved) and saved["final_mass_cost"] > 0
    assert saved["final_cost"] == pytest.approx(sum(saved["final_bands_cost"]) +
                                                sum(saved[f"final_{n}_cost"] for n in terms), rel=1e-12)
    rows = [(r["kpoint"], r["band"], r["direction"]) for r in saved["effective_masses"]]
    assert rows == [("Γ", 8, "[100]"), ("Γ", 9, "[111]")]
    assert [r["between"] for r in saved["gaps"]] == ["Γ-Γ", "k0-Γ"] and summary["gaps"][0]["gap"] > 0
