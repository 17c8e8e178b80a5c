"""Hamiltonian decomposition: the term expectation values add up to each band energy."""

import numpy as np
import pytest

from crystals import BUNDLES
from sepm.analysis.decompose import decompose
from sepm.bands import band_energies, system_hamiltonian
from sepm.basis import PlaneWaveBasis
from sepm.cli import main
from sepm.hamiltonian import Hamiltonian
from sepm.io import read_bundle
from sepm.pseudopotential import Pseudopotential


def test_parts_add_up_to_eigenvalues_with_soc_and_nonlocal():
    bundle = read_bundle(BUNDLES / "CsPbI3_soc")
    pp = Pseudopotential.from_bundle(bundle)
    crystal = system_hamiltonian(bundle.systems[0], pp).basis.crystal
    ham = Hamiltonian(PlaneWaveBasis(crystal, 2.0), pp)
    k = bundle.systems[0].kpoints[:2]
    rows = decompose(ham, k, list(range(12)))
    bands = band_energies(ham, k, 12).numpy()
    for r in rows:
        assert r["E"] == pytest.approx(bands[r["k"], r["band"]], abs=1e-8)
        assert r["T"] + r["V_loc"] + r["V_SO"] + r["V_NL"] == pytest.approx(r["E"], abs=1e-9)
        assert r["T"] > 0
    assert max(abs(r["V_SO"]) for r in rows) > 1e-4 and max(abs(r["V_NL"]) for r in rows) > 1e-4


def test_decompose_cli_on_gaas(tmp_path):
    assert main(["decompose", str(BUNDLES / "GaAs"), str(tmp_path), "--kpoint", "20", "--band", "8",
                 "--band", "9"]) == 0
    table = np.loadtxt(tmp_path / "decomposition.dat")
    assert table.shape == (2, 8) and table[:, 1].tolist() == [8, 9]  # band numbers as in the E_8, E_9 columns
    assert main(["bands", str(BUNDLES / "GaAs"), str(tmp_path / "bands")]) == 0
    bands = np.loadtxt(tmp_path / "bands" / "bands_0.dat")
    assert np.allclose(table[:, 2], bands[20, [2 + 7, 2 + 8]], atol=1e-5)  # columns kidx, path, E_1 ...
    assert np.allclose(table[:, 3:7].sum(axis=1), table[:, 2], atol=1e-8)
    assert np.allclose(table[:, 5:7], 0.0)  # no SOC, no NL in the GaAs bundle
    for name in ("decomposition.png", "H_blocks.png"):
        assert (tmp_path / name).stat().st_size > 1000
