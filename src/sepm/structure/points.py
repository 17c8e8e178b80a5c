"""Names of k-points: Γ, X, L, ... of the cubic Bravais lattices (after reduction to the first
Brillouin zone), else the fractional coordinates as small fractions."""

from __future__ import annotations

from fractions import Fraction

import numpy as np


def k_label(k) -> str:
    """Γ, or the fractional coordinates as fractions, e.g. (1/2,1/2,0)."""
    if np.allclose(k, 0.0, atol=1e-8):
        return "Γ"
    return "(" + ",".join(str(Fraction(float(x)).limit_denominator(48)) for x in k) + ")"


#: High-symmetry points of cubic Bravais lattices: sorted |Cartesian k| in units of 2 pi / a_conventional.
_CUBIC_POINTS = {
    "fcc": {"Γ": (0, 0, 0), "X": (0, 0, 1), "L": (0.5, 0.5, 0.5), "K": (0, 0.75, 0.75), "U": (0.25, 0.25, 1),
            "W": (0, 0.5, 1)},
    "bcc": {"Γ": (0, 0, 0), "H": (0, 0, 1), "N": (0, 0.5, 0.5), "P": (0.5, 0.5, 0.5)},
    "sc": {"Γ": (0, 0, 0), "X": (0, 0, 0.5), "M": (0, 0.5, 0.5), "R": (0.5, 0.5, 0.5)},
}
_CUBIC_ROWS = {"sc": (0, 0, 1), "fcc": (0, 0.5, 0.5), "bcc": (0.5, 0.5, 0.5)}


def cubic_type(lattice) -> tuple[str, float] | None:
    """('fcc'|'bcc'|'sc', conventional a in Bohr) for an axis-aligned cubic lattice, else None."""
    if lattice is None:
        return None
    lattice = np.asarray(lattice, dtype=np.float64)
    for kind, row in _CUBIC_ROWS.items():
        a = np.linalg.norm(lattice[0]) / np.linalg.norm(row)
        rows = np.sort(np.abs(lattice / a), axis=1)
        if np.allclose(rows, np.array(row)[None, :], atol=1e-6):
            return kind, float(a)
    return None


def point_name(kfrac, lattice=None) -> str:
    """Name of a k-point: Γ, X, L, K, ... for cubic lattices (after reduction to the first Brillouin zone),
    else the fractional coordinates (:func:`k_label`)."""
    kfrac = np.asarray(kfrac, dtype=np.float64)
    cubic = cubic_type(lattice)
    if cubic is None:
        return k_label(kfrac)
    kind, a = cubic
    recip = 2 * np.pi * np.linalg.inv(np.asarray(lattice, dtype=np.float64)).T
    shifts = np.stack(np.meshgrid(*[np.arange(-2, 3)] * 3, indexing="ij"), -1).reshape(-1, 3)
    cands = (kfrac[None, :] + shifts) @ recip
    norms = np.linalg.norm(cands, axis=1)
    shortest = cands[norms < norms.min() + 1e-9] * a / (2 * np.pi)  # equivalent images on the zone boundary
    keys = np.sort(np.abs(shortest), axis=1)
    for name, ref in _CUBIC_POINTS[kind].items():  # in table order: K before its equivalent U
        if np.any(np.all(np.isclose(keys, np.sort(ref), atol=1e-6), axis=1)):
            return name
    return k_label(kfrac)
