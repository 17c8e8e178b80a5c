"""The terms of the fitting objective, one file each; :data:`TARGETS` is the registry FitProblem sums in order.

A new fit observable is one file with a :class:`~.base.Target` subclass (its name, bundle file and
columns, reader, loss and weight) plus its module's name in :data:`REGISTRY`; every writer of loss parts (cost-table headers,
fit_summary.json, Monte Carlo, the ranks) reads them by name. Its bundle file is read and
checked with the rest of the bundle (:func:`read_target_files`) and documented in README.md.
"""

from __future__ import annotations

from importlib import import_module

from .base import Target

#: The target modules in summation order (the existing terms first, so their sums are bit for bit the
#: earlier ones); each defines one :class:`~.base.Target` subclass.
REGISTRY = (
    "band_energies",
    "deformation_potentials",
    "penalties",
    "couplings",
    "effective_masses",
    "gaps",
    "prior_anchor",
)


def _target(module: str) -> type[Target]:
    """The one Target subclass defined in ``module``."""
    mod = import_module(f".{module}", __name__)
    (cls,) = [v for v in vars(mod).values()
              if isinstance(v, type) and issubclass(v, Target) and v.__module__ == mod.__name__]
    return cls


TARGETS: tuple[type[Target], ...] = tuple(_target(m) for m in REGISTRY)


def read_target_files(root, spec, defects) -> dict:
    """{target name: what its reader returned} for the optional target files of system ``spec`` in ``root``."""
    return {cls.name: cls.read(root / cls.file.format(x=spec.index), spec, defects) for cls in TARGETS
            if cls.file is not None and (root / cls.file.format(x=spec.index)).is_file()}
