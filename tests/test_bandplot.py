"""`sepm plot-bands`: band tables of every kind read into one structure, overlaid, with gaps and band edges."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from crystals import BUNDLES
from sepm.analysis.bandfiles import detect_format, detect_vb_index, point_name, read_band_table
from sepm.analysis.bandplot import plot_band_files
from sepm.cli import main
from sepm.convert import read_qe_xml
from sepm.errors import InputError

QE = Path(__file__).resolve().parent / "data" / "qe_si"
XML, FILBAND = QE / "si.bands.xml", QE / "si.bands.dat"


@pytest.fixture(scope="module")
def gaas_bands(tmp_path_factory):
    """`sepm bands` of the GaAs bundle's analytic potential at maxKE 3 (all 61 k-points of the bundle)."""
    root = tmp_path_factory.mktemp("gaas")
    bundle = root / "GaAs"
    shutil.copytree(BUNDLES / "GaAs", bundle)
    (bundle / "input_0.par").write_text("maxKE = 3\nnBands = 16\n")
    assert main(["bands", str(bundle), str(root / "out")]) == 0
    return bundle, root / "out" / "bands_0.dat"


def test_gaas_sepm_bands_against_reference(gaas_bands, tmp_path):
    bundle, bands = gaas_bands
    stem = tmp_path / "gaas"
    assert main(["plot-bands", str(bands), str(bundle / "expBandStruct_0.par"), "-o", str(stem),
                 "--labels", "sepm", "reference", "--window", "-14", "8", "--title", "GaAs"]) == 0
    report = json.loads(Path(f"{stem}.json").read_text())
    assert report["k_axis"] == "k path (1/Bohr)"  # both paths are the bundle's, in 1/Bohr
    ours, ref = report["tables"]
    # the reference: VB top column 7 found past the ionic gap (slots 1 | 2), Γ15v -5.4424, Γ1c -3.9234 eV
    assert ref["vb_band"] == 8 and ref["vb_source"] == "highest band gap in the table"
    assert ref["vbm"] == pytest.approx(-5.4424) and ref["cbm"] == pytest.approx(-3.9234)
    assert ref["gap"] == pytest.approx(1.519, abs=1e-9) and ref["is_direct"]
    assert ref["vbm_k"] == ref["cbm_k"] == ref["direct_k"] == 20 and ref["vbm_label"] == "Γ"
    # ours: the header names the bundle, so k-points (labels) are known; numbers equal the table's at Γ
    table = np.loadtxt(bands)
    assert ours["vbm_k"] == ours["cbm_k"] == 20 and ours["cbm_label"] == "Γ" and ours["is_direct"]
    assert ours["gap"] == pytest.approx(table[20, 2 + 8] - table[20, 2 + 7], abs=1e-9)
    assert ours["vbm"] == pytest.approx(table[:, 2 + 7].max()) and ours["cbm"] == pytest.approx(table[:, 2 + 8].min())
    assert 1.6 < ours["gap"] < 1.9  # maxKE 3 Ha: 1.78 eV (1.67 at maxKE 4) against the 1.52 eV reference
    assert ours["shift"] == pytest.approx(-ours["vbm"])
    for ext in ("png", "pdf"):
        assert Path(f"{stem}.{ext}").stat().st_size > 10_000


