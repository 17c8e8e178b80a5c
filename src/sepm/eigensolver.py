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
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import torch
from threadpoolctl import threadpool_limits

#: LAPACK driver for the subset eigensolver on the CPU.
CPU_DRIVER = "evx"

#: Below this matrix size one BLAS thread per eigensolve is faster (threads only add overhead).
SINGLE_THREAD_BELOW = 600


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


class _LowestEigenvalues(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h, n):
        values, vectors = lowest_eigenpairs(h, n)
        ctx.save_for_backward(vectors)
        return values

    @staticmethod
    def backward(ctx, grad_values):
        (vectors,) = ctx.saved_tensors
        weighted = vectors * grad_values.to(vectors.dtype)[:, None, :]
        return weighted @ vectors.mH, None


def lowest_eigenvalues(h: torch.Tensor, n: int) -> torch.Tensor:
    """The n lowest eigenvalues (b, n), ascending; differentiable when ``h`` requires grad."""
    if h.requires_grad:
        return _LowestEigenvalues.apply(h, n)
    return torch.linalg.eigvalsh(h)[:, :n]
