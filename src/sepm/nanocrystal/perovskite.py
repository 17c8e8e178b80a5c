r"""Cube-shaped nanocrystals of a cubic ABX3 perovskite (CsPbI3, CsPbBr3, CsSnI3, ...).

Surface model, after the semi-empirical pseudopotential nanocrystals of Weinberg, Park, Limmer and Rabani,
"Size-dependent lattice symmetry breaking determines the exciton fine structure of perovskite
nanocrystals", Nano Lett. 23, 4997 (2023), Supporting Information sec. 1.1 (arXiv:2303.00707): the cube
is cut along the {100} facets so that every BX6 octahedron is complete and the surface is terminated by A
and X only; the A atoms on the cube's corners (unstable when relaxed) are removed. Chosen because it is
the structure the SEPM work on these nanocrystals uses, and because complete octahedra leave no B
(Pb) dangling bond, the one surface defect that puts states in the gap of a lead-halide perovskite (the
halide-vacancy / undercoordinated-Pb trap; A- and X-terminated surfaces are defect tolerant), so no
ligand pseudo-atoms are added (Weinberg et al. list A, B and X atoms only).

Sites of n x n x n cells (lattice constant a): B at a (i, j, k), 0 <= i, j, k < n; X at the midpoints
B +- a/2 along each axis (3 n^2 (n + 1)); A at the cell centres a (i + 1/2, ...), -1 <= i < n
((n + 1)^3, corners included).

Charge balance (added here; that work's cubes carry a net ionic charge of 3n - 7 and compensate it with
partial charges in a force field): with formal charges q_A, q_B, q_X (default +1, +2, -1) the cube is
neutral for N_A = -(q_B N_B + q_X N_X) / q_A, n^3 + 3 n^2 for ABX3 halides, i.e. 3n + 1 of the (n + 1)^3
A sites are vacant: the 8 corners first, then edge sites (n >= 3), each next vacancy the one that keeps
the vacancies' dipole smallest (ties: farthest from the vacancies already chosen). A neutral cube's
valence electron count (:mod:`.structure`) then fills exactly the bulk valence bands, so the HOMO index
is N_e - 1 (spinor). Positions are Cartesian Bohr, the cube's centre at the origin.
"""

from __future__ import annotations

import logging

import numpy as np

from .structure import DotStructure

log = logging.getLogger("sepm")

#: Formal charges of the A, B and X ions of a halide perovskite.
HALIDE_CHARGES = (1, 2, -1)


