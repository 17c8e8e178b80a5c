"""Convert stage: Quantum ESPRESSO / BerkeleyGW readers, the bundle writer, `sepm convert`, and a real pw.x
run when Quantum ESPRESSO is installed (CI: apt-get install quantum-espresso quantum-espresso-data)."""

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from sepm.bands import path_distance
from sepm.cli import main
from sepm.constants import HARTREE_EV
from sepm.convert import convert, read_bandstructure, read_eqp, read_filband, read_qe_xml
from sepm.crystal import Crystal
from sepm.errors import InputError
from sepm.io import read_bundle

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "data" / "qe_si"
XML, FILBAND = FIXTURE / "si.bands.xml", FIXTURE / "si.bands.dat"
PRIOR = ROOT / "resources" / "priors" / "Si"


# ------------------------------------------------------------------------------------ QE readers
def test_qe_xml_structure_kpoints_and_energies():
    qe = read_qe_xml(XML)
    st = qe.structure
    assert st.alat == pytest.approx(10.26)
    assert np.allclose(st.cell, [[-0.5, 0, 0.5], [0, 0.5, 0.5], [-0.5, 0.5, 0]])
    assert st.species == ["Si", "Si"]
    assert np.allclose(st.frac, [[0, 0, 0], [0.75, 0.75, 0.75]])  # (1/4,1/4,1/4) alat, wrapped into [0, 1)
    assert qe.energies.shape == (21, 8) and qe.nelec == 8 and not qe.noncolin
    kf = qe.kpoints_frac
    assert np.allclose(kf[0], [0.5, 0.5, 0.5]) and np.allclose(kf[10], 0) and np.allclose(kf[20], [0.5, 0.5, 0])
    assert np.allclose(kf @ (2 * np.pi * np.linalg.inv(st.lattice).T), qe.kpoints_cart * 2 * np.pi / st.alat)
    # Hartree -> eV: the raw first eigenvalue at L is -1.2879...e-1 Ha in the XML
    assert qe.energies[0, 0] == pytest.approx(-1.287903620586135e-1 * HARTREE_EV)
    gamma = qe.energies[10]
    vbm = gamma[1:4]
    assert np.ptp(vbm) < 1e-6 and 5.5 < vbm[0] < 6.5  # triply degenerate Gamma25', LDA ~6.1 eV here
    assert vbm[0] == pytest.approx(qe.energies[:, 3].max())  # valence top at Gamma
    assert 2.0 < gamma[4] - vbm[0] < 3.0  # direct gap Gamma15 - Gamma25' (LDA ~2.56 eV)
    indirect = qe.energies[:, 4].min() - vbm[0]
    assert 0.3 < indirect < 0.8  # LDA indirect gap near X (~0.5 eV)
    assert 11.0 < vbm[0] - gamma[0] < 13.0  # valence width Gamma25' - Gamma1


def test_filband_matches_xml():
    k, e = read_filband(FILBAND)
    qe = read_qe_xml(XML)
    assert np.allclose(k, qe.kpoints_cart)
    assert np.abs(e - qe.energies).max() < 1e-3  # filband rounds to meV


def _write(path, text):
    path.write_text(text)
    return path


def test_qe_malformed_inputs_name_path_and_line(tmp_path):
    text = XML.read_text().splitlines()
    eig = next(i for i, line in enumerate(text) if "<eigenvalues" in line)
    text[eig + 1] = text[eig + 1].replace("-3.329495592474991e-2", "oops")
    bad = _write(tmp_path / "bad.xml", "\n".join(text))
    with pytest.raises(InputError) as err:
        read_qe_xml(bad)
    assert err.value.defects[0].line == eig + 1 and f"{bad}:{eig + 1}:" in str(err.value)
    broken = _write(tmp_path / "broken.xml", "<a>\n<b>\n</a>\n")
    with pytest.raises(InputError, match=r"broken.xml:3: malformed XML"):
        read_qe_xml(broken)
    with pytest.raises(InputError, match="file not found"):
        read_qe_xml(tmp_path / "missing.xml")
    fb = FILBAND.read_text().splitlines()
    fb[3] = fb[3] + " x1"
    with pytest.raises(InputError, match=r"bad.dat:4: 'x1' is not a number"):
        read_filband(_write(tmp_path / "bad.dat", "\n".join(fb)))
    with pytest.raises(InputError, match=r"short.dat:\d+: .*expected nks"):
        read_filband(_write(tmp_path / "short.dat", "\n".join(FILBAND.read_text().splitlines()[:-1])))


# ------------------------------------------------------------------------------------ BerkeleyGW
EQP = """\
  0.000000000  0.000000000  0.000000000       3
       1       1     -5.8356    -5.9000
       1       2      6.0789     6.0000
       1       3      6.0789     6.0000
  0.500000000  0.500000000  0.000000000   3
  1 3 2.4 2.5
  1 1 -1.6 -1.7
  1 2 -1.6 -1.7
"""