def test_qe_xml_filband_and_berkeleygw_tables(tmp_path):
    xml, fb = read_band_table(XML), read_band_table(FILBAND)
    assert xml.format == "qe-xml" and fb.format == "qe-filband"
    assert xml.vb_index == fb.vb_index == 3 and "nelec = 8" in fb.vb_source  # from the XML next to filband
    assert fb.distance_unit == "1/Bohr" and np.allclose(fb.distance, xml.distance, atol=1e-6)
    # BerkeleyGW tables made from the same run: eqp1.dat (k fractional) with a 0.5 eV scissor on the conduction
    # bands, and inteqp bandstructure.dat (k in 1/Bohr, bands outermost)
    qe = read_qe_xml(XML)
    lines = []
    for k, e in zip(qe.kpoints_frac, qe.energies):
        lines.append(f"{k[0]:.9f} {k[1]:.9f} {k[2]:.9f} {len(e)}")
        lines += [f"1 {b + 1} {v:.6f} {v + (0.5 if b >= 4 else 0.0):.6f}" for b, v in enumerate(e)]
    (tmp_path / "eqp1.dat").write_text("\n".join(lines) + "\n")
    kcart = qe.kpoints_cart * 2 * np.pi / qe.structure.alat
    rows = [f"1 {b + 1} {k[0]:.9f} {k[1]:.9f} {k[2]:.9f} {v:.6f} {v:.6f} 0.0"
            for b in range(qe.energies.shape[1]) for k, v in zip(kcart, qe.energies[:, b])]
    (tmp_path / "bs.txt").write_text("# spin band kx ky kz E_mf E_qp dE\n" + "\n".join(rows) + "\n")
    assert detect_format(tmp_path / "eqp1.dat") == "bgw-eqp"
    assert detect_format(tmp_path / "bs.txt") == "bgw-bandstructure"  # from the content, whatever the name
    stem = tmp_path / "si"
    summaries = plot_band_files([xml, fb, read_band_table(tmp_path / "eqp1.dat"),
                                 read_band_table(f"bgw-bandstructure:{tmp_path / 'bs.txt'}")], stem,
                                labels=["xml", "filband", "eqp", "inteqp"], window=(-13, 8))
    s_xml, s_fb, s_eqp, s_bs = summaries
    # Si LDA: VBM at Γ (k 10), CBM at 80 % of Γ-X (k 18), Eg 0.547 eV, direct gap at Γ 2.565 eV
    assert s_xml["vbm_k"] == 10 and s_xml["cbm_k"] == 18 and not s_xml["is_direct"]
    assert s_xml["vbm_label"] == "Γ" and s_xml["cbm_label"] == "(2/5,2/5,0)" and s_xml["direct_label"] == "Γ"
    assert s_xml["gap"] == pytest.approx(0.546863, abs=1e-5)
    assert s_xml["direct_gap"] == pytest.approx(2.564554, abs=1e-5)
    assert s_fb["gap"] == pytest.approx(s_xml["gap"], abs=2e-3)  # filband is rounded to meV
    assert s_eqp["vb_band"] == 4 and s_eqp["vb_source"] == "highest band gap in the table"
    assert s_eqp["gap"] == pytest.approx(s_xml["gap"] + 0.5, abs=2e-6) and s_eqp["cbm_k"] == 18
    assert s_bs["gap"] == pytest.approx(s_xml["gap"], abs=2e-6)
    assert s_bs["cbm_label"] == "(2/5,2/5,0)"  # inteqp's Cartesian k made fractional with the XML's lattice
    report = json.loads(Path(f"{stem}.json").read_text())
    assert report["k_axis"] == "k path (1/Bohr)"  # eqp's fractional path converted with the XML's lattice
    assert Path(f"{stem}.png").stat().st_size > 10_000


def test_mixed_paths_are_normalized_and_vb_index_is_used(gaas_bands, tmp_path):
    _, bands = gaas_bands
    stem = tmp_path / "mix"
    assert main(["plot-bands", str(bands), str(XML), "-o", str(stem), "--align", "none", "--vb-band", "8", "4"]) == 0
    report = json.loads(Path(f"{stem}.json").read_text())
    assert report["k_axis"].startswith("k path (normalized")
    gaas, si = report["tables"]
    assert gaas["vb_source"] == si["vb_source"] == "given" and gaas["shift"] == si["shift"] == 0.0
    # a wrong index moves the gap: column 5 of GaAs is inside the degenerate valence bands
    summary = plot_band_files([read_band_table(bands, vb_index=5)], tmp_path / "wrong")[0]
    assert summary["gap"] < 0.01


