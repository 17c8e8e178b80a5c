"""Ligand amplitudes calibrated to the exported potential's bulk band edges
(sepm.nanocrystal.ligand_calibration): the library against itself keeps the client's amplitudes; a change of
every species' v(q) near q = 0 only (below the first shell) moves every bulk level by the G = 0 term
sum_s N_s dv_s / Omega (closed form), and both ligands by exactly that."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from sepm.crystal import Crystal
from sepm.io import read_bundle
from sepm.nanocrystal.dot import bulk_edges_of
from sepm.nanocrystal.ligand_calibration import calibrate_ligands
from sepm.nanocrystal.ligands import LIGAND_A
from sepm.nanocrystal.potfiles import read_library
from sepm.nanocrystal.radial import LibraryFormFactor

ROOT = Path(__file__).resolve().parents[1]
SPECIES = ["As", "Ga"]


def test_band_edge_calibration_against_itself_and_a_closed_form_shift():
    system = read_bundle(ROOT / "resources" / "bundles" / "GaAs").systems[0]
    system = dataclasses.replace(system, kpoints=None, maxke=2.0)  # Gamma, X, L on a small basis: seconds
    library = LibraryFormFactor(read_library(ROOT / "resources" / "potentials-realspace", SPECIES), SPECIES)
    dv = torch.tensor([5.0, 1.0], dtype=torch.float64)  # Hartree Bohr^3 added to v_As(0), v_Ga(0)

    def fit(q):  # the bump is exp(-(q / 0.05)^2): 0 to double precision at the first shell |G| = 1.02 1/Bohr
        return library(q) + dv * torch.exp(-((q[:, None] / 0.05) ** 2))

    with torch.no_grad():
        reference, moved = bulk_edges_of(system, library, SPECIES), bulk_edges_of(system, fit, SPECIES)
    same = calibrate_ligands(reference, reference)
    assert same["amplitudes"] == pytest.approx(LIGAND_A, abs=1e-15)
    crystal = Crystal.from_system(system, species=SPECIES)
    counts = np.array([sum(s == x for s in crystal.atom_species) for x in SPECIES])
    g0 = float(counts @ dv.numpy()) / crystal.volume  # every level moves by the G = 0 term (Hartree)
    assert abs(g0) > 0.01
    result = calibrate_ligands(moved, reference)
    assert result["shift"]["P2"] == pytest.approx(g0, abs=1e-9)  # anion side: the VBM's move
    assert result["shift"]["P1"] == pytest.approx(g0, abs=1e-9)  # cation side: the CBM's move
    assert result["amplitudes"]["P2"] == pytest.approx(LIGAND_A["P2"] + g0, abs=1e-9)
    assert result["amplitudes"]["P3"] == LIGAND_A["P3"] and result["amplitudes"]["P4"] == LIGAND_A["P4"]


def test_export_takes_the_bulk_edges_from_the_dots_system():
    """`sepm export --nc-system X`: the ligands are calibrated on the bundle's system X (the dots' system,
    `tools: nanocrystal: system:` in the pipeline), not on its first; a system the bundle lacks is one line."""
    from sepm.cli import build_parser
    from sepm.cli.nanocrystal import client_export_inputs
    from sepm.errors import InputError

    bundle = ROOT / "resources" / "bundles" / "InGaAsP"  # systems 0..3: InAs, InP, GaAs, GaP
    species = ["As", "Ga", "In", "P"]

    def inputs(*extra):
        args = build_parser().parse_args(["export", "FIT", "OUT", "--nanocrystal", "NC", "--bundle", str(bundle),
                                          "--nc-ligand-reference", str(ROOT / "resources" / "potentials-realspace"),
                                          *extra])
        return client_export_inputs(args, species)

    assert sorted(inputs()["system"].atom_species) == ["As", "In"]  # default 0, as `sepm dot --system`
    gaas = inputs("--nc-system", "2")["system"]
    assert sorted(gaas.atom_species) == ["As", "Ga"] and gaas is not inputs()["system"]
    with pytest.raises(InputError, match=r"--nc-system 4: the bundle has 4 system\(s\), 0\.\.3"):
        inputs("--nc-system", "4")
