"""High-symmetry k-paths (`sepm kpath`, `sepm bands --kpath`) on the shipped bundles, and labelled plots."""

import numpy as np
import pytest
import torch

from crystals import BUNDLES
from sepm.bands import band_energies, system_hamiltonian
from sepm.cli import main
from sepm.crystal import Crystal
from sepm.io import read_bundle, read_table
from sepm.plotting import lattice_namer, path_ticks
from sepm.pseudopotential import Pseudopotential
from sepm.structure import high_symmetry_path, read_cell, read_kpoint_labels, write_kpoints

GAAS = read_cell(BUNDLES / "GaAs")
A_GAAS = 10.683


def cartesian_points(crystal, path):
    """{label: [Cartesian k (1/Bohr), ...]} of the labelled rows."""
    out = {}
    for i, name in path.labels.items():
        out.setdefault(name, []).append(path.kfrac[i] @ crystal.reciprocal)
    return out


def star_form(k, unit):
    """Sorted |components| of k in units of ``unit``: the same for every point of a cubic star."""
    return np.sort(np.abs(np.asarray(k) / unit))


def random_rotation(seed=5):
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


@pytest.mark.parametrize("frame", ["bundle", "rotated+reindexed"])
def test_fcc_path_of_gaas_has_the_right_points_in_the_input_frame(frame):
    crystal, rotation = GAAS, np.eye(3)
    if frame != "bundle":  # another orientation and another (unimodular) choice of primitive vectors
        rotation = random_rotation()
        mix = np.array([[1, 1, 0], [0, 1, 0], [0, -1, 1]])
        crystal = Crystal(mix @ GAAS.lattice @ rotation.T, GAAS.atom_species, GAAS.frac @ np.linalg.inv(mix))
    path = high_symmetry_path(crystal, density=25.0)
    assert [path.labels[i] for i in sorted(path.labels)] == ["Γ", "X", "U", "K", "Γ", "L", "W", "X"]
    assert path.label_string() == "Γ-X-U|K-Γ-L-W-X"
    unit = 2 * np.pi / A_GAAS
    expected = {"Γ": [0, 0, 0], "X": [0, 0, 1], "L": [0.5, 0.5, 0.5], "K": [0, 0.75, 0.75], "U": [0.25, 0.25, 1],
                "W": [0, 0.5, 1]}
    for name, points in cartesian_points(crystal, path).items():
        for k in points:
            k_bundle_frame = k @ rotation  # undo the rotation of the input frame
            assert star_form(k_bundle_frame, unit) == pytest.approx(expected[name], abs=1e-10), name
    x = cartesian_points(crystal, path)["X"][0] @ rotation
    assert np.linalg.norm(x) == pytest.approx(unit, rel=1e-12)
    assert np.linalg.norm(cartesian_points(crystal, path)["L"][0]) == pytest.approx(unit * np.sqrt(3) / 2, rel=1e-12)
    # density: every step within a segment is <= 1/density, and steps are uniform along each segment
    kcart = path.kfrac @ crystal.reciprocal
    steps = np.linalg.norm(np.diff(kcart, axis=0), axis=1)
    inside = np.array([i not in path.jumps for i in range(1, len(kcart))])
    assert steps[inside].max() <= 1 / 25.0 + 1e-12
    assert np.sum(steps[inside]) == pytest.approx(unit * (1 + np.sqrt(2) / 4 + 3 * np.sqrt(2) / 4 + np.sqrt(3) / 2
                                                          + np.sqrt(2) / 2 + 0.5), rel=1e-12)
    ticks = sorted(path.labels)
    for lo, hi in zip(ticks[:-1], ticks[1:]):
        if hi not in path.jumps:
            seg = steps[lo:hi]
            assert np.ptp(seg) < 1e-12 and len(seg) == max(2, int(np.ceil(seg.sum() * 25.0 - 1e-9)))


