"""`sepm primcell`: the 8-atom conventional zinc-blende GaAs cell reduces to the 2-atom primitive cell with the
same band structure (the bundle's analytic potential; eigenvalues compared at Cartesian Γ, X, L)."""

import logging

import numpy as np
import pytest
import torch

from crystals import BUNDLES
from sepm.basis import PlaneWaveBasis, sphere_miller_indices
from sepm.cli import main
from sepm.constants import HARTREE_EV
from sepm.crystal import Crystal
from sepm.eigensolver import lowest_eigenvalues
from sepm.errors import InputError
from sepm.hamiltonian import Hamiltonian
from sepm.io import read_bundle
from sepm.pseudopotential import Pseudopotential
from sepm.structure import primitive_cell, read_cell, write_poscar

MAXKE = 4.0  # Hartree: 113 plane waves in the primitive cell, 461 in the conventional one

BUNDLE = read_bundle(BUNDLES / "GaAs")
PP = Pseudopotential.from_bundle(BUNDLE)
A = BUNDLE.systems[0].scale  # fcc cell rows are scale * (0, 1/2, 1/2): the cubic lattice constant
FCC_TRANSLATIONS = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])


def conventional_gaas(rotation=np.eye(3)):
    """The 8-atom cubic cell of the bundle's GaAs (Ga at +a/8 (1,1,1), As at -a/8), optionally rotated."""
    frac = np.vstack([FCC_TRANSLATIONS + 0.125, FCC_TRANSLATIONS - 0.125])
    return Crystal(A * np.eye(3) @ rotation.T, ("Ga",) * 4 + ("As",) * 4, frac)


def levels(crystal, kcart, n, maxke=MAXKE, miller=None):
    """Lowest n levels (eV) at Cartesian k-points (nk, 3) with the bundle's potential."""
    crystal = Crystal(crystal.lattice, crystal.atom_species, crystal.frac, PP.species)
    ham = Hamiltonian(PlaneWaveBasis(crystal, maxke, miller=miller), PP)
    k = torch.as_tensor(np.atleast_2d(np.asarray(kcart, dtype=np.float64)))
    with torch.no_grad():
        return lowest_eigenvalues(ham.matrices(k, ham.prepare()), n).numpy() * HARTREE_EV


T = 2 * np.pi / A
GXL = np.array([[0, 0, 0], [T, 0, 0], [T / 2, T / 2, T / 2]])  # Γ, X, L (Cartesian, 1/Bohr)


def random_rotation(seed=3):
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


@pytest.mark.parametrize("rotation", [np.eye(3), random_rotation()], ids=["aligned", "rotated"])
def test_conventional_cell_reduces_to_the_bundle_primitive_spectrum(rotation, caplog):
    conv = conventional_gaas(rotation)
    with caplog.at_level(logging.INFO, logger="sepm"):
        result = primitive_cell(conv)
    assert (result.international, result.number) == ("F-43m", 216)
    assert "F-43m (216)" in caplog.text
    assert sorted(result.crystal.atom_species) == ["As", "Ga"]
    assert result.cells_in_input == 4
    assert result.crystal.volume == pytest.approx(A**3 / 4, rel=1e-12)
    assert result.conventional_length == pytest.approx(A, rel=1e-12)
    # The bundle's own 2-atom cell, same cutoff: same |G| sphere, so the spectra agree to round-off.
    bundle_cell = Crystal.from_system(BUNDLE.systems[0])
    k_input = GXL @ rotation.T  # Γ, X, L of the (rotated) input frame
    prim = levels(result.crystal, result.kpoints_from_input(k_input), 16)
    reference = levels(bundle_cell, GXL, 16)
    assert np.abs(prim - reference).max() < 1e-8
    assert reference[2, 0] < reference[1, 0] < reference[0, 0] + 5.0  # distinct points, real spectrum


