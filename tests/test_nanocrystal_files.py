"""The nanocrystal codes' files: pot<Sym>.par format rules, export of a fit with its sidecar, the long-range
refusal, the v(q) <-> v(r) round trip, the published library as v(q) (bulk bands checked by an independent
numpy plane-wave Hamiltonian) and conf.par."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.special import erf

from crystals import BUNDLES
from sepm.cli import main
from sepm.errors import InputError
from sepm.io import read_bundle
from sepm.nanocrystal.client_export import compositions_of, export_for_client
from sepm.nanocrystal.conffile import read_conf, write_conf
from sepm.nanocrystal.ligands import LIGAND_A, LIGAND_B
from sepm.nanocrystal.potfiles import MAX_ROWS, RadialTable, read_library, read_pot_file, write_pot_file
from sepm.nanocrystal.radial import LibraryFormFactor, library_pseudopotential, tables_from_form_factor
from sepm.pseudopotential import Pseudopotential

LIBRARY = Path(__file__).resolve().parents[1] / "resources" / "potentials-realspace"
GAAS = BUNDLES / "GaAs"


@pytest.fixture(scope="module")
def gaas_pp():
    return Pseudopotential.from_bundle(read_bundle(GAAS))


def client_rules(path: Path):
    """The client's reading rules, checked on the raw text (independently of read_pot_file)."""
    lines = path.read_text().splitlines()
    assert 2 <= len(lines) <= MAX_ROWS
    assert all(not line.lstrip().startswith("#") for line in lines)
    rows = np.array([[float(t) for t in line.split()] for line in lines])
    assert rows.shape[1] == 2
    r = rows[:, 0]
    assert r[0] == 0.0
    assert np.allclose(np.diff(r), r[1] - r[0], rtol=1e-6, atol=1e-9)
    return rows


def test_written_files_obey_the_client_rules_and_read_back(tmp_path):
    table = RadialTable("Ga", math.pi / 125, np.exp(-np.arange(1024) * 0.01))
    rows = client_rules(write_pot_file(tmp_path / "potGa.par", table))
    assert rows.shape == (1024, 2)
    back = read_pot_file(tmp_path / "potGa.par")
    assert back.symbol == "Ga" and abs(back.dr - math.pi / 125) < 1e-12
    assert np.allclose(back.v, table.v, rtol=1e-11)


@pytest.mark.parametrize("text, line, words", [
    ("# r v\n0 1\n0.1 2\n", 1, "header"),
    ("0 1 5\n0.1 2 5\n", 1, "3 columns"),
    ("0.1 1\n0.2 2\n", 1, "starts at"),
    ("0 1\n0.1 2\n0.25 3\n", 3, "uniform"),
    ("0 1\n0.1 x\n", 2, "not a number"),
    ("0 1\n\n0.2 2\n", 2, "blank"),
])
def test_files_breaking_a_client_rule_are_refused_with_their_line(tmp_path, text, line, words):
    path = tmp_path / "potAs.par"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        read_pot_file(path)
    assert f"potAs.par:{line}:" in str(err.value) and words in str(err.value)


def test_too_many_rows_are_refused(tmp_path):
    path = tmp_path / "potAs.par"
    np.savetxt(path, np.column_stack([np.arange(MAX_ROWS + 1) * 0.01, np.zeros(MAX_ROWS + 1)]))
    with pytest.raises(InputError, match=f"at most {MAX_ROWS}"):
        read_pot_file(path)