def test_detection_names_and_errors(tmp_path):
    ref = np.loadtxt(BUNDLES / "GaAs" / "expBandStruct_0.par")[:, 1:]
    assert detect_vb_index(ref) == 7  # not 1: the ionic gap below is not the highest one
    lattice = 10.683 * np.array([[0.0, 0.5, 0.5], [0.5, 0.0, 0.5], [0.5, 0.5, 0.0]])
    names = [point_name(k, lattice) for k in ([0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 1.0],
                                              [0.375, 0.375, 0.75], [0.1, 0, 0])]
    assert names == ["Γ", "L", "X", "X", "K", "(1/10,0,0)"]
    assert point_name([0.5, 0.5, 0.5], 11.0 * np.eye(3)) == "R"
    (tmp_path / "junk.txt").write_text("hello world\nnot a table\n")
    with pytest.raises(InputError, match="junk.txt: cannot tell the band-table format"):
        read_band_table(tmp_path / "junk.txt")
    with pytest.raises(InputError, match="missing.dat: file not found"):
        read_band_table(f"qe-filband:{tmp_path / 'missing.dat'}")
    with pytest.raises(InputError, match="valence-band top: band 9 out of range 1..7"):
        read_band_table(XML, vb_index=8)  # the library's index is 0-based, the message's band number 1-based
    bad = tmp_path / "expBandStruct_0.par"
    bad.write_text("0.0 1.0 2.0\n0.1 1.1 x\n")
    with pytest.raises(InputError, match=r"expBandStruct_0.par:2: .*'x'"):
        read_band_table(bad)
    assert main(["plot-bands", str(XML), str(FILBAND), "-o", str(tmp_path / "p"), "--vb-band", "1", "2", "3"]) == 2
    assert not (tmp_path / "p.png").exists()


def test_band_plot_window_honours_each_key_alone_and_leaves_placeholders_out():
    from sepm.evaluate import plot_window

    e = np.array([[-100.0, -9.7, -2.0, 1.5]])  # a DeepPseudopot placeholder column at -100 eV
    assert plot_window({"BS_plot_center": -3.8}, e) == pytest.approx((-13.8, 6.2))  # the original's range 10
    assert plot_window({"BS_plot_CBVB_range": 4.0}, e) == (-4.0, 4.0)
    assert plot_window({"BS_plot_center": -3.0, "BS_plot_CBVB_range": [2.0, 5.0]}, e) == (-5.0, 2.0)
    assert plot_window({}, e) == pytest.approx((-10.7, 2.5))


def test_band_plot_skips_placeholder_rows_marks_the_gap_and_puts_the_vbm_at_zero(monkeypatch, tmp_path):
    from sepm import plotting

    figures = []
    monkeypatch.setattr(plotting, "save_figure", lambda fig, stem: figures.append(fig))
    k = np.array([[0.0, 0, 0], [0.25, 0, 0], [0.5, 0, 0]])
    bands = np.array([[-1.0, 0.5, 2.0], [-1.2, 0.2, 2.5], [-1.5, 0.1, 3.0]])  # VBM 0.5 (k0), CBM 2.0 (k0)
    reference = np.column_stack([np.full(3, -100.0), bands[:, 1:] + 0.1])
    plotting.plot_bands(tmp_path / "b", np.arange(3.0), bands, k, reference, vb_index=1, vbm_zero=True)
    ax = figures[0].axes[0]
    drawn = np.concatenate([np.asarray(line.get_ydata(), dtype=float).ravel() for line in ax.lines])
    assert np.nanmin(drawn) == pytest.approx(-1.5 - 0.5) and not np.any(drawn < -50)
    markers = [line for line in ax.lines if line.get_marker() in ("^", "v") and len(line.get_xdata())]
    assert [float(m.get_ydata()[0]) for m in markers] == pytest.approx([0.0, 1.5])
    assert ax.get_legend().get_texts()[-1].get_text() == "gap 1.500 eV, direct (Γ→Γ)"
    assert ax.get_ylabel() == "Energy - VBM (eV)"
    bands[2, 1] = 2.2  # band 2 reaches above band 3's bottom: no gap, said instead of a negative one
    plotting.plot_bands(tmp_path / "c", np.arange(3.0), bands, k, None, vb_index=1)
    assert figures[1].axes[0].get_legend().get_texts()[0].get_text() == "no gap: CBM 0.200 eV below the VBM (band 2)"
