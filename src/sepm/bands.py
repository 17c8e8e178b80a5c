"""Band structures: eigenvalues of H(k) for all k-points, in eV.

Without spin-orbit coupling each level of the N x N Hamiltonian is listed twice (E0 E0 E1 E1 ...)
before the lowest nBands are taken, because reference files are spin-doubled; with SOC the lowest
nBands of the 2N spectrum are taken. An optional order matrix M (kpoints_X_orderMatrix.par) makes
output slot b take sorted level M[k, b], applied before spin doubling. k-points are processed in
batches sized to a memory budget; the result is differentiable in every coefficient and network
weight when those require grad (eigenvalue gradients are Hellmann-Feynman: dE_n = psi_n^H dH psi_n).
"""

from __future__ import annotations

import math
import re

import numpy as np
import torch

from .basis import PlaneWaveBasis
from .constants import BYTES_PER_ELEMENT, HARTREE_EV
from .crystal import Crystal
from .eigensolver import lowest_eigenvalues
from .errors import ComputeFailure
from .hamiltonian import Hamiltonian
from .profiling import PROFILER
from .pseudopotential import Pseudopotential
from .settings import SETTINGS

def batch_size(dim: int, memory_limit_gb: float, nk: int) -> int:
    """How many k-points' (dim x dim) problems fit in the memory budget at once (at least 1)."""
    per_k = dim * dim * BYTES_PER_ELEMENT
    return max(1, min(nk, int(memory_limit_gb * 2**30 // per_k)))


class EigensolverError(ComputeFailure, torch.linalg.LinAlgError):
    """The eigensolver failed for one k-point (still a LinAlgError for callers that catch that)."""


def _eigensolver_error(ham: Hamiltonian, h: torch.Tensor, kfrac, first: int, offset: int, err,
                       label: str) -> EigensolverError:
    match = re.search(r"Batch element (\d+)", str(err))
    i = int(match.group(1)) if match else 0
    finite = bool(torch.isfinite(h[i]).all())
    pp = ham.pseudopotential
    params = "; ".join(f"{s}: " + " ".join(f"{v:.6g}" for v in row)
                       for s, row in zip(pp.species, pp.params.detach().cpu().tolist()))
    k = " ".join(f"{v:g}" for v in np.asarray(kfrac, dtype=np.float64).reshape(-1, 3)[first + i])
    state = "is ill-conditioned" if finite else "has non-finite entries"
    return EigensolverError(f"{label + ': ' if label else ''}eigensolver failed at k-point {offset + first + i} "
                            f"(k = {k}, fractional): the Hamiltonian {state}; parameters a0..a8 {params}")


def levels_needed(nbands: int, spinor: bool) -> int:
    return nbands if spinor else math.ceil(nbands / 2)


def to_bands(levels: torch.Tensor, nbands: int, spinor: bool, order: torch.Tensor | None = None) -> torch.Tensor:
    """Hartree levels (nk, n_levels) -> eV bands (nk, nbands): order matrix, then spin doubling."""
    if order is not None:
        levels = torch.gather(levels, 1, order[:, : levels.shape[1]].to(levels.device))
    if not spinor:
        levels = levels.repeat_interleave(2, dim=1)
    return levels[:, :nbands] * HARTREE_EV


def band_energies(ham: Hamiltonian, kfrac, nbands: int, order_matrix=None,
                  memory_limit_gb: float = SETTINGS["memory_limit_GB"].default, progress=None, prepared=None,
                  label: str = "", k_offset: int = 0) -> torch.Tensor:
    """Bands (nk, nbands) in eV at fractional k-points ``kfrac`` (nk, 3). ``prepared``: the k-independent
    part (``ham.prepare()``) when the caller keeps it between calls. A failed eigensolve raises
    :class:`EigensolverError` naming ``label`` (e.g. the system), the k-point (counted from ``k_offset``) and
    the parameters."""
    kfrac = np.asarray(kfrac, dtype=np.float64).reshape(-1, 3)
    k = ham.basis.kpoints(kfrac)
    n_levels = levels_needed(nbands, ham.spinor)
    if n_levels > ham.dim:
        raise ValueError(f"{nbands} bands requested but the basis has only {ham.dim} states; raise maxKE")
    with PROFILER.stage("hamiltonian build"):
        prepared = ham.prepare() if prepared is None else prepared
    step = batch_size(ham.dim, memory_limit_gb, k.shape[0])
    chunks = []
    for start in range(0, k.shape[0], step):
        with PROFILER.stage("hamiltonian build"):
            h = ham.matrices(k[start:start + step], prepared)
        with PROFILER.stage("eigensolver"):
            try:
                chunks.append(lowest_eigenvalues(h, n_levels, ham.warm, kfrac[start:start + step]))
            except (torch.linalg.LinAlgError, np.linalg.LinAlgError) as err:
                raise _eigensolver_error(ham, h, kfrac, start, k_offset, err, label) from None
        del h
        if progress is not None:
            progress(min(start + step, k.shape[0]))
    order = None if order_matrix is None else torch.as_tensor(np.asarray(order_matrix), dtype=torch.int64)
    return to_bands(torch.cat(chunks), nbands, ham.spinor, order)


def system_hamiltonian(system, pseudopotential: Pseudopotential, device="cpu", scale: float = 1.0,
                       reference_basis: PlaneWaveBasis | None = None) -> Hamiltonian:
    """Hamiltonian of one bundle system (:class:`sepm.io.SystemSpec`).

    ``scale`` multiplies the lattice constant (deformation potentials): the Miller indices of the
    unscaled basis are kept (the basis shrinks by 1/s), Tr eps = s^3 - 1 enters the strain factor.
    """
    crystal = Crystal.from_system(system, species=pseudopotential.species)
    if scale != 1.0:
        crystal = crystal.scaled(scale)
    miller = None if reference_basis is None else reference_basis.miller
    basis = PlaneWaveBasis(crystal, system.maxke, device=device, miller=miller,
                           deeppseudopot_box=getattr(system, "deeppseudopot_basis", False))
    return Hamiltonian(basis, pseudopotential, trace_strain=scale**3 - 1.0)


def path_distance(crystal: Crystal, kfrac) -> np.ndarray:
    """Cumulative Cartesian length (1/Bohr) along a k-path."""
    k = crystal.kpoints_cartesian(kfrac)
    steps = np.linalg.norm(np.diff(k, axis=0), axis=1)
    return np.concatenate([[0.0], np.cumsum(steps)])
