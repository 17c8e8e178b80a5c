r"""Band-structure losses (SPEC section 4).

Band loss of one system: sum_k sum_b w_k w_b (E[k,b] - E_ref[k,b])^2 with k weights from
kpoints_X.par and band weights from bandWeights_X.par (a zero weight removes an entry). Two
relative-energy modes (both may be off):

- ``relE_bIdx = r`` in NN_config.par (DeepPseudopot's): both sides are referred to band r at the
  first k-point, ``E[k,b] - E[0,r]`` against ``E_ref[k,b] - E_ref[0,r]`` (``shift`` = the two values);
- ``relE_perK_bIdx = r`` in input_X.par (sepm's): both sides referred to band r at the same k.
"""

from __future__ import annotations

import torch


def band_loss(bands: torch.Tensor, reference: torch.Tensor, kweights: torch.Tensor,
              band_weights: torch.Tensor, relative_to: int | None = None, shift=None) -> torch.Tensor:
    """``relative_to``: the per-k band; ``shift``: (E[0,r], E_ref[0,r]) of the first-k-point mode."""
    if shift is not None:
        bands = bands - shift[0]
        reference = reference - shift[1]
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