def test_export_writes_client_files_and_sidecar_without_the_tail(tmp_path, gaas_pp):
    record = export_for_client(tmp_path, gaas_pp, source="GaAs bundle",
                               compositions=compositions_of(read_bundle(GAAS)))
    for s in ["As", "Ga", *LIGAND_A]:
        client_rules(tmp_path / f"pot{s}.par")
    side = json.loads((tmp_path / "nanocrystal_potentials.json").read_text())
    assert side == json.loads(json.dumps(record))
    assert side["grid"]["rows"] == 1024 and abs(side["grid"]["rmax_bohr"] - 25.7108) < 1e-3
    assert side["transform"]["converged"] and side["transform"]["max_change_hartree"] < 1e-6
    assert side["decayed"] and max(d["max_abs_last_bohr"] for d in side["decay"].values()) < 1e-6
    lr = side["long_range"]
    assert not lr["included"] and not lr["neutral"]
    assert abs(lr["sum_a4_per_system"]["system_0"] - (0.79710125 - 0.03501301)) < 1e-8
    # v(r) of the files equals the local part's transform; the ligands are the client's Gaussians.
    r = torch.arange(1024, dtype=torch.float64) * math.pi / 125
    ga = read_pot_file(tmp_path / "potGa.par")
    from sepm.export import realspace_potential

    direct = realspace_potential(gaas_pp.local_form_factor, r, 24.0, 1024)[:, 1].numpy()
    assert np.abs(ga.v - direct).max() < 1e-6
    p2 = read_pot_file(tmp_path / "potP2.par")
    assert np.allclose(p2.v, LIGAND_A["P2"] * np.exp(-p2.r**2 / LIGAND_B), atol=1e-12)


def gaussian_pp(alpha):
    """v_s(r) = exp(-alpha_s r^2) for As and Ga, as a pseudopotential."""
    a = torch.tensor(alpha, dtype=torch.float64)
    return Pseudopotential(("As", "Ga"), torch.zeros((2, 9), dtype=torch.float64),
                           local=lambda q: (math.pi / a) ** 1.5 * torch.exp(-q[:, None] ** 2 / (4 * a)))


def test_export_lengthens_the_grid_until_the_tail_has_decayed(tmp_path, caplog):
    """exp(-0.12 r^2) is 8e-3 Hartree at the 64-row grid's end (6.3 Bohr), < 1e-7 over the last Bohr of 128 rows."""
    with caplog.at_level("WARNING", logger="sepm"):
        side = export_for_client(tmp_path, gaussian_pp([0.12, 0.15]), rows=64, dr=0.1, write_ligands=False)
    assert side["grid"]["rows"] == 128 and side["decayed"] and not caplog.records
    assert max(d["max_abs_last_bohr"] for d in side["decay"].values()) <= 1e-6
    assert len(read_pot_file(tmp_path / "potGa.par").v) == 128


def test_export_brings_a_decayed_tables_last_row_to_zero(tmp_path):
    """exp(-0.105 r^2) decays on 128 rows of 0.1 Bohr (5.7e-7 Hartree at r = 11.7) but ends at 4.4e-8: the client's
    subtraction of that would move v(0) by -(4 pi / 3) rc^3 v(rc) = -3.8e-4 Hartree Bohr^3 in a bulk crystal (every atom
    within rc of a point) and not in a dot smaller than rc. The export multiplies the last Bohr by cos^2 (1 -> 0): the
    last row is 0, v is unchanged before the last Bohr, and Delta v(0) is only what the table leaves out, in closed
    form: -4 pi [int_{rc-1}^{rc} r^2 v (1 - cos^2) dr + int_rc^inf r^2 v dr]."""
    from scipy.integrate import quad

    alpha = np.array([0.105, 0.11])
    side = export_for_client(tmp_path, gaussian_pp(alpha.tolist()), rows=64, dr=0.1, write_ligands=False)
    rc = 12.7
    assert side["grid"]["rows"] == 128 and side["decayed"] and side["settled"]
    got = side["level_shift"]["delta_v0_hartree_bohr3"]
    for s, a in zip(("As", "Ga"), alpha):
        table = read_pot_file(tmp_path / f"pot{s}.par")
        assert table.v[-1] == 0.0
        inside = table.r < rc - 1 - 1e-9
        assert np.abs(table.v[inside] - np.exp(-a * table.r[inside] ** 2)).max() < 1e-9
        v = lambda r, a=a: np.exp(-a * r**2)  # noqa: E731
        taper = quad(lambda r: r**2 * v(r) * np.sin(0.5 * np.pi * (r - rc + 1)) ** 2, rc - 1, rc, epsabs=1e-14)[0]
        beyond = quad(lambda r: r**2 * v(r), rc, np.inf, epsabs=1e-14)[0]
        assert got[s] == pytest.approx(-4 * np.pi * (taper + beyond), abs=2e-6)
        assert 4 * np.pi / 3 * rc**3 * v(rc) > 50 * abs(got[s] + 4 * np.pi * (taper + beyond))  # the cut term is gone


