"""`sepm bands` on the shipped bundles, the order matrix, and the tabulated form-factor model."""

import numpy as np
import pytest
import torch

from crystals import BUNDLES, gaas_pseudopotential, hamiltonian, zincblende
from sepm.bands import band_energies
from sepm.cli import main
from sepm.potentials import TabulatedFormFactor
from sepm.potentials.zunger import zunger


def test_bands_cli_on_gaas_matches_published_starting_error(tmp_path):
    assert main(["bands", str(BUNDLES / "GaAs"), str(tmp_path)]) == 0
    table = np.loadtxt(tmp_path / "bands_0.dat")
    assert table.shape == (61, 18)
    reference = np.loadtxt(BUNDLES / "GaAs" / "expBandStruct_0.par")
    assert np.allclose(table[:, 1], reference[:, 0], atol=1e-4)  # same path distance as the bundle
    rmse = np.sqrt(np.mean((table[:, 2:] - reference[:, 1:]) ** 2))
    assert 0.13 < rmse < 0.17  # SPEC: the bundle's Zunger potential starts ~0.15 eV RMS from the reference
    header = (tmp_path / "bands_0.dat").read_text().splitlines()[:5]
    assert any("RMSE" in line for line in header)
    assert header[1] == "# potential: bundle's analytic potential"
    for ext in ("png", "pdf"):
        assert (tmp_path / f"bands_0.{ext}").stat().st_size > 1000


def test_bands_cli_reports_bad_input(tmp_path, capsys):
    bundle = tmp_path / "b"
    bundle.mkdir()
    for f in (BUNDLES / "GaAs").iterdir():
        (bundle / f.name).write_text(f.read_text())
    (bundle / "kpoints_0.par").write_text((bundle / "kpoints_0.par").read_text().replace("0.450000000000 0.450000000000", "0.45 x", 1))
    assert main(["bands", str(bundle), str(tmp_path / "out")]) == 2
    assert f"{bundle / 'kpoints_0.par'}:3:" in capsys.readouterr().err
    assert not (tmp_path / "out" / "bands_0.dat").exists()


def test_order_matrix_permutes_levels_before_spin_doubling():
    ham = hamiltonian(zincblende(), gaas_pseudopotential(), 3.0)
    k = [[0.1, 0.2, 0.3], [0.5, 0.5, 0.5]]
    plain = band_energies(ham, k, 8)
    order = torch.tensor([[1, 0, 2, 3, 4, 5, 6, 7], [3, 2, 1, 0, 4, 5, 6, 7]])
    permuted = band_energies(ham, k, 8, order_matrix=order)
    levels = plain[:, ::2]
    assert torch.equal(permuted[0, ::2], levels[0, [1, 0, 2, 3]])
    assert torch.equal(permuted[1, ::2], levels[1, [3, 2, 1, 0]])
    assert torch.equal(permuted[:, ::2], permuted[:, 1::2])


def test_tabulated_form_factor_reproduces_analytic_bands():
    pp = gaas_pseudopotential()
    q = np.linspace(0.0, 8.0, 801)
    table = TabulatedFormFactor(q, zunger(torch.as_tensor(q), pp.params).numpy())
    ham_table = hamiltonian(zincblende(), gaas_pseudopotential(local=table), 3.0)
    ham_exact = hamiltonian(zincblende(), pp, 3.0)
    k = [[0.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, 0.0, 0.5]]
    assert torch.allclose(band_energies(ham_table, k, 16), band_energies(ham_exact, k, 16), atol=1e-4)
    fine = torch.linspace(0.0, 8.0, 3001, dtype=torch.float64)
    assert torch.allclose(table(fine), zunger(fine, pp.params), atol=1e-3 * 120)


def test_strain_factor_scales_local_form_factor():
    from sepm.bands import system_hamiltonian
    from sepm.io import read_bundle
    from sepm.pseudopotential import Pseudopotential

    bundle = read_bundle(BUNDLES / "GaAs")
    pp = Pseudopotential.from_bundle(bundle)
    system = bundle.systems[0]
    s = 1.02
    scaled = system_hamiltonian(system, pp, scale=s)
    assert scaled.terms[1].trace_strain == pytest.approx(s**3 - 1)
    base = scaled.prepare().static
    pp.params[:, 8] = 0.5
    strained = scaled.prepare().static
    factor = 1 + 0.5 * (s**3 - 1)
    assert torch.allclose(strained, factor * base, rtol=1e-12, atol=1e-14)


def test_bands_cli_dense_kpoints_and_fitted_potential(tmp_path):
    from sepm.fitting.stage import run_fit

    fit = tmp_path / "fit"
    summary = run_fit(BUNDLES / "GaAs", fit, overrides=["PPmodel=ZeroFunction", "max_num_epochs=0"])  # init-only
    # the two "initial" potentials are named apart: the stage's start and the bundle's analytic potential
    assert summary["start_potential"] == "starting coefficients (init_<Sym>Params.par of the bundle)"
    dense = np.column_stack([np.linspace(0, 0.5, 101)[:, None] * [1, 1, 1], np.ones(101)])
    np.savetxt(tmp_path / "dense.par", dense)
    out = tmp_path / "out"
    assert main(["bands", str(BUNDLES / "GaAs"), str(out), "--potential", str(fit), "--kpoints",
                 str(tmp_path / "dense.par")]) == 0
    table = np.loadtxt(out / "bands_0.dat")
    assert table.shape == (101, 18)
    assert (out / "bands_0.dat").read_text().splitlines()[1] == "# potential: final potential (fit)"
    plain = tmp_path / "plain"
    main(["bands", str(BUNDLES / "GaAs"), str(plain)])
    gamma = np.loadtxt(plain / "bands_0.dat")[20, 2:]  # the bundle path passes Gamma at index 20
    assert np.allclose(table[0, 2:], gamma, atol=1e-5)
