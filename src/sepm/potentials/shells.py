r"""Form factors tabulated on reciprocal-lattice shells (Cohen-Bergstresser style).

v_s(q) takes a given value where q^2 equals one of the listed shells and is zero elsewhere
(including q = 0), as in the empirical pseudopotential method of Cohen & Bergstresser,
Phys. Rev. 141, 789 (1966).
"""

from __future__ import annotations

import numpy as np
import torch

from ..constants import BOHR_PER_ANGSTROM


class ShellFormFactor:
    """``q2_shells`` (n_shells,) in 1/Bohr^2, ``values`` (n_shells, n_species) in Hartree Bohr^3."""

    def __init__(self, q2_shells, values, rtol: float = 1e-6):
        self.q2 = torch.as_tensor(np.asarray(q2_shells, dtype=np.float64))
        self.values = torch.as_tensor(np.asarray(values, dtype=np.float64)).reshape(len(self.q2), -1)
        self.rtol = rtol

    def __call__(self, q: torch.Tensor) -> torch.Tensor:
        q2 = self.q2.to(q.device)
        match = torch.isclose((q * q)[:, None], q2[None, :], rtol=self.rtol, atol=0.0)
        return match.to(q.dtype) @ self.values.to(device=q.device, dtype=q.dtype)


def cohen_bergstresser(a_angstrom: float, vs_ry, va_ry=(0.0, 0.0, 0.0)):
    """Shell form factor of a diamond / zinc-blende crystal from CB symmetric and antisymmetric
    form factors (Rydberg) at |G|^2 = 3, 8, 11 (VS) and 3, 4, 11 (VA) in units of (2 pi / a)^2.

    Returns (ShellFormFactor with two species columns, primitive volume in Bohr^3). Species 0 sits at
    +(a/8)(1,1,1), species 1 at -(a/8)(1,1,1), and v_{0,1} = (VS +- VA) Omega / 2 in Hartree.
    """
    a = a_angstrom * BOHR_PER_ANGSTROM
    omega = a**3 / 4.0
    unit = (2.0 * np.pi / a) ** 2
    shells = np.array([3.0, 4.0, 8.0, 11.0])
    vs = np.array([vs_ry[0], 0.0, vs_ry[1], vs_ry[2]]) * 0.5
    va = np.array([va_ry[0], va_ry[1], 0.0, va_ry[2]]) * 0.5
    values = np.stack([(vs + va) * omega / 2.0, (vs - va) * omega / 2.0], axis=1)
    return ShellFormFactor(shells * unit, values), omega