def test_export_warns_when_the_tail_never_decays_and_states_the_level_shift(tmp_path, caplog):
    """At most 8192 rows of dr = 1e-3 Bohr end at 8.19 Bohr, where exp(-0.1 r^2) is 1.2e-3 Hartree: the files keep
    the 4096 rows asked for. The shift of v(0) by the client's cut at rc is -4 pi int_rc^inf r^2 v dr - (4 pi / 3)
    rc^3 v(rc), in closed form."""
    from scipy.special import erfc

    alpha = np.array([0.1, 0.12])
    with caplog.at_level("WARNING", logger="sepm"):
        side = export_for_client(tmp_path, gaussian_pp(alpha.tolist()), rows=4096, dr=1e-3, write_ligands=False,
                                 compositions={"s": {"As": 1, "Ga": 3}}, volumes={"s": 300.0})
    rc = 4095e-3
    assert side["grid"]["rows"] == 4096 and not side["decayed"] and not side["settled"]
    tail = rc * np.exp(-alpha * rc**2) / (2 * alpha) + np.sqrt(np.pi) / (4 * alpha**1.5) * erfc(np.sqrt(alpha) * rc)
    dv0 = -4 * np.pi * tail - 4 * np.pi / 3 * rc**3 * np.exp(-alpha * rc**2)
    got = side["level_shift"]["delta_v0_hartree_bohr3"]
    assert [got["As"], got["Ga"]] == pytest.approx(dv0.tolist(), rel=1e-4)
    assert side["level_shift"]["bulk_level_shift_ev"]["s"] == pytest.approx((dv0[0] + 3 * dv0[1]) / 300 * 27.211386,
                                                                            rel=1e-4)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("potAs.par: v(r) has not decayed" in w for w in warnings)
    assert any("shifts every bulk level by" in w for w in warnings)


def test_a_non_neutral_tail_is_refused_and_a_neutral_one_is_exactly_the_erf_tail(tmp_path, gaas_pp):
    comps = compositions_of(read_bundle(GAAS))
    with pytest.raises(InputError, match="not charge-neutral.*system_0: sum of a4 = \\+0.762"):
        export_for_client(tmp_path, gaas_pp, include_long_range=True, compositions=comps)
    with pytest.raises(InputError, match="no system given"):
        export_for_client(tmp_path, gaas_pp, include_long_range=True)
    assert not (tmp_path / "potGa.par").exists()
    neutral = Pseudopotential(gaas_pp.species, gaas_pp.params.clone())
    neutral.params[:, 4] = torch.tensor([-0.3, 0.3], dtype=torch.float64)
    export_for_client(tmp_path / "lr", neutral, include_long_range=True, compositions=comps, write_ligands=False)
    export_for_client(tmp_path / "plain", neutral, write_ligands=False)
    for s, a4 in (("As", -0.3), ("Ga", 0.3)):
        with_tail = read_pot_file(tmp_path / "lr" / f"pot{s}.par")
        plain = read_pot_file(tmp_path / "plain" / f"pot{s}.par")
        r = with_tail.r[1:]
        expected = -a4 * erf(neutral.lr_gamma * r) / r
        assert np.abs((with_tail.v - plain.v)[1:] - expected).max() < 2e-6


