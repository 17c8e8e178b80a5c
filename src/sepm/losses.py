r"""Band-structure losses (SPEC section 4).

Band loss of one system: sum_k sum_b w_k w_b (E[k,b] - E_ref[k,b])^2 with k weights from
kpoints_X.par and band weights from bandWeights_X.par (a zero weight removes an entry). In the
relative-energy mode (relE_bIdx = r >= 0) both sides are referred to band r at the same k.
"""

from __future__ import annotations

import torch


def band_loss(bands: torch.Tensor, reference: torch.Tensor, kweights: torch.Tensor,
              band_weights: torch.Tensor, relative_to: int | None = None) -> torch.Tensor:
    if relative_to is not None and relative_to >= 0:
        bands = bands - bands[:, relative_to : relative_to + 1]
        reference = reference - reference[:, relative_to : relative_to + 1]
    return (kweights[:, None] * band_weights[None, :] * (bands - reference) ** 2).sum()


def band_rmse(bands: torch.Tensor, reference: torch.Tensor, kweights=None, band_weights=None) -> float:
    """Root-mean-square deviation (eV) over the entries with nonzero weight (unweighted mean)."""
    mask = torch.ones_like(bands, dtype=torch.bool)
    if kweights is not None:
        mask &= (torch.as_tensor(kweights) != 0)[:, None]
    if band_weights is not None:
        mask &= (torch.as_tensor(band_weights) != 0)[None, :]
    return float(torch.sqrt(((bands - reference) ** 2)[mask].mean()))
