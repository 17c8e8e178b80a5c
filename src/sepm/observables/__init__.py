"""Observables computed beside the band energies: electron-phonon couplings of the band edges
(:mod:`.coupling` the physics, :mod:`.coupling_targets` one system's values and loss)."""

from .coupling import AVERAGES, EDGES, average, matrix_elements
from .coupling_targets import SystemCouplings, coupling_rmse

__all__ = ["AVERAGES", "EDGES", "SystemCouplings", "average", "coupling_rmse", "matrix_elements"]