def test_conventional_gamma_holds_primitive_gamma_and_the_three_x_points():
    """Γ of the simple-cubic cell folds primitive Γ and X1, X2, X3 (the 4 cosets of the fcc reciprocal lattice
    in the simple-cubic one). The conventional basis {G_sc : |G_sc| < Gmax} restricted to the X_i coset is
    {X_i + G : |X_i + G| < Gmax}, while the primitive cell at X uses |G| < Gmax: the Γ coset is identical, the
    X cosets differ only by the cutoff sphere's centre. Measured at maxKE = 3, 4, 6 Ha the largest difference of
    the lowest 16 levels is 34, 28, 18 meV (it shrinks with the cutoff), and with the primitive basis shifted to
    |X + G| < Gmax it is 4e-8 eV (the |G - G'| shell rounding of the basis), which shows the difference is the
    cutoff and nothing else."""
    conv = conventional_gaas()
    prim = primitive_cell(conv)
    gamma_conv = levels(conv, [0, 0, 0], 16)[0]
    x_points = prim.kpoints_from_input(T * np.eye(3))
    gamma = levels(prim.crystal, [0, 0, 0], 16)[0]
    x_levels = levels(prim.crystal, x_points, 16)
    folded = np.sort(np.concatenate([gamma, x_levels.ravel()]))[:16]
    gap = np.abs(gamma_conv - folded).max()
    assert 0.005 < gap < 0.05  # cutoff-limited: measured 0.0276 eV at 4 Ha
    # the Γ coset is the same Hamiltonian (to the 1e-9 relative shell rounding of |G - G'|): its levels are exact
    assert gamma_conv[0] == pytest.approx(gamma[0], abs=1e-6)  # the lowest level is Γ's valence s state
    inside = gamma[gamma < gamma_conv[-1] + 1e-6]  # primitive Γ levels among the lowest 16 folded ones
    assert len(inside) == 4 and np.isclose(gamma_conv[:, None], inside[None, :], atol=1e-6).any(axis=0).all()
    reciprocal = prim.crystal.reciprocal
    shifted = []
    for k in x_points:
        box = sphere_miller_indices(reciprocal, prim.crystal.lattice, 4 * MAXKE)
        g = box @ reciprocal
        shifted.append(levels(prim.crystal, k, 16, miller=box[0.5 * np.sum((g + k) ** 2, axis=1) < MAXKE])[0])
    matched = np.sort(np.concatenate([gamma, *shifted]))[:16]
    assert np.abs(gamma_conv - matched).max() < 1e-6


def test_primcell_cli_from_poscar_and_cif(tmp_path, capsys):
    import ase.io
    from ase import Atoms

    conv = conventional_gaas()
    write_poscar(tmp_path / "POSCAR_conv", conv, "GaAs conventional")
    ase.io.write(tmp_path / "conv.cif", Atoms(list(conv.atom_species), scaled_positions=conv.frac,
                                              cell=read_cell(tmp_path / "POSCAR_conv").lattice * 0.529177, pbc=True))
    reference = levels(Crystal.from_system(BUNDLE.systems[0]), GXL, 16)
    for name in ("POSCAR_conv", "conv.cif"):
        out = tmp_path / f"out_{name}"
        assert main(["primcell", str(tmp_path / name), str(out), "--index", "3"]) == 0
        assert "space group F-43m (216)" in capsys.readouterr().err
        written = read_cell(out / "system_3.par")
        assert len(written.atom_species) == 2
        text = (out / "system_3.par").read_text()
        assert f"scale = {A:.12g}" in text
        # the standardized cell stays cubic-aligned, so Γ, X, L are the same Cartesian points in both frames
        assert np.abs(levels(written, GXL, 16) - reference).max() < 1e-7
        poscar = read_cell(out / "POSCAR")
        assert np.allclose(poscar.lattice, written.lattice, atol=1e-6)
        assert sorted(poscar.atom_species) == ["As", "Ga"]


def test_primcell_reads_a_bundle_folder_and_keeps_a_primitive_cell(tmp_path):
    assert main(["primcell", str(BUNDLES / "CsPbI3_soc"), str(tmp_path)]) == 0
    cell = read_cell(tmp_path / "system_0.par")
    assert sorted(cell.atom_species) == ["Cs", "I", "I", "I", "Pb"]
    assert np.allclose(cell.lattice, 11.884 * np.eye(3), atol=1e-10)


def test_bad_structure_input_names_file_and_line(tmp_path, capsys):
    bad = tmp_path / "system_0.par"
    bad.write_text((BUNDLES / "GaAs" / "system_0.par").read_text().replace("As -0.125", "Xx -0.125"))
    with pytest.raises(InputError, match=r"system_0.par:10: column 1: 'Xx' is not a chemical element"):
        read_cell(bad)
    assert main(["primcell", str(bad), str(tmp_path / "out")]) == 2
    assert f"{bad}:10:" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    (tmp_path / "broken.cif").write_text("data_x\n_cell_length_a 5\n")
    with pytest.raises(InputError, match="broken.cif: cannot read"):
        read_cell(tmp_path / "broken.cif")