BANDSTRUCTURE = """\
# spin band kx ky kz E_mf E_qp dE
#  (Cartesian 1/Bohr)
 1 1 0.0 0.0 0.0 -5.8 -5.9 -0.1
 1 1 0.0 0.0 0.6124 -1.6 -1.7 -0.1
 1 2 0.0 0.0 0.0 6.0 6.1 0.1
 1 2 0.0 0.0 0.6124 2.4 2.6 0.2
"""


def test_eqp_reader(tmp_path):
    k, e = read_eqp(_write(tmp_path / "eqp1.dat", EQP))
    assert np.allclose(k, [[0, 0, 0], [0.5, 0.5, 0]])
    assert np.allclose(e, [[-5.9, 6.0, 6.0], [-1.7, -1.7, 2.5]])  # sorted by band index
    _, emf = read_eqp(tmp_path / "eqp1.dat", "mf")
    assert np.allclose(emf[0], [-5.8356, 6.0789, 6.0789])


def test_bandstructure_reader(tmp_path):
    k, e = read_bandstructure(_write(tmp_path / "bandstructure.dat", BANDSTRUCTURE))
    assert np.allclose(k, [[0, 0, 0], [0, 0, 0.6124]])
    assert np.allclose(e, [[-5.9, 6.1], [-1.7, 2.6]])
    assert np.allclose(read_bandstructure(tmp_path / "bandstructure.dat", "mf")[1], [[-5.8, 6.0], [-1.6, 2.4]])


@pytest.mark.parametrize("text, line, message", [
    (EQP.replace("1       2      6.0789", "1       2      6.07x9"), 3, "'6.07x9' is not a number"),
    (EQP.replace("  1 3 2.4 2.5", "  1 3 2.4"), 6, "expected 'spin band E_mf E_qp'"),
    (EQP.replace("  1 3 2.4 2.5", "  2 3 2.4 2.5"), 6, "spin-polarized"),
    (EQP.replace("  1 3 2.4 2.5", "  1 4 2.4 2.5"), 5, "same bands"),
    (EQP.replace("       1       1     -5.8356    -5.9000\n", "       1       4     -5.8356    -5.9000\n"), 1,
     "not starting at 1"),
    (EQP.replace("  0.500000000  0.500000000  0.000000000   3", "  0.5 0.5 3"), 5, "k-point header"),
    (EQP.rsplit("\n", 2)[0] + "\n", 7, "announces 3 bands"),
])
def test_eqp_errors_name_path_and_line(tmp_path, text, line, message):
    path = _write(tmp_path / "eqp1.dat", text)
    with pytest.raises(InputError, match=message) as err:
        read_eqp(path)
    assert str(err.value).startswith(f"{path}:{line}:")


@pytest.mark.parametrize("text, line, message", [
    (BANDSTRUCTURE.replace(" 1 2 0.0 0.0 0.0 6.0", " 1 2 0.0 0.0 6.0"), 5, "expected 8 columns"),
    (BANDSTRUCTURE.replace("2.4 2.6", "2.4 nope"), 6, "'nope' is not a number"),
    (BANDSTRUCTURE.replace(" 1 2 0.0 0.0 0.6124", " 1 2 0.0 0.0 0.7"), 5, "other k-points"),
])
def test_bandstructure_errors_name_path_and_line(tmp_path, text, line, message):
    path = _write(tmp_path / "bandstructure.dat", text)
    with pytest.raises(InputError, match=message) as err:
        read_bandstructure(path)
    assert str(err.value).startswith(f"{path}:{line}:")


# ------------------------------------------------------------------------------------ writer / CLI
def test_convert_writes_a_valid_bundle(tmp_path):
    out = tmp_path / "Si"
    summary = convert(out, qe_xml=XML, prior=PRIOR, maxke=5, nbands=12)
    bundle = read_bundle(out, require_reference=True)
    assert bundle.config["nSystem"] == 1 and bundle.config["PPmodel"] == "ZeroFunction"
    assert bundle.species == ["Si"] and np.allclose(bundle.params["Si"][:4], np.loadtxt(PRIOR / "init_SiParams.par")[:4])
    (system,) = bundle.systems
    qe = read_qe_xml(XML)
    assert system.nbands == 12 and system.maxke == 5 and system.scale == pytest.approx(10.26)
    assert system.settings["idxVB"] == 3 and system.settings["idxCB"] == 4  # spatial levels (8 electrons)
    assert np.allclose(system.kpoints, qe.kpoints_frac) and np.all(system.kweights == 1)
    assert np.allclose(system.ref_bands[:, ::2], qe.energies[:, :6], atol=1e-6)  # spin-doubled
    assert np.allclose(system.ref_bands[:, 1::2], system.ref_bands[:, ::2])
    expected = path_distance(Crystal.from_system(system), system.kpoints)
    assert np.allclose(system.ref_path, expected, atol=1e-6)
    assert system.ref_path[10] == pytest.approx(np.sqrt(3) / 2 * 2 * np.pi / 10.26, rel=1e-6)  # |L - Gamma|
    assert np.all(system.band_weights == 1)
    assert summary["vbm"] == pytest.approx(qe.energies[:, 3].max())


