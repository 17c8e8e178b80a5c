"""Small crystals and pseudopotentials shared by the physics tests."""

from pathlib import Path

import numpy as np
import torch

from sepm.basis import PlaneWaveBasis
from sepm.constants import BOHR_PER_ANGSTROM
from sepm.crystal import Crystal
from sepm.hamiltonian import Hamiltonian
from sepm.potentials import cohen_bergstresser
from sepm.pseudopotential import Pseudopotential

BUNDLES = Path(__file__).resolve().parents[1] / "resources" / "bundles"

FCC = np.array([[0.0, 0.5, 0.5], [0.5, 0.0, 0.5], [0.5, 0.5, 0.0]])

#: Bundle GaAs Zunger coefficients (resources/bundles/GaAs), species order As, Ga.
GAAS_PARAMS = np.array([
    [25.80944629, 2.58859458, 1.58196225, 0.51424374, -0.03501301, 0, 0, 0, 0],
    [50.77526879, 2.29527553, 3.72038796, 0.59163580, 0.79710125, 0, 0, 0, 0],
])
GAAS_SCALE = 10.683


def zincblende(scale=GAAS_SCALE, species=("Ga", "As")):
    return Crystal(scale * FCC, species, np.array([[0.125] * 3, [-0.125] * 3]), tuple(sorted(species)))


def gaas_pseudopotential(soc=False, nonlocal_=False, a5=(0.0, 0.0), a67=((0.0, 0.0), (0.0, 0.0)),
                         requires_grad=False, local=None):
    params = GAAS_PARAMS.copy()
    params[:, 5] = a5
    params[:, 6:8] = a67
    p = torch.tensor(params, dtype=torch.float64, requires_grad=requires_grad)
    return Pseudopotential(("As", "Ga"), p, local=local, soc=soc, nonlocal_=nonlocal_)


def hamiltonian(crystal, pp, maxke):
    return Hamiltonian(PlaneWaveBasis(crystal, maxke), pp)


def cohen_bergstresser_hamiltonian(a_angstrom, vs, va=(0.0, 0.0, 0.0), g2_cut=60.5):
    """CB crystal: fcc, species A at +(a/8)(1,1,1) and B at -(a/8)(1,1,1); basis |G|^2 < g2_cut (2pi/a)^2."""
    ff, _ = cohen_bergstresser(a_angstrom, vs, va)
    a = a_angstrom * BOHR_PER_ANGSTROM
    crystal = Crystal(a * FCC, ("A", "B"), np.array([[0.125] * 3, [-0.125] * 3]))
    pp = Pseudopotential(("A", "B"), torch.zeros(2, 9, dtype=torch.float64), local=ff)
    return hamiltonian(crystal, pp, 0.5 * g2_cut * (2 * np.pi / a) ** 2)
