r"""Lowest eigenpairs of batches of Hermitian matrices, differentiable by Hellmann-Feynman.

Eigenvalues alone come from torch's batched values-only solver (MKL's zheevd on the CPU, the fastest
option measured for every size used here). When gradients are needed, only the n lowest eigenpairs
are computed (LAPACK's subset driver through SciPy on the CPU: 3x faster than a full decomposition
with vectors at 2N ~ 2400; torch's eigh on other devices). The backward pass needs only those
eigenvectors:

    dE_m = psi_m^H dH psi_m   =>   dL/dH = sum_m (dL/dE_m) psi_m psi_m^H = V diag(g) V^H,

an O(d^2 n) product instead of the O(d^3) of a full eigendecomposition's backward. Within a
degenerate multiplet only symmetric functions of its levels have well-defined gradients (as for
any eigensolver); band losses over spin-doubled or Kramers pairs are such functions.

Large bases with a start (:class:`WarmStart`) go to block LOBPCG instead (:mod:`sepm.lobpcg`): a
Hamiltonian that is evaluated again and again (every epoch of a fit, every Monte Carlo step) keeps each
k-point's eigenvectors, and a k-point seen for the first time starts from the previous k-point's (the
very first one is solved densely). The backward pass is the same Hellmann-Feynman product on the
converged eigenvectors.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.linalg
import torch
from threadpoolctl import threadpool_limits

from .lobpcg import lobpcg_lowest

log = logging.getLogger("sepm")

#: LAPACK driver for the subset eigensolver on the CPU.
CPU_DRIVER = "evx"

#: Below this matrix size one BLAS thread per eigensolve is faster (threads only add overhead).
SINGLE_THREAD_BELOW = 600

#: The iterative solver is used from this ratio of matrix size to block size (wanted + guard vectors) on:
#: measured on CsPbI3 SOC+NL, 32 bands, warm start after a 0.2 % parameter change, 1 thread: dense subset
#: solver / LOBPCG = 0.6 at dim 502 (ratio 12.5), 1.3 at 874 (22), 3.9 at 1238 (31), 11 at 5034 (126).
ITERATIVE_FROM_RATIO = 20
#: Guard vectors beyond the wanted ones in an iterative block: they complete a multiplet cut at n and
#: speed convergence (4-16 measured alike, 6-7 iterations from the previous epoch's vectors).
GUARD = 8


def _cpu_lowest_pairs(h: torch.Tensor, n: int):
    if h.shape[-1] < SINGLE_THREAD_BELOW:
        with threadpool_limits(1, user_api="blas"):
            return _cpu_subset_loop(h, n)
    return _cpu_subset_loop(h, n)


def _cpu_subset_loop(h: torch.Tensor, n: int):
    values, vectors = [], []
    for m in h.detach().numpy():
        w, v = scipy.linalg.eigh(m, subset_by_index=[0, n - 1], driver=CPU_DRIVER, check_finite=False,
                                 overwrite_a=True)
        values.append(w)
        vectors.append(v)
    return torch.from_numpy(np.stack(values)), torch.from_numpy(np.stack(vectors))


def lowest_eigenpairs(h: torch.Tensor, n: int):
    """(values (b, n), vectors (b, d, n)) of Hermitian ``h`` (b, d, d); no autograd."""
    if h.device.type == "cpu":
        return _cpu_lowest_pairs(h, n)
    w, v = torch.linalg.eigh(h.detach())
    return w[:, :n], v[:, :, :n]


class WarmStart:
    """Eigenvector blocks kept per k-point of one Hamiltonian, the start of its next iterative solve.

    ``blocks`` maps a fractional k-point to its (d, m) block; ``last`` is the most recent block, the
    start of a k-point not yet seen. ``iterations`` (LOBPCG iterations of all
    batches), ``solves`` and ``dense`` (k-points solved iteratively and densely) count the work done."""

    def __init__(self):
        self.blocks: dict[bytes, torch.Tensor] = {}
        self.last: torch.Tensor | None = None
        self.iterations = self.solves = self.dense = 0

    @staticmethod
    def key(kfrac) -> bytes:
        return np.round(np.asarray(kfrac, dtype=np.float64), 10).tobytes()

    def has(self, kfrac) -> bool:
        return self.key(kfrac) in self.blocks

    def start(self, kfrac, m: int) -> torch.Tensor | None:
        """The (b, d, m) start of the k-points ``kfrac`` (b, 3), or None before any solve."""
        if self.last is None or self.last.shape[-1] != m:
            return None
        return torch.stack([self.blocks.get(self.key(k), self.last) for k in kfrac])

    def store(self, kfrac, vectors: torch.Tensor):
        for k, v in zip(kfrac, vectors):
            self.blocks[self.key(k)] = v
        self.last = vectors[-1]


def uses_iterative(dim: int, n: int) -> bool:
    return dim >= ITERATIVE_FROM_RATIO * (n + GUARD)


def warm_lowest_eigenpairs(h: torch.Tensor, n: int, warm: WarmStart, kfrac):
    """(values (b, n), vectors (b, d, n)) by LOBPCG from ``warm``'s blocks, which are updated. A batch of
    k-points that all have a block is solved together; otherwise one k-point after the other, a new one
    from the previous one's vectors (the very first densely). A solve that does not converge is dense."""
    m = min(n + GUARD, h.shape[-1])
    if all(warm.has(k) for k in kfrac):
        return _iterative(h, n, m, warm, kfrac, warm.start(kfrac, m))
    out = [_iterative(h[i:i + 1], n, m, warm, kfrac[i:i + 1], warm.start(kfrac[i:i + 1], m))
           for i in range(h.shape[0])]
    return torch.cat([v for v, _ in out]), torch.cat([x for _, x in out])