def test_convert_vbm_align_bgw_and_errors(tmp_path):
    out = convert(tmp_path / "a", qe_xml=XML, qe_bands=FILBAND, prior=PRIOR, maxke=4, vbm_align=0.0)
    bundle = read_bundle(tmp_path / "a")
    assert out["nbands"] == 16 and abs(bundle.systems[0].ref_bands[:, :8].max()) < 1e-6
    eqp = _write(tmp_path / "eqp1.dat", EQP)
    convert(tmp_path / "b", qe_xml=XML, bgw_eqp=eqp, prior=PRIOR, maxke=4, nbands=6)
    b = read_bundle(tmp_path / "b").systems[0]
    assert np.allclose(b.kpoints, [[0, 0, 0], [0.5, 0.5, 0]]) and np.allclose(b.ref_bands[0], [-5.9] * 2 + [6.0] * 4)
    bs = _write(tmp_path / "bandstructure.dat", BANDSTRUCTURE)
    convert(tmp_path / "c", qe_xml=XML, bgw_bandstructure=bs, prior=PRIOR, maxke=4, bgw_energy="mf")
    c = read_bundle(tmp_path / "c").systems[0]
    assert np.allclose(c.kpoints[1], np.array([0, 0, 0.6124]) @ (10.26 * c.cell).T / (2 * np.pi))
    assert np.allclose(c.ref_bands[1], [-1.6, -1.6, 2.4, 2.4])
    with pytest.raises(InputError, match="nBands = 20 requested but the source has only 8 levels x 2"):
        convert(tmp_path / "d", qe_xml=XML, prior=PRIOR, maxke=4, nbands=20)
    empty = tmp_path / "empty_prior"
    empty.mkdir()
    with pytest.raises(InputError, match="no init_SiParams.par for species 'Si'"):
        convert(tmp_path / "e", qe_xml=XML, prior=empty, maxke=4)
    assert not (tmp_path / "e").exists()  # nothing written


def test_sepm_convert_then_sepm_bands(tmp_path, capfd):
    out = tmp_path / "bundle"
    assert main(["convert", str(out), "--qe-xml", str(XML), "--prior", str(PRIOR), "--maxke", "3",
                 "--nbands", "8", "--vbm-align", "1.86"]) == 0
    assert main(["bands", str(out), str(tmp_path / "bands")]) == 0
    table = np.loadtxt(tmp_path / "bands" / "bands_0.dat")
    assert table.shape == (21, 10) and np.all(np.isfinite(table))
    assert main(["convert", str(tmp_path / "x"), "--qe-xml", str(tmp_path / "nope.xml"), "--prior", str(PRIOR),
                 "--maxke", "3"]) == 2
    assert "nope.xml: file not found" in capfd.readouterr().err


# ------------------------------------------------------------------------------------ real pw.x
@pytest.mark.skipif(shutil.which("pw.x") is None or shutil.which("bands.x") is None,
                    reason="Quantum ESPRESSO (pw.x, bands.x) not installed")
def test_real_pw_x_run_converts(tmp_path):
    run = subprocess.run(["sh", str(ROOT / "tests" / "qe_si" / "run.sh"), str(tmp_path / "qe")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    fresh = read_qe_xml(tmp_path / "qe" / "si.bands.xml")
    committed = read_qe_xml(XML)
    assert fresh.energies.shape == committed.energies.shape
    assert np.allclose(fresh.kpoints_frac, committed.kpoints_frac)
    assert np.abs(fresh.energies - committed.energies).max() < 0.01  # same inputs, other build/machine
    k, e = read_filband(tmp_path / "qe" / "si.bands.dat")
    assert np.abs(e - fresh.energies).max() < 1e-3
    scf = read_qe_xml(tmp_path / "qe" / "si.scf.xml")
    assert len(scf.kpoints_cart) == 10  # 4x4x4 shifted grid, reduced by symmetry
    convert(tmp_path / "bundle", qe_xml=tmp_path / "qe" / "si.bands.xml", prior=PRIOR, maxke=4)
    assert read_bundle(tmp_path / "bundle", require_reference=True).systems[0].ref_bands.shape == (21, 16)
