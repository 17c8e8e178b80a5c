r"""Bulk band edges of the dot's own Hamiltonian, spin-orbit and nonlocal terms included.

A spinor dot's levels are compared with the bulk crystal's valence-band maximum and conduction-band
minimum computed with the same terms: the plane-wave Hamiltonian (``sepm bands``) of the bulk cell with
the dot's local part (the radial tables, as :class:`.radial.LibraryFormFactor`; no long-range tail) and the
pseudopotential's own a5 (SOC) and a6/a7 (NL) coefficients and switches. The occupied bands come from the
electron count of the cell (:mod:`.structure`; CsPbI3: 26 per cell, spinor bands), so no crystal family's
bonding rule is assumed. The edges are searched at the system's own k-points and at the eight
time-reversal-invariant momenta (reciprocal-lattice coordinates 0 or 1/2: Gamma, X, M, R of a simple
cubic cell, Gamma, X, L of an fcc one), where the edges of these crystals lie.

Two bases. The fit's (the system's maxKE) is the Hamiltonian the fit reproduced; the dot's grid holds
plane waves up to its kinetic-energy cap, so :func:`edges_in_dot_basis` evaluates the same edge k-points
again at maxKE = that cap. A potential whose high-q part the fit never saw moves the edges between the two
(CsPbI3 checkpoint, exported tables: VBM -4.670 -> -5.504 eV, CBM -3.167 -> -4.233 eV, gap 1.503 -> 1.271
eV from maxKE 1.5 to 10 Hartree): the dot's levels are compared with the dot basis's edges.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..bands import band_energies, system_hamiltonian
from ..constants import HARTREE_EV
from ..crystal import Crystal
from .radial import LibraryFormFactor
from .structure import VALENCE_ELECTRONS

#: The eight time-reversal-invariant momenta (fractional reciprocal coordinates).
TRIM = np.stack(np.meshgrid(*[[0.0, 0.5]] * 3, indexing="ij"), -1).reshape(-1, 3)


def bulk_band_edges(system, pseudopotential, tables: dict, valence: dict[str, int] | None = None,
                    device="cpu", kfrac=None) -> dict:
    """VBM, CBM, gap (Hartree) and their k-points of ``system`` with the local ``tables`` and the
    pseudopotential's SOC/NL terms; ``valence`` adds electron counts for species the default table lacks;
    ``kfrac``: the k-points searched (default the system's own and the TRIM)."""
    species = tuple(pseudopotential.species)
    pp = replace(pseudopotential, local=LibraryFormFactor(tables, species), long_range=False)
    crystal = Crystal.from_system(system, species=species)
    table = {**VALENCE_ELECTRONS, **(valence or {})}
    missing = sorted(set(crystal.atom_species) - set(table))
    if missing:
        raise ValueError(f"no valence electron count for {', '.join(missing)}: give it (valence={{symbol: n}})")
    n_occ = sum(table[s] for s in crystal.atom_species)          # spinor bands (each spin-free band twice)
    if kfrac is None:
        own = np.zeros((0, 3)) if system.kpoints is None else np.asarray(system.kpoints, dtype=np.float64).reshape(-1, 3)
        kfrac = np.concatenate([own, TRIM])
    kfrac = np.asarray(kfrac, dtype=np.float64).reshape(-1, 3)
    bands = band_energies(system_hamiltonian(system, pp, device=device), kfrac, n_occ + 2).cpu().numpy() / HARTREE_EV
    vbm, cbm = bands[:, n_occ - 1].max(), bands[:, n_occ].min()
    return dict(vbm=float(vbm), cbm=float(cbm), gap=float(cbm - vbm), maxke=float(system.maxke),
                occupied_bands=int(n_occ), soc=bool(pp.soc), nonlocal_=bool(pp.nonlocal_),
                k_vbm=kfrac[int(bands[:, n_occ - 1].argmax())].tolist(),
                k_cbm=kfrac[int(bands[:, n_occ].argmin())].tolist())


def edges_in_dot_basis(system, pseudopotential, tables: dict, fit_edges: dict, kinetic_cap: float,
                       valence: dict[str, int] | None = None, device="cpu") -> dict:
    """The edges of :func:`bulk_band_edges` (``fit_edges``, found in the fit's basis) recomputed at their
    k-points in the plane waves up to the dot's ``kinetic_cap`` (Hartree)."""
    from dataclasses import replace as replace_field

    k = np.unique(np.array([fit_edges["k_vbm"], fit_edges["k_cbm"]]), axis=0)
    return bulk_band_edges(replace_field(system, maxke=float(kinetic_cap)), pseudopotential, tables, valence,
                           device, kfrac=k)
