"""The terms of the fitting objective, one file each; :data:`TARGETS` is the registry FitProblem sums in order.

A new fit observable is one file with a :class:`~.base.Target` subclass (its name, bundle file and
columns, reader, loss and weight) plus one line below; every writer of loss parts (cost-table headers,
fit_summary.json, Monte Carlo, the k-point workers) reads them by name. Its bundle file is read and
checked with the rest of the bundle (:func:`read_target_files`) and documented in README.md.
"""

from __future__ import annotations

from .band_energies import BandEnergies
from .base import Target
from .couplings import Couplings
from .deformation_potentials import DeformationPotentials
from .effective_masses import EffectiveMasses
from .gaps import Gaps
from .penalties import Penalties

#: Summation order (the existing terms first, so their sums are bit for bit the earlier ones).
TARGETS: tuple[type[Target], ...] = (
    BandEnergies,
    DeformationPotentials,
    Penalties,
    Couplings,
    EffectiveMasses,
    Gaps,
)


def read_target_files(root, spec, defects) -> dict:
    """{target name: what its reader returned} for the optional target files of system ``spec`` in ``root``."""
    return {cls.name: cls.read(root / cls.file.format(x=spec.index), spec, defects) for cls in TARGETS
            if cls.file is not None and (root / cls.file.format(x=spec.index)).is_file()}