def test_simple_cubic_and_hexagonal_paths():
    cspbi3 = read_cell(BUNDLES / "CsPbI3_soc")
    path = high_symmetry_path(cspbi3, segment_points=5)
    assert path.label_string() == "Γ-X-M-Γ-R-X|R-M"
    assert len(path.kfrac) == 6 * 4 + 1 + 1  # 6 segments of 5 points sharing ends, one jump (both ends kept)
    pts = cartesian_points(cspbi3, path)
    half = np.pi / 11.884
    assert star_form(pts["X"][0], half) == pytest.approx([0, 0, 1])
    assert star_form(pts["M"][0], half) == pytest.approx([0, 1, 1])
    assert star_form(pts["R"][0], half) == pytest.approx([1, 1, 1])
    # wurtzite CdSe with the CdSe bundle's nearest-neighbour geometry: a = a_zb / sqrt 2, c = sqrt(8/3) a, u = 3/8
    cdse = read_bundle(BUNDLES / "CdSe").systems[0]
    a = cdse.scale / np.sqrt(2)
    c = a * np.sqrt(8 / 3)
    lattice = np.array([[a, 0, 0], [-a / 2, a * np.sqrt(3) / 2, 0], [0, 0, c]])
    wz = Crystal(lattice, ("Cd", "Cd", "Se", "Se"), [[1 / 3, 2 / 3, 0], [2 / 3, 1 / 3, 0.5], [1 / 3, 2 / 3, 0.375],
                                                       [2 / 3, 1 / 3, 0.875]])
    path = high_symmetry_path(wz)
    assert path.spacegroup == "P6_3mc"
    assert path.label_string().startswith("Γ-M-K-Γ-A-L-H-A|L-M")
    pts = cartesian_points(wz, path)
    norms = {name: np.linalg.norm(ks[0]) for name, ks in pts.items()}
    assert norms["M"] == pytest.approx(2 * np.pi / (a * np.sqrt(3)), rel=1e-12)
    assert norms["K"] == pytest.approx(4 * np.pi / (3 * a), rel=1e-12)
    assert norms["A"] == pytest.approx(np.pi / c, rel=1e-12)
    assert norms["H"] == pytest.approx(np.hypot(4 * np.pi / (3 * a), np.pi / c), rel=1e-12)
    assert abs(pts["A"][0][0]) < 1e-12 and abs(pts["M"][0][2]) < 1e-12  # A along c, M in the basal plane


def test_kpoints_file_keeps_labels_and_plot_ticks_show_jumps(tmp_path):
    path = high_symmetry_path(GAAS, segment_points=4)
    target = write_kpoints(tmp_path / "kpoints_0.par", path, header="test path")
    table, _ = read_table(target, 4, columns="k1 k2 k3 weight")  # the bundle reader's table parser
    assert np.allclose(table[:, :3], path.kfrac, atol=1e-12) and np.all(table[:, 3] == 1)
    assert read_kpoint_labels(target) == path.labels
    distance = np.concatenate([[0], np.cumsum(np.linalg.norm(np.diff(path.kfrac @ GAAS.reciprocal, axis=0), axis=1))])
    jumps, ticks = path_ticks(distance, path.kfrac, read_kpoint_labels(target))
    assert [name for _, name in ticks] == ["Γ", "X", "U|K", "Γ", "L", "W", "X"]
    assert jumps.tolist() == path.jumps == [7]  # Γ-X rows 0-3, X-U rows 3-6, K at row 7


def test_unlabelled_bundle_path_ticks_name_every_point_and_the_jump():
    """GaAs bundle: L-Γ-X, a jump to one step past X' = (1/2,1/2,1) ~ X, then X'-K-Γ with K inside the segment."""
    system = read_bundle(BUNDLES / "GaAs").systems[0]
    distance = np.concatenate([[0], np.cumsum(np.linalg.norm(np.diff(system.kpoints, axis=0), axis=1))])
    jumps, ticks = path_ticks(distance, system.kpoints, None, namer=lattice_namer(system.lattice))
    assert jumps.tolist() == [41]
    assert ticks == [(0, "L"), (20, "Γ"), (41, "X"), (45, "K"), (60, "Γ")]


def test_kpath_cli_writes_a_labelled_file(tmp_path, capsys):
    out = tmp_path / "kpoints_0.par"
    assert main(["kpath", str(BUNDLES / "CsPbI3_soc" / "system_0.par"), str(out), "--density", "12"]) == 0
    assert "Γ-X-M-Γ-R-X|R-M" in capsys.readouterr().err
    labels = read_kpoint_labels(out)
    assert [labels[i] for i in sorted(labels)] == ["Γ", "X", "M", "Γ", "R", "X", "R", "M"]
    assert out.read_text().startswith("# high-symmetry path Γ-X-M-Γ-R-X|R-M")
    with pytest.raises(SystemExit):
        main(["kpath", str(BUNDLES / "GaAs"), str(out), "--segment-points", "2"])


