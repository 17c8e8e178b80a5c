"""Export of fitted potentials: spherical transform against analytic pairs, tables, convergence, plots."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
import torch
from scipy.special import erf

from sepm.constants import LR_GAMMA, LR_QMIN
from sepm.errors import InputError
from sepm.export import (
    export_realspace,
    plot_potentials,
    read_qspace_table,
    realspace_potential,
    write_qspace_table,
)

# GaAs bundle, Zunger a0..a3 (species in alphabetical order: As, Ga).
GAAS_SPECIES = ["As", "Ga"]
GAAS_ZUNGER = torch.tensor(
    [[25.80944629, 2.58859458, 1.58196225, 0.51424374],
     [50.77526879, 2.29527553, 3.72038796, 0.59163580]], dtype=torch.float64)


def zunger(q):
    a0, a1, a2, a3 = GAAS_ZUNGER.T
    q2 = (q * q)[:, None]
    return a0 * (q2 - a1) / (a2 * torch.exp(a3 * q2) - 1.0)


def tail(q, a4=1.0, gamma=LR_GAMMA):
    """-a4 4 pi / q^2 exp(-q^2/(4 gamma^2)), zero below LR_QMIN as in the Hamiltonian."""
    safe = torch.where(q < LR_QMIN, torch.ones_like(q), q)
    t = -4.0 * math.pi / safe**2 * torch.exp(-(safe**2) / (4.0 * gamma**2))
    return (a4 * torch.where(q < LR_QMIN, 0.0, t))[:, None]


def gaussian_pair(alpha):
    vq = lambda q: ((math.pi / alpha) ** 1.5 * torch.exp(-(q**2) / (4.0 * alpha)))[:, None]  # noqa: E731
    vr = lambda r: np.exp(-alpha * r**2)  # noqa: E731
    return vq, vr


@pytest.mark.parametrize("alpha", [0.3, 1.0, 2.5])
def test_gaussian_pair(alpha):
    vq, vr = gaussian_pair(alpha)
    r = np.linspace(0.0, 15.0, 1501)
    qmax = math.sqrt(4.0 * alpha * 40.0)  # exp(-40) truncation
    v = realspace_potential(vq, r, qmax=qmax, nq=512)[:, 0].numpy()
    assert np.abs(v - vr(r)).max() < 1e-10


def test_screened_tail_pair():
    r = np.linspace(0.5, 15.0, 1451)
    exact = -erf(LR_GAMMA * r) / r
    v = realspace_potential(tail, r, qmax=8.0, nq=512)[:, 0].numpy()
    assert np.abs(v - exact).max() < 1e-8


def test_several_species_one_product():
    """Columns transform independently: the sum of two analytic pairs, in two columns."""
    (g1, e1), (g2, e2) = gaussian_pair(0.5), gaussian_pair(1.5)
    vq = lambda q: torch.cat([g1(q) + tail(q, 0.3), g2(q)], dim=1)  # noqa: E731
    r = np.linspace(0.5, 10.0, 200)
    v = realspace_potential(vq, r, qmax=16.0, nq=768).numpy()
    assert np.abs(v[:, 0] - (e1(r) - 0.3 * erf(LR_GAMMA * r) / r)).max() < 1e-8
    assert np.abs(v[:, 1] - e2(r)).max() < 1e-10


def test_qspace_round_trip(tmp_path):
    vq = lambda q: zunger(q) + torch.cat([tail(q, -0.2), tail(q, 0.2)], dim=1)  # noqa: E731
    path = write_qspace_table(tmp_path / "final_qSpace_pot.dat", vq, GAAS_SPECIES, qmax=10.0, nq=1001)
    lines = path.read_text().splitlines()
    header = [line for line in lines if line.startswith("#")]
    assert header[-1].split() == ["#", "q", "v_As", "v_Ga"]
    assert any("1/Bohr" in line and "Hartree*Bohr^3" in line for line in header)
    assert any("1001" in line for line in header)
    q, v, species = read_qspace_table(path)
    assert species == GAAS_SPECIES
    np.testing.assert_allclose(q, np.linspace(0.0, 10.0, 1001), atol=1e-12)
    expected = vq(torch.as_tensor(q)).numpy()
    np.testing.assert_allclose(v, expected, rtol=1e-11, atol=1e-11)
    assert v.shape == (1001, 2)


def test_read_deeppseudopot_table(tmp_path):
    path = tmp_path / "init_qSpace_pot.par"
    path.write_text("0.0 -1.5 -2.5\n0.1 -1.4 -2.4\n\n0.2 -1.3 -2.3\n")
    q, v, species = read_qspace_table(path)
    assert species is None
    np.testing.assert_allclose(q, [0.0, 0.1, 0.2])
    np.testing.assert_allclose(v[:, 1], [-2.5, -2.4, -2.3])


@pytest.mark.parametrize("body, line, word", [
    ("# q v_As v_Ga\n0.0 1 2\n0.1 1 x2\n", 3, "not a number"),
    ("0.0 1 2\n0.1 1 2\n0.2 1\n", 3, "ragged"),
    ("# header\n\n0.0 1 2\n0.1 1 2 3\n", 4, "ragged"),
    ("0.0 1 2\n0.1 nan 2\n", 2, "finite"),
])
def test_read_errors_name_the_line(tmp_path, body, line, word):
    path = tmp_path / "bad.par"
    path.write_text(body)
    with pytest.raises(InputError) as err:
        read_qspace_table(path)
    assert err.value.defects[0].line == line
    assert f"bad.par:{line}:" in str(err.value) and word in str(err.value)


def test_gaas_zunger_export_converges(tmp_path):
    path = tmp_path / "final_pot.dat"
    stem = tmp_path / "final_pot_convergence"
    record = export_realspace(path, zunger, GAAS_SPECIES, convergence_stem=stem)
    assert record["max_change"] < 1e-6 and record["converged"]
    assert record["rmax"] == 15.0 and record["nr"] == 1501
    assert record["qmax"] in (12.0, 16.0, 24.0, 32.0) and record["nq"] >= 64
    lines = path.read_text().splitlines()
    header = [line for line in lines if line.startswith("#")]
    assert header[-1].split() == ["#", "r", "v_As", "v_Ga"]
    text = "\n".join(header)
    assert f"qmax = {record['qmax']:g}" in text and f"nq = {record['nq']}" in text
    assert "Bohr" in text and "Hartree" in text and "j0" in text
    data = np.loadtxt(path)
    assert data.shape == (1501, 3)
    np.testing.assert_allclose(data[:, 0], np.linspace(0.0, 15.0, 1501), atol=1e-12)
    # the file agrees with a much finer transform, and the potential is short-ranged
    fine = realspace_potential(zunger, data[:, 0], qmax=40.0, nq=2048).numpy()
    assert np.abs(data[50:, 1:] - fine[50:]).max() < 1e-6
    assert np.abs(data[-1, 1:]).max() < 1e-6
    for ext in ("png", "pdf"):
        assert (tmp_path / f"final_pot_convergence.{ext}").stat().st_size > 1000


def test_export_with_tail_and_fixed_grid(tmp_path):
    vq = lambda q: zunger(q) + torch.cat([tail(q, -0.4), tail(q, 0.4)], dim=1)  # noqa: E731
    auto = export_realspace(tmp_path / "auto.dat", vq, GAAS_SPECIES, rmax=10.0, nr=201)
    assert auto["converged"] and auto["max_change"] < 1e-6
    fixed = export_realspace(tmp_path / "fixed.dat", vq, GAAS_SPECIES, rmax=10.0, nr=201, qmax=16.0, nq=512)
    assert (fixed["qmax"], fixed["nq"]) == (16.0, 512)
    a, b = np.loadtxt(tmp_path / "auto.dat"), np.loadtxt(tmp_path / "fixed.dat")
    assert np.abs(a[10:] - b[10:]).max() < 1e-6
    # the tail transforms to -a4 erf(gamma r)/r on top of the Zunger part
    r = a[10:, 0]
    short = realspace_potential(zunger, r, qmax=32.0, nq=1024).numpy()
    lr = (a[10:, 1:] - short) * r[:, None]
    np.testing.assert_allclose(lr, np.outer(erf(LR_GAMMA * r), [0.4, -0.4]), atol=1e-7)


def test_plot_potentials(tmp_path):
    vq = lambda q: 1.05 * zunger(q) + torch.cat([tail(q, -0.4), tail(q, 0.4)], dim=1)  # noqa: E731
    paths = plot_potentials(tmp_path / "final_plotPP", vq, GAAS_SPECIES, reference=zunger, title="GaAs v(q)")
    assert [p.suffix for p in paths] == [".png", ".pdf"]
    assert all(p.stat().st_size > 1000 for p in paths)


def test_unconverged_is_reported(tmp_path, caplog):
    """A v(q) that does not decay has no converged transform: recorded and logged (one line, no Python source
    line as warnings.warn printed), still written."""
    flat = lambda q: torch.ones(len(q), 1, dtype=torch.float64)  # noqa: E731
    with caplog.at_level(logging.WARNING, logger="sepm"):
        record = export_realspace(tmp_path / "flat.dat", flat, ["X"], rmax=5.0, nr=51)
    assert caplog.messages == [f"{tmp_path / 'flat.dat'}: real-space potential not converged to 1e-06 Hartree: max "
                               f"change {record['max_change']:.3g} at qmax = {record['qmax']:g}, nq = {record['nq']} "
                               "(written with 'converged = no' in its header)"]
    assert not record["converged"] and record["max_change"] > 1e-6
    assert "converged = no" in (tmp_path / "flat.dat").read_text()


def test_written_files_get_ordinary_permissions(tmp_path):
    """Atomic writes rename a private temporary file; the result must be readable like any new file."""
    import os
    import stat

    from sepm.output import write_text

    old = os.umask(0o022)
    try:
        path = write_text(tmp_path / "table.dat", "1 2\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["table.dat"]
