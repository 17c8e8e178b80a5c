"""Ligand amplitudes calibrated to the exported potential (sepm.nanocrystal.ligand_calibration): the library
against itself keeps the client's amplitudes; a Gaussian change of the anion's potential moves the anion
ligand's amplitude by minus that change seen through the ligand's Gaussian (closed form)."""

import math
from pathlib import Path

import pytest
import torch

from sepm.nanocrystal.ligand_calibration import calibrate_ligands
from sepm.nanocrystal.ligands import LIGAND_A, LIGAND_B
from sepm.nanocrystal.potfiles import read_library
from sepm.nanocrystal.radial import LibraryFormFactor

LIBRARY = Path(__file__).resolve().parents[1] / "resources" / "potentials-realspace"
BOND = 10.683 * math.sqrt(3) / 4
SPECIES = ["As", "Ga"]


def test_calibration_against_itself_and_a_closed_form_change():
    library = LibraryFormFactor(read_library(LIBRARY, SPECIES), SPECIES)
    same = calibrate_ligands(library, library, SPECIES, BOND)
    assert same["amplitudes"] == pytest.approx(LIGAND_A, abs=1e-12)
    depth, alpha = 0.3, 0.8  # the fit's As potential deeper by 0.3 exp(-0.8 r^2) Hartree

    def fit(q):
        bump = depth * (math.pi / alpha) ** 1.5 * torch.exp(-q**2 / (4 * alpha))
        return library(q) - torch.stack([bump, torch.zeros_like(q)], dim=1)

    moved = calibrate_ligands(fit, library, SPECIES, BOND)
    r = 0.25 * BOND  # P2 sits at 0.25 d from the anion
    seen = depth * (1 + alpha * LIGAND_B) ** -1.5 * math.exp(-alpha * r**2 / (1 + alpha * LIGAND_B))
    assert moved["shift"]["P2"] == pytest.approx(seen, rel=1e-6) and seen > 0.04
    assert moved["amplitudes"]["P2"] == pytest.approx(LIGAND_A["P2"] + seen, rel=1e-6)
    assert moved["shift"]["P1"] == pytest.approx(0.0, abs=1e-12)