def test_bands_cli_along_the_generated_path(tmp_path):
    out = tmp_path / "out"
    assert main(["bands", str(BUNDLES / "GaAs"), str(out), "--kpath-density", "12"]) == 0
    table = np.loadtxt(out / "bands_0.dat")
    path_file = out / "kpath_0.par"
    kfrac = read_table(path_file, 4)[0][:, :3]
    labels = read_kpoint_labels(path_file)
    assert table.shape == (len(kfrac), 18) and len(kfrac) > 30
    def points_line(table_file):
        return next(line for line in table_file.read_text().splitlines() if line.startswith("# high-symmetry"))

    assert points_line(out / "bands_0.dat").startswith("# high-symmetry points (k index name): 0 Γ,")
    # energies along the path equal a direct evaluation at the bundle's own X and L (equivalent points)
    bundle = read_bundle(BUNDLES / "GaAs")
    ham = system_hamiltonian(bundle.systems[0], Pseudopotential.from_bundle(bundle))
    with torch.no_grad():
        direct = band_energies(ham, [[0.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.5, 0.5, 0.5]], 16).numpy()
    row = {name: i for i, name in sorted(labels.items(), reverse=True)}  # first row of each name
    for j, name in enumerate(["Γ", "X", "L"]):
        assert np.abs(table[row[name], 2:] - direct[j]).max() < 2e-6  # the table has 6 decimals
    assert direct[1, 8] - direct[1, 7] > 1.0  # a gap at X: bands 8/9 are the lowest conduction pair
    for ext in ("png", "pdf"):
        assert (out / f"bands_0.{ext}").stat().st_size > 1000
    # a labelled --kpoints file gives the same labels in the table header
    again = tmp_path / "again"
    assert main(["bands", str(BUNDLES / "GaAs"), str(again), "--kpoints", str(path_file), "--kpath"]) == 0
    assert points_line(again / "bands_0.dat") == points_line(out / "bands_0.dat")
    assert np.allclose(np.loadtxt(again / "bands_0.dat"), table)
    assert not (again / "kpath_0.par").exists()


def test_structure_without_kpoints_follows_its_path(tmp_path):
    """A bundle with no kpoints_X.par / expBandStruct_X.par is a structure to evaluate: sepm bands, masses
    and decompose use its high-symmetry path; fitting stages still require the files."""
    import shutil

    from sepm.errors import InputError

    bundle = tmp_path / "GaAs"
    shutil.copytree(BUNDLES / "GaAs", bundle)
    for name in ("kpoints_0.par", "expBandStruct_0.par"):
        (bundle / name).unlink()
    (bundle / "input_0.par").write_text("maxKE = 4\nnBands = 16\nidxVB = 3\n")  # spatial level (no SOC)
    assert len(read_bundle(bundle).systems[0].kpoints) == 0
    with pytest.raises(InputError, match="kpoints_0.par"):
        read_bundle(bundle, require_reference=True)
    assert main(["bands", str(bundle), str(tmp_path / "bands"), "--kpath-density", "12"]) == 0
    labels = read_kpoint_labels(tmp_path / "bands" / "kpath_0.par")
    assert list(labels.values()) == ["Γ", "X", "U", "K", "Γ", "L", "W", "X"]
    assert len(np.loadtxt(tmp_path / "bands" / "bands_0.dat")) == len(np.loadtxt(tmp_path / "bands" / "kpath_0.par"))
    assert main(["masses", str(bundle), str(tmp_path / "masses")]) == 0
    import json

    gaps = json.loads((tmp_path / "masses" / "gaps_0.json").read_text())
    assert gaps["cbm"]["label"] == "Γ" and gaps["vbm"]["label"] == "Γ" and gaps["is_direct"]
    assert gaps["gap_eV"] == pytest.approx(1.6691, abs=2e-4)  # the analytic potential at maxKE 4


def test_bundle_reads_the_labels_of_its_kpoints_file(tmp_path):
    """A kpoints_X.par written by sepm kpath keeps its labels through read_bundle (plots and movies use them)."""
    import shutil

    bundle = tmp_path / "GaAs"
    shutil.copytree(BUNDLES / "GaAs", bundle)
    (bundle / "expBandStruct_0.par").unlink()
    path = high_symmetry_path(read_cell(bundle), density=10)
    write_kpoints(bundle / "kpoints_0.par", path, header="test path")
    system = read_bundle(bundle).systems[0]
    assert system.klabels == path.labels and len(system.kpoints) == len(path.kfrac)
    assert read_bundle(BUNDLES / "GaAs").systems[0].klabels == {}  # the shipped file has no labels
