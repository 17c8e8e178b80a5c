"""k-point names (sepm.structure.points): seekpath's labels for any lattice and orientation, by symmetry."""

import time

import numpy as np
from scipy.spatial.transform import Rotation

from crystals import BUNDLES
from sepm.crystal import Crystal
from sepm.structure import high_symmetry_path, read_system_par
from sepm.structure.points import k_label, point_name

GAAS = read_system_par(BUNDLES / "GaAs" / "system_0.par")
Q = Rotation.from_euler("zyx", [0.3, 0.7, -1.1]).as_matrix()  # a generic rigid rotation
HEX = np.array([[8.1, 0.0, 0.0], [-4.05, 8.1 * np.sqrt(3) / 2, 0.0], [0.0, 0.0, 13.2]])  # 120 degrees, a, c Bohr


def names(lattice, points, crystal=None):
    return [point_name(k, lattice, crystal) for k in points]


def test_gaas_bundle_lattice_any_orientation_and_basis():
    pts = [(0, 0, 0), (0.5, 0.5, 0), (0.5, 0.5, 0.5), (0.5, 0, 0.5), (0.375, 0.375, 0.75), (0.5, 0.25, 0.75),
           (-0.5, 0.5, 1.0)]
    expect = ["Γ", "X", "L", "X", "K", "W", "X"]
    assert names(GAAS.lattice, pts) == expect
    assert names(None, pts, GAAS) == expect  # the crystal's own group (F-43m) with time reversal: the same names
    # fractional coordinates do not change under a rigid rotation of the lattice
    assert names(GAAS.lattice @ Q.T, pts) == expect
    # another choice of primitive vectors A' = U A: the same Cartesian k has fractions k U^T
    u = np.array([[1, 1, 0], [0, 1, 0], [-1, 0, 1]])
    assert names(u @ GAAS.lattice, [np.array(k) @ u.T for k in pts]) == expect
    # a mirror-image (left-handed) basis
    assert names(GAAS.lattice[[1, 0, 2]], [np.array(k)[[1, 0, 2]] for k in pts]) == expect


def test_hexagonal_and_tetragonal():
    hex_pts = [(0, 0, 0), (0.5, 0, 0), (1 / 3, 1 / 3, 0), (0, 0, 0.5), (0.5, 0, 0.5), (1 / 3, 1 / 3, 0.5),
               (0, 0.5, 0), (2 / 3, -1 / 3, 0), (-1 / 3, -1 / 3, -0.5)]
    hex_names = ["Γ", "M", "K", "A", "L", "H", "M", "K", "H"]
    assert names(HEX, hex_pts) == hex_names
    assert names(HEX @ Q.T, hex_pts) == hex_names
    # simple tetragonal a = 7, c = 9 Bohr (seekpath tP1): X, M, Z, R, A; (1/2,0,0) is X by the fourfold axis
    tp = np.diag([7.0, 7.0, 9.0])
    assert names(tp, [(0, 0.5, 0), (0.5, 0.5, 0), (0, 0, 0.5), (0, 0.5, 0.5), (0.5, 0.5, 0.5), (0.5, 0, 0),
                      (0.5, 0, -0.5)]) == ["X", "M", "Z", "R", "A", "X", "R"]
    # the same lattice with c along x: the names follow the axes
    assert names(np.diag([9.0, 7.0, 7.0]), [(0.5, 0, 0), (0, 0.5, 0), (0.5, 0.5, 0.5)]) == ["Z", "X", "A"]


def test_every_labelled_point_of_the_kpath_gets_its_label():
    """The corners `sepm kpath` writes are named back (or by their preferred image: K for U, S for S_0)."""
    bct = np.array([[-3.5, 3.5, 4.5], [3.5, -3.5, 4.5], [3.5, 3.5, -4.5]])  # body-centred tetragonal, c < a
    mono = np.array([[7.0, 0, 0], [0, 8.0, 0], [2.0, 0, 9.0]])
    alias = {"U": "K", "S_0": "S", "R": "G", "C_2": "C", "Y_2": "Y"}
    for lattice, bravais in ((GAAS.lattice @ Q.T, "cF2"), (HEX @ Q.T, "hP2"), (bct, "tI2"), (mono, "mP1")):
        path = high_symmetry_path(Crystal(lattice, ("X",), np.zeros((1, 3))), segment_points=3)
        assert path.bravais == bravais
        for i, label in path.labels.items():
            assert point_name(path.kfrac[i], lattice) in (label, alias.get(label)), (bravais, label)
    # bct tI2 (seekpath): X = (0,0,1/2), N = (0,1/2,0), P = (1/4,1/4,1/4), M = (1/2,1/2,-1/2) in its basis
    assert names(bct, [(0, 0, 0.5), (0, 0.5, 0), (0.25, 0.25, 0.25), (0.5, 0.5, -0.5), (0.5, 0, 0)]) == \
        ["X", "N", "P", "M", "N"]


def test_cubic_names_fallback_and_speed():
    assert names(11.0 * np.eye(3), [(0.5, 0, 0), (0, 0.5, 0.5), (0.5, 0.5, 0.5)]) == ["X", "M", "R"]
    bcc = 10.0 * np.array([[-0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.5, 0.5, -0.5]])
    assert names(bcc, [(0.5, -0.5, 0.5), (0, 0, 0.5), (0.25, 0.25, 0.25)]) == ["H", "N", "P"]
    general = (0.13, 0.21, 0.07)
    assert point_name(general, GAAS.lattice) == k_label(general) == "(3/23,4/19,3/43)"
    assert point_name((0.1, 0, 0), HEX) == "(1/10,0,0)" and point_name((0.5, 0.5, 0), None) == "(1/2,1/2,0)"
    # the 61 points of the GaAs bundle path, named from the cache
    kpts = np.loadtxt(BUNDLES / "GaAs" / "kpoints_0.par")[:, :3]
    point_name(kpts[0], GAAS.lattice.copy())
    start = time.perf_counter()
    path_names = names(GAAS.lattice.copy(), kpts)
    assert time.perf_counter() - start < 0.5
    assert {i: n for i, n in enumerate(path_names) if not n.startswith("(")} == {0: "L", 20: "Γ", 40: "X", 45: "K",
                                                                                 60: "Γ"}