def test_round_trip_vq_to_client_grid_and_back(gaas_pp):
    tables, record = tables_from_form_factor(gaas_pp.local_form_factor, gaas_pp.species)
    back = LibraryFormFactor(tables, gaas_pp.species)
    q = torch.linspace(0.0, 10.0, 1001, dtype=torch.float64)
    ref = gaas_pp.local_form_factor(q)
    err = (back(q) - ref).abs().max(dim=0).values
    # Measured: 1.2e-6 (As, v(0) = -114.8) and 1e-11 (Ga) Hartree Bohr^3.
    assert float(err.max()) < 1e-5
    assert float((err / ref.abs().max(dim=0).values).max()) < 1e-7


def independent_gamma_levels(lattice, frac, symbols, vq, maxke):
    """Levels at Gamma of a plane-wave Hamiltonian built directly with numpy (no sepm basis or terms)."""
    B = 2 * np.pi * np.linalg.inv(lattice).T
    n = np.arange(-8, 9)
    G = np.stack(np.meshgrid(n, n, n, indexing="ij"), -1).reshape(-1, 3) @ B
    G = G[0.5 * (G**2).sum(1) < maxke]
    dG = G[:, None, :] - G[None, :, :]
    q = np.linalg.norm(dG, axis=2)
    tau = frac @ lattice
    omega = abs(np.linalg.det(lattice))
    H = np.diag(0.5 * (G**2).sum(1)).astype(complex)
    for s in sorted(set(symbols)):
        S = sum(np.exp(1j * dG @ tau[i]) for i, t in enumerate(symbols) if t == s) / omega
        H += vq[s](q) * S
    return np.linalg.eigvalsh(H) * 27.2114


def test_published_library_gives_bulk_gaas_bands_equal_to_an_independent_plane_wave_code(tmp_path):
    bundle = read_bundle(GAAS)
    pp = library_pseudopotential(LIBRARY, bundle)
    system = bundle.systems[0]
    from sepm.bands import band_energies, system_hamiltonian

    maxke = 4.0
    system = dataclasses.replace(system, maxke=maxke)
    ours = band_energies(system_hamiltonian(system, pp), np.zeros((1, 3)), 16).numpy()[0, ::2]
    tables = read_library(LIBRARY, ["As", "Ga"])

    def radial(s):
        t = tables[s]
        # Composite Simpson by hand on the first 1023 rows (an odd count; v - v_last ~ 1e-7 at the end).
        r, v = t.r[:-1], (t.v - t.v[-1])[:-1]
        w = np.ones(len(r))
        w[1:-1:2], w[2:-1:2] = 4, 2
        w *= t.dr / 3
        return lambda q: 4 * np.pi * (np.sinc(np.multiply.outer(q, r) / np.pi) * (w * r**2 * v)).sum(-1)

    lattice = system.scale * np.asarray(system.cell)
    theirs = independent_gamma_levels(lattice, np.asarray(system.frac), list(system.atom_species),
                                      {s: radial(s) for s in ("As", "Ga")}, maxke)[:8]
    assert np.abs(ours - theirs).max() < 1e-5
    gap = ours[4] - ours[3]
    assert 1.3 < gap < 1.6


def test_import_realspace_writes_a_prior_table_and_bands_pot_dir_runs(tmp_path):
    out = tmp_path / "init_qSpace_pot.par"
    assert main(["import-realspace", str(LIBRARY), str(out), "--species", "Ga", "As"]) == 0
    from sepm.export import read_qspace_table

    q, values, names = read_qspace_table(out)
    assert names == ["As", "Ga"] and q[0] == 0 and abs(q[-1] - 12) < 1e-12
    lib = LibraryFormFactor(read_library(LIBRARY, ["As", "Ga"]), ["As", "Ga"])
    assert np.allclose(values, lib(torch.as_tensor(q)).numpy(), atol=1e-9)
    assert main(["bands", str(GAAS), str(tmp_path / "bands"), "--pot-dir", str(LIBRARY)]) == 0
    header = (tmp_path / "bands" / "bands_0.dat").read_text()
    assert "RMSE" in header


