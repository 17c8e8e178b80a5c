r"""Names of k-points: the high-symmetry points of any lattice (seekpath's labels), else small fractions.

Rule. The labelled points P of seekpath (Hinuma et al. 2017; the names ``sepm kpath`` writes) are mapped
into the reciprocal basis of the cell as given, whatever its orientation or choice of vectors
(:mod:`sepm.structure.kpath`: fractional f_in = f_s M^T). A point-group operation W of the cell (an integer
matrix on fractional *direct* coordinates, x -> W x, from spglib) leaves k . x invariant when the
fractional reciprocal row vector goes k -> k W^{-1}; over the whole group these are the rows P W. With time
reversal (k -> -k) a fractional k gets the name of P when

    k = +- P W + n,   n integer (a reciprocal lattice vector),

for some W; otherwise it is written as fractions (:func:`k_label`). A bare lattice stands for one atom at
the origin, i.e. its holohedral point group, which is what the Brillouin-zone points are named by; with a
:class:`~sepm.crystal.Crystal` its own atoms (and hence its own space group) are used.

Where two labels are images of each other (K and U of fcc, W and W_2, X and X_1 of simple cubic), the
name without a subscript wins, then the alphabetically first: K rather than U, as before. seekpath's
GAMMA is printed Γ; subscripted names stay as written (X_1; the plots render the subscript).
The table of images is computed once per cell (cached on the rounded lattice and atoms).
"""

from __future__ import annotations

import logging
import warnings
from fractions import Fraction
from functools import lru_cache

import numpy as np

from ..crystal import Crystal
from .kpath import _input_combinations, _seekpath
from .kpath import printed_label as _printed
from .primitive import spglib_cell

log = logging.getLogger("sepm")

#: spglib / seekpath tolerance (Bohr), the default of ``sepm kpath``.
SYMPREC = 1e-4
#: Tolerance on fractional k-coordinates when matching a labelled point.
K_TOL = 1e-5


def k_label(k) -> str:
    """Γ, or the fractional coordinates as fractions, e.g. (1/2,1/2,0)."""
    if np.allclose(k, 0.0, atol=1e-8):
        return "Γ"
    return "(" + ",".join(str(Fraction(float(x)).limit_denominator(48)) for x in k) + ")"


def _preference(name: str):
    """Γ first, then names without a subscript, then alphabetical (K before its image U)."""
    return name != "GAMMA", "_" in name, name


@lru_cache(maxsize=64)
def _labelled_images(key) -> tuple[np.ndarray, tuple[str, ...]] | None:
    """(images (n_points, n_ops, 3) = +-P W in the cell's fractional reciprocal basis, names), or None."""
    import spglib

    lattice, frac, types = key
    crystal = Crystal(np.array(lattice), tuple(types), np.array(frac))
    try:
        res = _seekpath(crystal, SYMPREC, True, None)  # InputError when seekpath fails
        combos = _input_combinations(crystal, res, SYMPREC, None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            sym = spglib.get_symmetry(spglib_cell(crystal), symprec=SYMPREC)
    except Exception as exc:  # InputError from seekpath, or spglib's own errors: name by fractions
        log.debug("no high-symmetry names for this cell: %s", exc)
        return None
    if sym is None:
        return None
    rotations = np.unique(np.asarray(sym["rotations"], dtype=np.float64), axis=0)
    rotations = np.concatenate([rotations, -rotations])  # time reversal
    names = tuple(sorted(res["point_coords"], key=_preference))
    points = np.array([res["point_coords"][n] for n in names], dtype=np.float64) @ combos.T
    return np.einsum("pi,rij->prj", points, rotations), names


def _cell_key(lattice, crystal: Crystal | None):
    if crystal is not None:
        lattice, frac, types = crystal.lattice, crystal.frac, spglib_cell(crystal)[2]
    else:
        frac, types = np.zeros((1, 3)), [1]
    lattice = np.round(np.asarray(lattice, dtype=np.float64).reshape(3, 3), 8) + 0.0
    frac = np.round(np.asarray(frac, dtype=np.float64).reshape(-1, 3), 8) + 0.0
    return (tuple(map(tuple, lattice.tolist())), tuple(map(tuple, frac.tolist())), tuple(str(t) for t in types))


def point_name(kfrac, lattice=None, crystal: Crystal | None = None) -> str:
    """Name of the fractional k-point ``kfrac`` (reciprocal basis of ``lattice``, rows in Bohr, or of
    ``crystal``): the seekpath label of a symmetry-equivalent high-symmetry point (module docstring),
    else the fractional coordinates (:func:`k_label`); with neither cell given, always fractions."""
    kfrac = np.asarray(kfrac, dtype=np.float64).reshape(3)
    if lattice is None and crystal is None:
        return k_label(kfrac)
    table = _labelled_images(_cell_key(lattice, crystal))
    if table is None:
        return k_label(kfrac)
    images, names = table
    d = images - kfrac
    hit = np.all(np.abs(d - np.round(d)) < K_TOL, axis=2).any(axis=1)
    return _printed(names[int(np.argmax(hit))]) if hit.any() else k_label(kfrac)