def _cube_sites(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A, B, X sites in units of the lattice constant."""
    r = np.arange(n, dtype=np.float64)
    B = np.stack(np.meshgrid(r, r, r, indexing="ij"), -1).reshape(-1, 3)
    half = np.arange(-0.5, n, 1.0)
    A = np.stack(np.meshgrid(half, half, half, indexing="ij"), -1).reshape(-1, 3)
    X = np.concatenate([np.stack(np.roll(np.meshgrid(half, r, r, indexing="ij"), axis, axis=0), -1).reshape(-1, 3)
                        for axis in range(3)])
    return A, B, X


def _vacancies(A: np.ndarray, centre: np.ndarray, n: int, count: int) -> np.ndarray:
    """Indices of ``count`` A sites to leave vacant: corners, then edges; smallest dipole, then most spread."""
    outer = np.abs(A - centre) > 0.5 * n - 0.25                       # (sites, 3): coordinate on the cube's shell
    corner, edge = outer.sum(1) == 3, outer.sum(1) == 2
    chosen: list[int] = []
    for pool in (np.nonzero(corner)[0], np.nonzero(edge)[0]):
        while len(chosen) < count and set(pool) - set(chosen):
            free = np.array(sorted(set(pool) - set(chosen)))
            dipole = np.linalg.norm((A[chosen] - centre).sum(0)[None, :] + A[free] - centre, axis=1)
            spread = (np.linalg.norm(A[free][:, None] - A[chosen][None], axis=2).min(1) if chosen
                      else np.zeros(len(free)))
            best = np.lexsort((-spread, np.round(dipole, 9)))[0]
            chosen.append(int(free[best]))
        if len(chosen) == count:
            break
    if len(chosen) < count:
        raise ValueError(f"a neutral cube needs {count} A vacancies but has only {corner.sum() + edge.sum()} corner "
                         f"and edge A sites: the formal charges cannot balance")
    return np.array(chosen, dtype=int)


def perovskite_cube(n: int, lattice_constant: float, species=("Cs", "Pb", "I"), charges=HALIDE_CHARGES,
                    valence: dict[str, int] | None = None) -> DotStructure:
    """The charge-balanced, A/X-terminated cube of n x n x n cells of cubic ``species`` = (A, B, X), lattice
    constant in Bohr; ``valence``: electrons of species :data:`.structure.VALENCE_ELECTRONS` lacks."""
    if int(n) != n or n < 1:
        raise ValueError(f"cube edge {n!r}: a whole number of cells, 1 or more")
    if lattice_constant <= 0:
        raise ValueError(f"lattice constant {lattice_constant!r} Bohr is not positive")
    n = int(n)
    A, B, X = _cube_sites(n)
    centre = np.full(3, 0.5 * (n - 1))
    qa, qb, qx = charges
    need = -(qb * len(B) + qx * len(X))
    n_a, rest = divmod(need, qa)
    if rest or not 0 <= n_a <= len(A):
        raise ValueError(f"charges {charges}: no neutral cube of {n}^3 cells (it would need {need / qa:g} A ions "
                         f"of {len(A)} sites)")
    vacant = _vacancies(A, centre, n, len(A) - n_a)
    A = np.delete(A, vacant, axis=0)
    a, b, x = species
    symbols = [a] * len(A) + [b] * len(B) + [x] * len(X)
    positions = (np.concatenate([A, B, X]) - centre) * lattice_constant
    notes = {"shape": "cube", "cells": n, "lattice_constant_bohr": float(lattice_constant),
             "edge_bohr": float(n * lattice_constant), "a_vacancies": int(len(vacant)),
             "formal_charges": dict(zip(species, charges)),
             "termination": "{100} facets, complete BX6 octahedra, A/X surface, corner A removed, no ligands "
                            "(Weinberg et al., Nano Lett. 23, 4997 (2023)); A vacancies for charge balance"}
    # the outer layer: the A and X atoms on the cube's faces (B sits at most (n - 1) a / 2 from the centre)
    surface = (np.abs(positions) > (0.5 * (n - 1) + 0.25) * lattice_constant).any(axis=1)
    dot = DotStructure(symbols, positions, len(symbols), valence or {}, notes=notes, surface=surface,
                       bond=0.5 * lattice_constant)
    log.info("perovskite cube %d^3 cells (a = %.4f Bohr): %s, %d A vacancies (corners first) for charge balance; "
             "%d valence electrons", n, lattice_constant, " ".join(f"{s} {c}" for s, c in dot.counts.items()),
             len(vacant), dot.n_electrons)
    return dot


def cube_roles(crystal) -> tuple[tuple[str, str, str], float]:
    """(A, B, X) and the lattice constant (Bohr) of a cubic ABX3 cell (5 atoms: B octahedrally surrounded by
    X at a/2, A at the body centre from B), else ValueError saying what is not so."""
    lattice = np.asarray(crystal.lattice)
    a = float(lattice[0, 0])
    if np.abs(lattice - a * np.eye(3)).max() > 1e-6 * a or len(crystal.atom_species) != 5:
        raise ValueError("a perovskite cube needs a simple cubic ABX3 cell of 5 atoms (B at a corner, X at the edge "
                         "midpoints, A at the body centre)")
    symbols = list(crystal.atom_species)
    names, counts = np.unique(symbols, return_counts=True)
    x = [str(s) for s, c in zip(names, counts) if c == 3]
    ones = [str(s) for s, c in zip(names, counts) if c == 1]
    if len(x) != 1 or len(ones) != 2:
        raise ValueError(f"cell {' '.join(symbols)} is not ABX3 (one species three times, two once)")
    frac = np.asarray(crystal.frac) % 1.0

    def gap(i, j):
        d = (frac[i] - frac[j] + 0.5) % 1.0 - 0.5
        return float(np.linalg.norm(d @ lattice))

    xi = [i for i, s in enumerate(symbols) if s == x[0]]
    b = [s for s in ones if all(abs(gap(symbols.index(s), i) - 0.5 * a) < 1e-3 * a for i in xi)]
    if len(b) != 1:
        raise ValueError(f"cell {' '.join(symbols)}: no single species with its three {x[0]} at a/2 (the B site)")
    return (next(s for s in ones if s != b[0]), b[0], x[0]), a