def test_conf_par_round_trip_and_rules(tmp_path):
    positions = np.array([[0.0, 0.0, 0.0], [1.5, -2.25, 3.0], [0.1, 0.2, 0.3]])
    write_conf(tmp_path / "conf.par", ["Ga", "As", "P1"], positions)
    lines = (tmp_path / "conf.par").read_text().splitlines()
    assert lines[0] == "3" and lines[2].split() == ["As", "1.50000000", "-2.25000000", "3.00000000"]
    symbols, back = read_conf(tmp_path / "conf.par")
    assert symbols == ["Ga", "As", "P1"] and np.allclose(back, positions)
    with pytest.raises(ValueError, match="no atom type Cs"):
        write_conf(tmp_path / "bad.par", ["Cs"], positions[:1])
    (tmp_path / "bad.par").write_text("2\nGa 0 0 0\n")
    with pytest.raises(InputError, match="bad.par:1: count 2 but 1"):
        read_conf(tmp_path / "bad.par")


def test_an_imported_library_is_a_prior_the_network_is_fitted_to(tmp_path):
    from small_bundles import small_gaas
    from sepm.fitting.potential_files import load_potential

    folder = small_gaas(tmp_path, kstride=20, config={"PPmodel": "Net_celu_HeInit_decayGaussian",
                                                      "PPmodel_gaussian_std": 2, "hiddenLayers": [20, 20],
                                                      "init_Zunger_num_epochs": 0, "init_Zunger_optimizer_lr": 0.02})
    assert main(["import-realspace", str(LIBRARY), str(folder / "init_qSpace_pot.par"), "--species", "As", "Ga"]) == 0
    out = tmp_path / "prior"
    assert main(["prior", str(folder), str(out)]) == 0
    record = json.loads((out / "init_record.json").read_text())
    assert record["strategy"] == "fit to tabulated v(q)"
    pp, _, _ = load_potential(out, "init_")
    q = torch.linspace(0.5, 6.0, 56, dtype=torch.float64)
    target = LibraryFormFactor(read_library(LIBRARY, ["As", "Ga"]), ["As", "Ga"])(q)
    with torch.no_grad():
        fitted = pp.local_form_factor(q)
    # A 1000-epoch fit of a 2x20 network: within a few % of the library's v(q) scale over 0.5-6 1/Bohr.
    assert float((fitted - target).abs().max() / target.abs().max()) < 0.05


def test_a_ligand_file_of_yours_wins_over_the_gaussian_and_a_bad_one_is_refused_first(tmp_path):
    yours = tmp_path / "mine"
    yours.mkdir()
    write_pot_file(yours / "potP2.par", RadialTable("P2", 0.05, -0.5 * np.exp(-(0.05 * np.arange(300)) ** 2)))
    out = tmp_path / "out"
    side = export_for_client(out, gaussian_pp([0.12, 0.15]), rows=128, dr=0.1, user_ligands=yours)
    assert (out / "potP2.par").read_bytes() == (yours / "potP2.par").read_bytes()
    assert side["ligands"]["P2"]["file"] == str(yours / "potP2.par")
    p1 = read_pot_file(out / "potP1.par")  # not yours: the client's Gaussian on the export's grid
    assert len(p1.v) == 128 and np.allclose(p1.v, LIGAND_A["P1"] * np.exp(-p1.r**2 / LIGAND_B), atol=1e-12)
    assert side["ligands"]["P1"]["a_hartree"] == LIGAND_A["P1"]
    (yours / "potP1.par").write_text("0.0 1.0\n0.1\n")
    with pytest.raises(InputError, match="potP1.par"):
        export_for_client(tmp_path / "refused", gaussian_pp([0.12, 0.15]), rows=128, dr=0.1, user_ligands=yours)
    assert not (tmp_path / "refused").exists()
