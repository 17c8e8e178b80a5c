"""Bundle reader: the shipped bundles read with the right facts, and every kind of bad input is
reported as ``path:line: message`` (all defects of a bundle at once)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from sepm.errors import InputError
from sepm.io import (
    read_beta_schedule,
    read_bundle,
    read_mc_options,
    read_numbers,
    read_param_steps,
    read_table,
)

BUNDLES = Path(__file__).resolve().parents[1] / "resources" / "bundles"
ALL = ["GaAs", "InGaAsP", "CdSe", "CsPbI3_soc", "CsPbI3_mc"]


def copy_bundle(tmp_path: Path, name: str = "GaAs") -> Path:
    dst = tmp_path / name
    shutil.copytree(BUNDLES / name, dst)
    return dst


def edit(path: Path, line: int, text: str | None) -> None:
    """Replace 1-based ``line`` of ``path`` by ``text`` (None deletes it)."""
    lines = path.read_text().splitlines()
    if text is None:
        del lines[line - 1]
    else:
        lines[line - 1] = text
    path.write_text("\n".join(lines) + "\n")


def append(path: Path, text: str) -> None:
    body = path.read_text()
    path.write_text(body + ("" if body.endswith("\n") else "\n") + text + "\n")


def errors(bundle: Path, **kw) -> str:
    with pytest.raises(InputError) as info:
        read_bundle(bundle, **kw)
    return str(info.value)


def has(message: str, path: Path, line: int | None, fragment: str) -> bool:
    where = f"{path}:{line}: " if line is not None else f"{path}: "
    return any(m.startswith(where) and fragment in m for m in message.splitlines())


# ----------------------------------------------------------------------------------------- real bundles
@pytest.mark.parametrize("name", ALL)
def test_every_shipped_bundle_reads(name):
    b = read_bundle(BUNDLES / name)
    assert b.config["nSystem"] == len(b.systems) >= 1
    assert b.species == sorted(b.species)
    for s in b.systems:
        assert s.cell.shape == (3, 3) and s.frac.shape == (len(s.atom_species), 3)
        np.testing.assert_allclose(s.lattice, s.scale * s.cell)
        assert s.kpoints.shape == (len(s.kweights), 3)
        assert s.band_weights.shape == (s.nbands,)
        if s.ref_bands is not None:
            assert s.ref_bands.shape == (len(s.kpoints), s.nbands) and s.ref_path.shape == (len(s.kpoints),)
    for sym in b.species:
        assert b.params[sym].shape == (9,) and b.params[sym].dtype == np.float64


def test_gaas_facts():
    b = read_bundle(BUNDLES / "GaAs")
    assert len(b.systems) == 1 and b.species == ["As", "Ga"]
    s = b.systems[0]
    assert s.name == "system_0" and s.nbands == 16 and s.maxke == 6.0
    assert s.kpoints.shape == (61, 3) and s.kweights[0] == 10.0 and s.kweights[1] == 1.0
    assert s.scale == 10.683 and s.atom_species == ["Ga", "As"]
    np.testing.assert_allclose(s.frac[1], [-0.125] * 3)
    assert s.band_weights[6] == 20 and s.band_weights[0] == 1
    assert s.ref_bands.shape == (61, 16) and s.ref_bands[0, 0] == -16.1820 and s.ref_path[1] == 0.0255
    assert s.order_matrix is None and s.defpot_rows is None
    assert b.params["Ga"][0] == 50.77526879 and np.all(b.params["Ga"][5:] == 0)
    assert "GaAs/init_GaParams.par: 5 of 9 parameters given; a5..a8 set to 0" in b.notices
    assert b.config["max_num_epochs"] == 600 and b.config["hiddenLayers"] == [20, 20, 20]
    assert b.config["SObool"] is False and b.config["optimizer"] == "adam" and "PPmodel" not in b.config
    assert "GaAs/NN_config.par: no PPmodel given (needed only by stages that build a network)" in b.config_notices()
    assert b.optional_files == {}


def test_ingaasp_facts():
    b = read_bundle(BUNDLES / "InGaAsP")
    assert len(b.systems) == 4 and b.species == ["As", "Ga", "In", "P"]
    assert [s.atom_species for s in b.systems] == [["In", "As"], ["In", "P"], ["Ga", "As"], ["Ga", "P"]]
    assert b.systems[3].scale == 10.2980625 and b.systems[0].band_weights[10] == 5.0


def test_cspbi3_soc_without_nn_config():
    b = read_bundle(BUNDLES / "CsPbI3_soc")
    assert b.config["nSystem"] == 1 and b.config["SObool"] is True
    assert any("nSystem = 1 inferred" in n for n in b.notices)
    assert any("SObool = 1 inferred" in n for n in b.notices)
    s = b.systems[0]
    assert s.nbands == 32 and s.maxke == 10.0 and len(s.kpoints) == 8
    assert s.ref_bands is None and s.ref_path is None
    assert b.species == ["Cs", "I", "Pb"] and b.params["Pb"][5] == 7.7899


def test_sobool_inferred_zero_without_soc_parameters(tmp_path):
    bundle = copy_bundle(tmp_path, "CsPbI3_soc")
    for sym in ("Cs", "I", "Pb"):
        path = bundle / f"init_{sym}Params.par"
        for line in (6, 7, 8):
            edit(path, line, "0.0")
    b = read_bundle(bundle)
    assert b.config["SObool"] is False and any("SObool = 0 inferred" in n for n in b.notices)


def test_cdse_ignores_unused_parameter_file():
    b = read_bundle(BUNDLES / "CdSe")
    assert b.species == ["Cd", "Se"] and "S" not in b.params
    assert any("init_SParams.par" in n and "not used" in n for n in b.notices)
    assert b.config["SObool"] is True and b.systems[0].maxke == 10.0


def test_cspbi3_mc_options():
    b = read_bundle(BUNDLES / "CsPbI3_mc")
    s = b.systems[0]
    assert s.settings["idxVB"] == 25 and s.settings["idxCB"] == 26 and s.settings["idxGap"] == 0
    assert [p.name for p in b.optional_files["mcOpts"]] == ["mcOpts1.par", "mcOpts2.par"]
    opts = read_mc_options(b.optional_files["mcOpts"][1])
    assert opts == {"betas": [100.0, 1.0], "stepsAtTemp": [5, 5], "tempStepSizeMod": [1.0, 1.0],
                    "totalIter": 20, "fitDefPot": False, "fitCoupling": True, "optGaps": True}


def test_lexical_variants_accepted(tmp_path):
    """CRLF, tabs, comments, trailing blanks, Fortran exponents, no final newline."""
    bundle = copy_bundle(tmp_path)
    k = bundle / "kpoints_0.par"
    lines = k.read_text().splitlines()
    lines[0] = "0.5D0\t0.5  0.5E0   1.0D1   # L point  "
    k.write_bytes(("# header comment\r\n\r\n" + "\r\n".join(lines)).encode())
    edit(bundle / "input_0.par", 1, "maxKE = 6   # Hartree")
    b = read_bundle(bundle)
    s = b.systems[0]
    assert s.kweights[0] == 10.0 and np.allclose(s.kpoints[0], 0.5) and len(s.kpoints) == 61


def test_optional_system_files_read(tmp_path):
    bundle = copy_bundle(tmp_path)
    (bundle / "kpoints_0_orderMatrix.par").write_text(("\t".join(str(i) for i in range(16)) + "\n") * 61)
    (bundle / "expDefPot_0.par").write_text("30 10 30 12 1.01 -8.5 1.0\n# comment\n30 10 0 12 0.99 -7.0 0.5\n")
    (bundle / "input_0.par").write_text("maxKE = 6\nnBands = 16\nfit_defPot = 1\nsystemName = GaAs\n"
                                        "idxVB = 9\nidxCB = 10\nrelE_perK_bIdx = 9 10\nBS_plot_CBVB_range = -2 3\n")
    (bundle / "GaParamSteps.par").write_text("0.1\n0.01\n")
    (bundle / "mc_beta_schedule").write_text("0 10\n100 100\n")
    b = read_bundle(bundle)
    s = b.systems[0]
    assert s.name == "GaAs" and s.settings["fit_defPot"] is True and s.settings["relE_perK_bIdx"] == [9, 10]
    assert s.order_matrix.shape == (61, 16) and s.order_matrix.dtype == np.int64 and s.order_matrix[3, 15] == 15
    assert s.defpot_rows.shape == (2, 7) and s.defpot_rows[1, 5] == -7.0
    assert b.optional_files["GaParamSteps"] == bundle / "GaParamSteps.par"
    assert b.optional_files["mc_beta_schedule"] == bundle / "mc_beta_schedule"


# ----------------------------------------------------------------------------------------- NN_config
def test_unknown_key_did_you_mean(tmp_path):
    bundle = copy_bundle(tmp_path)
    edit(bundle / "NN_config.par", 3, "hiddenLayer = 20")
    assert has(errors(bundle), bundle / "NN_config.par", 3, "unknown key 'hiddenLayer' (did you mean 'hiddenLayers'?)")


def test_bad_value_type(tmp_path):
    bundle = copy_bundle(tmp_path)
    edit(bundle / "NN_config.par", 2, "nSystem = two")
    edit(bundle / "NN_config.par", 1, "SHOWPLOTS = maybe")
    msg = errors(bundle)
    assert has(msg, bundle / "NN_config.par", 2, "nSystem: 'two' is not an integer")
    assert has(msg, bundle / "NN_config.par", 1, "SHOWPLOTS: 'maybe' is not a boolean")


def test_missing_nsystem_and_malformed_line(tmp_path):
    bundle = copy_bundle(tmp_path)
    edit(bundle / "NN_config.par", 2, "just some words")
    msg = errors(bundle)
    assert has(msg, bundle / "NN_config.par", 2, "expected 'key = value'")
    assert has(msg, bundle / "NN_config.par", None, "required key 'nSystem' is missing")


def test_mc_bool_with_epochs_rejected(tmp_path):
    bundle = copy_bundle(tmp_path)
    append(bundle / "NN_config.par", "mc_bool = 1   # Monte Carlo")
    msg = errors(bundle)
    assert has(msg, bundle / "NN_config.par", 14, "mc_bool = 1 (line 14) and max_num_epochs = 600 (line 10)")
    assert "mutually exclusive" in msg


def test_duplicate_key(tmp_path):
    bundle = copy_bundle(tmp_path)
    append(bundle / "NN_config.par", "nSystem = 1")
    assert has(errors(bundle), bundle / "NN_config.par", 14, "key 'nSystem' given twice (first on line 2)")


# ----------------------------------------------------------------------------------------- system_X
def test_system_file_defects(tmp_path):
    bundle = copy_bundle(tmp_path)
    path = bundle / "system_0.par"
    edit(path, 1, "scael = 10.683")
    edit(path, 5, "0.5 0.0")
    edit(path, 9, "Ga 0.125 0.125")
    edit(path, 10, "As -0.125 x -0.125")
    msg = errors(bundle)
    assert has(msg, path, 1, "unknown key 'scael' (did you mean 'scale'?)")
    assert has(msg, path, None, "missing 'scale = <Bohr>'")
    assert has(msg, path, 5, "expected 3 columns (cell vector x y z), found 2")
    assert has(msg, path, 9, "expected 4 columns (Sym f1 f2 f3), found 3")
    assert has(msg, path, 10, "column 3: 'x' is not a number")


def test_system_cell_rows_and_no_atoms(tmp_path):
    bundle = copy_bundle(tmp_path)
    path = bundle / "system_0.par"
    path.write_text("scale = 10\ncell\n0 0.5 0.5\n0.5 0 0.5\natoms\n")
    msg = errors(bundle)
    assert has(msg, path, 2, "cell block has 2 rows, expected 3")
    assert has(msg, path, 5, "no atoms given")


def test_singular_cell(tmp_path):
    bundle = copy_bundle(tmp_path)
    edit(bundle / "system_0.par", 6, "0.5 0.5 1.0")
    assert has(errors(bundle), bundle / "system_0.par", 3, "singular cell")


# ----------------------------------------------------------------------------------------- input / k / bands
def test_input_defects(tmp_path):
    bundle = copy_bundle(tmp_path)
    (bundle / "input_0.par").write_text("nbands = 16\nidxVB = 40\n")
    msg = errors(bundle)
    assert has(msg, bundle / "input_0.par", 1, "unknown key 'nbands' (did you mean 'nBands'?)")
    assert has(msg, bundle / "input_0.par", None, "required key 'maxKE'")
    assert has(msg, bundle / "input_0.par", None, "required key 'nBands'")


def test_idx_out_of_range(tmp_path):
    bundle = copy_bundle(tmp_path)
    append(bundle / "input_0.par", "idxCB = 16")
    assert has(errors(bundle), bundle / "input_0.par", 3, "idxCB = 16 out of range 0..15")


def test_non_number_in_kpoints(tmp_path):
    bundle = copy_bundle(tmp_path)
    edit(bundle / "kpoints_0.par", 7, "0.35 0.35 abc 1.0")
    assert has(errors(bundle), bundle / "kpoints_0.par", 7, "column 3: 'abc' is not a number")


def test_wrong_column_count_in_kpoints(tmp_path):
    bundle = copy_bundle(tmp_path)
    edit(bundle / "kpoints_0.par", 5, "0.4 0.4 0.4")
    assert has(errors(bundle), bundle / "kpoints_0.par", 5, "expected 4 columns (k1 k2 k3 weight), found 3")


def test_nbands_disagrees_with_reference_bands(tmp_path):
    bundle = copy_bundle(tmp_path)
    path = bundle / "expBandStruct_0.par"
    edit(path, 4, " ".join(path.read_text().splitlines()[3].split()[:-2]))
    assert has(errors(bundle), path, 4, "expected 17 columns (path distance + nBands = 16 from input_0.par), found 15")


def test_nbands_disagrees_with_band_weights(tmp_path):
    bundle = copy_bundle(tmp_path)
    path = bundle / "bandWeights_0.par"
    edit(path, 16, None)
    assert has(errors(bundle), path, 15, "15 band weights, but input_0.par has nBands = 16")
    append(path, "1.0\n2.0")
    assert has(errors(bundle), path, 17, "17 band weights, but input_0.par has nBands = 16")


def test_nbands_disagrees_with_order_matrix(tmp_path):
    bundle = copy_bundle(tmp_path)
    path = bundle / "kpoints_0_orderMatrix.par"
    path.write_text((" ".join(str(i) for i in range(15)) + "\n") * 61)
    assert has(errors(bundle), path, 1, "expected 16 columns (nBands = 16 from input_0.par), found 15")


def test_input_nbands_change_reported_in_all_files(tmp_path):
    bundle = copy_bundle(tmp_path)
    edit(bundle / "input_0.par", 2, "nBands = 14")
    msg = errors(bundle)
    assert has(msg, bundle / "expBandStruct_0.par", 1, "expected 15 columns (path distance + nBands = 14")
    assert has(msg, bundle / "bandWeights_0.par", 15, "16 band weights, but input_0.par has nBands = 14")


def test_kpoint_count_disagrees(tmp_path):
    bundle = copy_bundle(tmp_path)
    edit(bundle / "kpoints_0.par", 61, None)
    msg = errors(bundle)
    assert has(msg, bundle / "expBandStruct_0.par", 61, "61 rows of reference bands, but kpoints_0.par has 60 k-points")
    bundle2 = copy_bundle(tmp_path / "b", "GaAs")
    ref = bundle2 / "expBandStruct_0.par"
    append(ref, ref.read_text().splitlines()[-1])
    assert has(errors(bundle2), ref, 62, "62 rows of reference bands, but kpoints_0.par has 61 k-points")


def test_defpot_rows_checked(tmp_path):
    bundle = copy_bundle(tmp_path)
    path = bundle / "expDefPot_0.par"
    path.write_text("30 10 30 12 1.01 -8.5 1.0\n61 10 30 16 1.0 -1 1\n0.5 1 2 3 0 1 -1\n1 2 3\n")
    msg = errors(bundle)
    assert has(msg, path, 2, "column 1: index 61 out of range (0..60, kpoints_0.par has 61 k-points)")
    assert has(msg, path, 2, "column 4: index 16 out of range (0..15, nBands = 16 from input_0.par)")
    assert has(msg, path, 3, "column 1: 0.5 is not a non-negative integer index")
    assert has(msg, path, 2, "column 5: latConst_ratio = 1 is no strain")  # D divides by 1 - ratio^3
    assert has(msg, path, 3, "column 5: latConst_ratio must be > 0")
    assert has(msg, path, 3, "column 7: weight must be >= 0")
    assert has(msg, path, 4, "expected 7 columns")


def test_fit_defpot_needs_file(tmp_path):
    bundle = copy_bundle(tmp_path)
    append(bundle / "input_0.par", "fit_defPot = 1")
    assert has(errors(bundle), bundle / "input_0.par", 3, "fit_defPot = 1 but expDefPot_0.par is missing")


# ----------------------------------------------------------------------------------------- species params
def test_missing_species_parameters(tmp_path):
    bundle = copy_bundle(tmp_path, "InGaAsP")
    (bundle / "init_InParams.par").unlink()
    msg = errors(bundle)
    assert has(msg, bundle / "system_0.par", 9, "species 'In' has no parameter file init_InParams.par")
    assert has(msg, bundle / "system_1.par", 9, "species 'In' has no parameter file")


def test_parameter_file_defects(tmp_path):
    bundle = copy_bundle(tmp_path)
    path = bundle / "init_GaParams.par"
    path.write_text("1\n2\nthree\n" + "0\n" * 7)
    msg = errors(bundle)
    assert has(msg, path, 3, "column 1: 'three' is not a number")
    assert has(msg, path, 10, "more than 9 parameters")


def test_fortran_exponent_in_parameters(tmp_path):
    bundle = copy_bundle(tmp_path)
    (bundle / "init_GaParams.par").write_text("5.077526879D1\n2.3\n3.7\n0.59\n0.8\n1.0d-1\n")
    b = read_bundle(bundle)
    assert b.params["Ga"][0] == pytest.approx(50.77526879) and b.params["Ga"][5] == 0.1
    assert "GaAs/init_GaParams.par: 6 of 9 parameters given; a6..a8 set to 0" in b.notices


# ----------------------------------------------------------------------------------------- missing files
def test_missing_required_files(tmp_path):
    bundle = copy_bundle(tmp_path, "InGaAsP")
    (bundle / "kpoints_1.par").unlink()
    (bundle / "input_3.par").unlink()
    (bundle / "system_2.par").unlink()
    msg = errors(bundle)
    assert has(msg, bundle / "kpoints_1.par", None, "file not found")
    assert has(msg, bundle / "input_3.par", None, "file not found")
    assert has(msg, bundle / "system_2.par", None, "file not found")


def test_require_reference(tmp_path):
    assert read_bundle(BUNDLES / "CsPbI3_soc").systems[0].ref_bands is None
    msg = errors(BUNDLES / "CsPbI3_soc", require_reference=True)
    assert has(msg, BUNDLES / "CsPbI3_soc" / "expBandStruct_0.par", None, "file not found")


def test_no_bundle_folder(tmp_path):
    assert has(errors(tmp_path / "nope"), tmp_path / "nope", None, "bundle folder not found")
    (tmp_path / "empty").mkdir()
    assert has(errors(tmp_path / "empty"), tmp_path / "empty" / "system_0.par", None, "file not found")


def test_all_defects_reported_together(tmp_path):
    bundle = copy_bundle(tmp_path)
    edit(bundle / "NN_config.par", 3, "hiddenLayer = 20")
    edit(bundle / "kpoints_0.par", 7, "0.35 0.35 abc 1.0")
    edit(bundle / "bandWeights_0.par", 2, "heavy")
    (bundle / "init_AsParams.par").unlink()
    with pytest.raises(InputError) as info:
        read_bundle(bundle)
    lines = str(info.value).splitlines()
    assert len(info.value.defects) == len(lines) == 4
    assert lines[0].startswith(f"{bundle / 'NN_config.par'}:3: ")
    assert any(m.startswith(f"{bundle / 'kpoints_0.par'}:7: ") for m in lines)
    assert any(m.startswith(f"{bundle / 'bandWeights_0.par'}:2: column 1: 'heavy'") for m in lines)
    assert any(m.startswith(f"{bundle / 'system_0.par'}:10: species 'As'") for m in lines)


# ----------------------------------------------------------------------------------------- MC helper files
def test_mc_options_defects(tmp_path):
    bundle = copy_bundle(tmp_path, "CsPbI3_mc")
    path = bundle / "mcOpts1.par"
    edit(path, 2, "stepsAtTemp = 5 5 5")
    edit(path, 5, "fitDefPot = nope")
    append(path, "optGap = True")
    msg = errors(bundle)
    assert has(msg, path, 2, "stepsAtTemp has 3 entries but betas (line 1) has 2")
    assert has(msg, path, 5, "fitDefPot: 'nope' is not a boolean")
    assert has(msg, path, 8, "unknown key 'optGap' (did you mean 'optGaps'?)")


def test_param_steps_and_beta_schedule(tmp_path):
    steps = tmp_path / "PbParamSteps.par"
    steps.write_text("0.1\n0.2\n0.3\n")
    np.testing.assert_array_equal(read_param_steps(steps), [0.1, 0.2, 0.3, 0, 0, 0, 0, 0, 0])
    steps.write_text("\n".join(["1"] * 10))
    with pytest.raises(InputError, match=f"{steps}:10: more than 9"):
        read_param_steps(steps)
    sched = tmp_path / "mc_beta_schedule"
    sched.write_text("0 1\n50 10\n100 100\n")
    assert read_beta_schedule(sched).shape == (3, 2)
    sched.write_text("0 1\n50 10 3\n20 -1\n")
    with pytest.raises(InputError) as info:
        read_beta_schedule(sched)
    msg = str(info.value)
    assert has(msg, sched, 2, "expected 2 columns (iteration beta), found 3")
    assert has(msg, sched, 3, "column 2: beta must be > 0")


def test_table_helpers_return_line_numbers(tmp_path):
    path = tmp_path / "t.par"
    path.write_text("# c\n1 2\n\n3 4   \n")
    table, lines = read_table(path, 2)
    assert table.tolist() == [[1, 2], [3, 4]] and lines == [2, 4]
    values, lines = read_numbers(path)
    assert values.tolist() == [1, 2, 3, 4] and lines == [2, 2, 4, 4]
    path.write_text("1 nan\n")
    with pytest.raises(InputError, match=f"{path}:1: column 2: 'nan' is not a number"):
        read_table(path, 2)


# ----------------------------------------------------------------------------------------- sane values (issue 11)
def test_coincident_atoms_name_both_lines(tmp_path):
    bundle = copy_bundle(tmp_path)
    path = bundle / "system_0.par"
    append(path, "Ga 0.125 0.125 0.125")  # the Ga site again
    append(path, "As 0.875 -0.125 0.875")  # the As site one lattice vector a1 + a3 away
    append(path, "As 0.376 0.376 0.376")  # a distinct site
    n = len(path.read_text().splitlines())
    msg = errors(bundle)
    assert has(msg, path, n - 2, "atom Ga coincides with the Ga atom on line 9; remove one of them")
    assert has(msg, path, n - 1, "atom As coincides with the As atom on line 10, 1 0 1 lattice vectors away")
    assert len(msg.splitlines()) == 2


def test_non_utf8_byte_names_its_line(tmp_path):
    bundle = copy_bundle(tmp_path)
    path = bundle / "input_0.par"
    path.write_bytes(b"maxKE = 6\nnBands = 16  # \xe9\n")
    msg = errors(bundle)
    assert has(msg, path, 2, "byte 0xe9 at column 16 is not UTF-8 text") and len(msg.splitlines()) == 1


def test_nsystem_beyond_the_files_names_the_nsystem_line(tmp_path):
    bundle = copy_bundle(tmp_path)
    edit(bundle / "NN_config.par", 2, "nSystem = 2")
    msg = errors(bundle)
    assert has(msg, bundle / "NN_config.par", 2, "nSystem = 2 but the bundle has only system_0.par; system_1.par "
               "is missing") and len(msg.splitlines()) == 1


def test_absurd_parameters_and_kpoints(tmp_path):
    bundle = copy_bundle(tmp_path)
    edit(bundle / "init_GaParams.par", 1, "1e300")
    edit(bundle / "kpoints_0.par", 3, "0.45 1e200 0.45 1.0")
    msg = errors(bundle)
    assert has(msg, bundle / "init_GaParams.par", 1, "a0 = 1e+300 is beyond +-100000")
    assert has(msg, bundle / "kpoints_0.par", 3, "column 2: k2 = 1e+200 is beyond +-100")


def test_zunger_pole_inside_the_q_range(tmp_path):
    bundle = copy_bundle(tmp_path)
    path = bundle / "init_GaParams.par"
    edit(path, 3, "0.5")  # a2 exp(a3 q^2) = 1 at q = sqrt(ln 2 / a3)
    edit(path, 4, "0.1")
    assert has(errors(bundle), path, 3, "a2 = 0.5 with a3 = 0.1 (line 4): the Zunger denominator a2 exp(a3 q^2) - 1 "
               f"is zero at q = {np.sqrt(np.log(2) / 0.1):.4g} 1/Bohr, inside the q range used (0 .. 10 1/Bohr)")
    edit(path, 4, "0.001")  # the pole moves to q = 26 1/Bohr, beyond the basis (6.9) and the prior fit (10)
    read_bundle(bundle)


def test_basis_memory_is_checked_before_any_allocation(tmp_path, monkeypatch):
    import sepm.basis

    monkeypatch.setattr(sepm.basis, "sphere_miller_indices", None)  # building a basis would fail
    bundle = copy_bundle(tmp_path)
    edit(bundle / "input_0.par", 1, "maxKE = 1e6")
    volume = 10.683**3 / 4  # fcc
    n = volume * (2e6) ** 1.5 / (6 * np.pi**2)
    assert has(errors(bundle), bundle / "input_0.par", 1, f"maxKE = 1e+06 Ha gives about {n:.3g} plane waves "
               f"(Hamiltonian dimension {n:.3g}); one k-point needs about {n * n * 96 / 2**30:.3g} GiB, more than "
               "this machine's memory")
    edit(bundle / "input_0.par", 1, "maxKE = 40")
    append(bundle / "NN_config.par", "memory_limit_GB = 0.5")
    n = volume * 80**1.5 / (6 * np.pi**2)
    need = n * n * 96 / 2**30
    assert has(errors(bundle), bundle / "input_0.par", 1, f"one k-point needs about {need:.3g} GiB, more than "
               f"memory_limit_GB = 0.5 (NN_config.par line 14); lower maxKE (about {40 * (0.5 / need) ** (1 / 3):.3g} "
               "Ha fits) or raise memory_limit_GB")


def test_basis_size_estimate_matches_the_sphere():
    from sepm.basis import sphere_miller_indices
    from sepm.io.limits import estimated_basis_size

    lattice = 10.683 * np.array([[0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    reciprocal = 2 * np.pi * np.linalg.inv(lattice).T
    for maxke, rel in ((6.0, 0.2), (20.0, 0.02), (60.0, 0.02)):  # shells make small spheres uneven
        exact = len(sphere_miller_indices(reciprocal, lattice, maxke))
        assert estimated_basis_size(lattice, maxke) == pytest.approx(exact, rel=rel)


def test_overridden_memory_limit_is_checked_with_its_origin(tmp_path):
    from sepm.fitting.stage import FitSetup

    bundle = copy_bundle(tmp_path)
    edit(bundle / "input_0.par", 1, "maxKE = 40")
    append(bundle / "NN_config.par", "PPmodel = ZeroFunction")
    with pytest.raises(InputError, match=r"input_0.par:1: .* more than memory_limit_GB = 0.5 \(--set\)"):
        FitSetup(bundle, ["memory_limit_GB=0.5"])


def test_nbands_beyond_the_basis(tmp_path):
    bundle = copy_bundle(tmp_path)
    # fcc a = 10.683 Bohr: G = 0, then the 8 <111> waves at |G|^2 / 2 = 1.5 (2 pi / a)^2 = 0.519 Ha
    edit(bundle / "input_0.par", 1, "maxKE = 0.5")
    assert has(errors(bundle), bundle / "input_0.par", 2, "nBands = 16 needs 8 levels but maxKE = 0.5 Ha (line 1) "
               "gives a basis of only 1 states; raise maxKE or lower nBands")
    edit(bundle / "input_0.par", 1, "maxKE = 0.53")  # 9 plane waves: 8 levels fit
    read_bundle(bundle)
