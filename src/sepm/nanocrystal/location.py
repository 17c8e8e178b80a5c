r"""Where a dot's state lives, and the sanity checks of a dot's band edges.

Location. Every grid point belongs to its nearest site (atom or ligand) when that site is within one
bond length d, else to the vacuum. A dot atom is *surface* when it carries a ligand (a dangling bond),
*core* otherwise. A state's weights are the shares of |psi|^2 in the four regions core, surface,
ligand and vacuum (they add up to 1).

Sanity. Confinement only raises a conduction level and lowers a valence level, so in a dot made of the
same potential as the bulk:

- ``homo_above_bulk_vbm``: the HOMO above the bulk VBM, or ``lumo_below_bulk_cbm``: the LUMO below the
  bulk CBM, means the dot holds states the bulk does not (surface or defect states), or the dot's
  potential is not the bulk's (e.g. a real-space table cut before it decayed);
- ``homo_on_surface`` / ``lumo_on_surface``: the edge state has more than ``SURFACE_MAX`` of its weight on
  the surface atoms, the ligands and the vacuum together, and more than ``SURFACE_EXCESS`` times the share
  of the dot's volume (points within d of a site) on the surface atoms and ligands, i.e. it is
  concentrated at the surface rather than spread through the dot; ``homo_in_vacuum`` /
  ``lumo_in_vacuum``: more than ``VACUUM_MAX`` in the vacuum.

Any flag means the gap is not a confinement gap of the bulk material; it is logged as a WARNING and
marked in the gap-against-size plot. ``valence_not_converged`` / ``conduction_not_converged``: that side's
solve ended above its residual target, so its levels are not the dot's.

The edge rules have no tolerance; read a small excess against the reference's own error. The bulk edges
are those of the dot's own discretization (:mod:`.grid_bulk`: the bulk crystal on a grid of the dot's
spacing, kinetic cap and aliased V); the plane-wave edges at the system's maxKE sit elsewhere (exported
default GaAs tables: CBM 91-106 meV higher, VBM 7-9 meV higher at spacings 0.71-0.82 Bohr). What is left:
the cell grid's spacing is the odd point count's nearest to the dot's (up to ~0.05 Bohr off, ~1.4 meV per
0.01 Bohr on that CBM), the atoms' offset from the grid points (up to 4 meV between two offsets), and the
solver's eigenvalue error ~residual^2 / gap (< 1e-6 eV). So a few meV of excess is within the reference's
error, tens of meV are not.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

REGIONS = ("core", "surface", "ligand", "vacuum")
#: An edge state with more than this share outside the core, and ...
SURFACE_MAX = 0.5
#: ... more than this multiple of the volume share outside the core, is a surface state.
SURFACE_EXCESS = 1.5
#: An edge state with more than this share in the vacuum is a vacuum state.
VACUUM_MAX = 0.25


def region_of_points(points: np.ndarray, positions: np.ndarray, n_core: int, bond_length: float,
                     surface: np.ndarray | None = None) -> np.ndarray:
    """Region index (into REGIONS) of every point (n, 3), for sites ``positions`` whose first ``n_core`` are atoms;
    ``surface``: a mask of the atoms that are surface atoms besides those carrying a ligand (a dot without
    ligands, e.g. a perovskite cube's outer A/X layer)."""
    tree = cKDTree(positions)
    kind = np.zeros(len(positions), dtype=np.int64)  # core
    if surface is not None:
        kind[:n_core][np.asarray(surface, dtype=bool)] = 1
    if len(positions) > n_core:
        _, owner = cKDTree(positions[:n_core]).query(positions[n_core:])
        kind[np.unique(owner)] = 1  # surface: atoms that carry a ligand
        kind[n_core:] = 2  # ligand
    dist, nearest = tree.query(points)
    return np.where(dist > bond_length, 3, kind[nearest])


def grid_regions(grid, positions: np.ndarray, n_core: int, bond_length: float,
                 surface: np.ndarray | None = None) -> np.ndarray:
    """Region index of every grid point, flattened like the state vectors (C order)."""
    points = np.stack(np.meshgrid(*grid.axes(), indexing="ij"), -1).reshape(-1, 3)
    return region_of_points(points, positions, n_core, bond_length, surface)


def location_weights(vectors, regions: np.ndarray) -> np.ndarray:
    """Shares of |psi|^2 (rows of ``vectors``, (m, N)) in each region: (m, 4), rows add up to 1."""
    density = np.asarray(vectors, dtype=np.float64) ** 2
    density /= density.sum(axis=1, keepdims=True)
    return np.stack([density[:, regions == i].sum(axis=1) for i in range(len(REGIONS))], axis=1)


def surface_volume_share(regions: np.ndarray) -> float:
    """Share of the dot's volume (grid points within d of a site) on the surface atoms and the ligands."""
    counts = np.bincount(regions, minlength=len(REGIONS))
    return float((counts[1] + counts[2]) / max(1, counts[:3].sum()))


def sanity_flags(homo: float, lumo: float, vbm: float, cbm: float, where: dict, surface_share: float,
                 converged: dict | None = None) -> list[str]:
    """The failed checks (module docstring) of a dot: ``where`` {"homo"/"lumo": {region: weight}},
    ``surface_share`` from :func:`surface_volume_share`, ``converged`` {"valence"/"conduction": bool}."""
    flags = [f"{side}_not_converged" for side, ok in (converged or {}).items() if not ok]
    if homo > vbm:
        flags.append("homo_above_bulk_vbm")
    if lumo < cbm:
        flags.append("lumo_below_bulk_cbm")
    for edge in ("homo", "lumo"):
        w = where[edge]
        outside = 1.0 - w["core"]
        if outside > SURFACE_MAX and outside > SURFACE_EXCESS * surface_share:
            flags.append(f"{edge}_on_surface")
        if w["vacuum"] > VACUUM_MAX:
            flags.append(f"{edge}_in_vacuum")
    return flags
