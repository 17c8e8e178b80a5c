r"""Lowest eigenpairs of batches of Hermitian matrices, differentiable by Hellmann-Feynman.

Only the n lowest eigenpairs are computed (LAPACK's subset drivers through SciPy on the CPU, torch's
eigh on other devices). The backward pass needs only those eigenvectors:

    dE_m = psi_m^H dH psi_m   =>   dL/dH = sum_m (dL/dE_m) psi_m psi_m^H = V diag(g) V^H,

an O(d^2 n) product instead of the O(d^3) of a full eigendecomposition's backward. Within a
degenerate multiplet only symmetric functions of its levels have well-defined gradients (as for
any eigensolver); band losses over spin-doubled or Kramers pairs are such functions.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import torch

#: LAPACK driver for the subset eigensolver on the CPU.
CPU_DRIVER = "evr"


def _cpu_lowest(h: torch.Tensor, n: int, vectors: bool):
    values, vecs = [], []
    for m in h.detach().numpy():
        out = scipy.linalg.eigh(m, eigvals_only=not vectors, subset_by_index=[0, n - 1], driver=CPU_DRIVER,
                                check_finite=False, overwrite_a=True)
        values.append(out if not vectors else out[0])
        if vectors:
            vecs.append(out[1])
    values = torch.from_numpy(np.stack(values))
    return values, (torch.from_numpy(np.stack(vecs)) if vectors else None)


def lowest_eigenpairs(h: torch.Tensor, n: int, vectors: bool = True):
    """(values (b, n), vectors (b, d, n) or None) of Hermitian ``h`` (b, d, d); no autograd."""
    if h.device.type == "cpu":
        return _cpu_lowest(h, n, vectors)
    if not vectors:
        return torch.linalg.eigvalsh(h.detach())[:, :n], None
    w, v = torch.linalg.eigh(h.detach())
    return w[:, :n], v[:, :, :n]


class _LowestEigenvalues(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h, n):
        values, vectors = lowest_eigenpairs(h, n, vectors=True)
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
    return lowest_eigenpairs(h, n, vectors=False)[0]
