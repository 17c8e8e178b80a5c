r"""Strain factor of the local form factor (params[8] = a8).

In a strained cell the local form factor of species s (including its long-range tail) is
multiplied by (1 + a8(s) Tr eps), with Tr eps = Delta Omega / Omega for the hydrostatic strains of
deformation potentials. An unstrained cell has Tr eps = 0 and factor 1.
"""

from __future__ import annotations

import torch


def strain_factor(params: torch.Tensor, trace_strain: float) -> torch.Tensor:
    """(n_species,) factors 1 + a8 Tr eps."""
    return 1.0 + params[:, 8] * trace_strain