def _iterative(h: torch.Tensor, n: int, m: int, warm: WarmStart, kfrac, start):
    if start is None:
        return _dense(h, n, m, warm, kfrac)
    result = lobpcg_lowest(h.detach(), n, start)
    if not result.converged:
        log.warning("LOBPCG did not converge in %d iterations (largest residual %.1e Hartree): solving this "
                    "batch of %d k-points densely", result.iterations, result.residual, h.shape[0])
        return _dense(h, n, m, warm, kfrac)
    warm.iterations += result.iterations
    warm.solves += h.shape[0]
    warm.store(kfrac, result.vectors)
    return result.values, result.vectors[:, :, :n]


def _dense(h: torch.Tensor, n: int, m: int, warm: WarmStart, kfrac):
    values, vectors = lowest_eigenpairs(h, m)
    warm.dense += h.shape[0]
    warm.store(kfrac, vectors)
    return values[:, :n], vectors[:, :, :n]


class _LowestEigenvalues(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h, n, warm, kfrac):
        if warm is None:
            values, vectors = lowest_eigenpairs(h, n)
        else:
            values, vectors = warm_lowest_eigenpairs(h, n, warm, kfrac)
        ctx.save_for_backward(vectors)
        return values

    @staticmethod
    def backward(ctx, grad_values):
        (vectors,) = ctx.saved_tensors
        weighted = vectors * grad_values.to(vectors.dtype)[:, None, :]
        return weighted @ vectors.mH, None, None, None


def lowest_eigenvalues(h: torch.Tensor, n: int, warm: WarmStart | None = None, kfrac=None) -> torch.Tensor:
    """The n lowest eigenvalues (b, n), ascending; differentiable when ``h`` requires grad. With ``warm``
    (and ``kfrac``, the batch's fractional k-points) a large enough ``h`` is solved iteratively."""
    if warm is not None and not uses_iterative(h.shape[-1], n):
        warm = None
    if h.requires_grad:
        return _LowestEigenvalues.apply(h, n, warm, kfrac)
    if warm is not None:
        return warm_lowest_eigenpairs(h, n, warm, kfrac)[0]
    return torch.linalg.eigvalsh(h)[:, :n]
