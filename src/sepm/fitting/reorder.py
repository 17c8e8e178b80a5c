r"""``smooth_reorder = 1``: band order by smoothness along the k-path (DeepPseudopot's rule).

Sorted eigenvalues swap labels where bands cross, so a loss against reference band b can follow the
wrong band after a crossing. The reorder keeps bands continuous instead: for k-point i >= 4 each
slot's next value is extrapolated from its four previous values y1..y4,

    y_next = y4 + 1.3 (y4 - y3) + 0.5 (y4 - 2 y3 + y2) + (y4 - 2 y3 + y2 - y3 + 2 y2 - y1) / 6,

and the levels at i are assigned to the slots by a minimum-cost matching (Hungarian algorithm) of
|predicted - level|, with slots and levels taken as Kramers/spin pairs (2r, 2r+1) (a pair's cost is
the worse of its two pairings) and no level moving more than ``max_switch`` slots (5). k-points
0..3 keep their order. In the full-batch objective the prediction uses the bands being reordered
(slot by slot, along the path); per k-point (separateKptGrad = 1) it uses the previous training
iteration's reordered bands, as there. Only training losses are reordered; validation costs are
not (as in DeepPseudopot).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

MAX_SWITCH = 5
_FAR = 999999.0


def extrapolate(y1, y2, y3, y4):
    first = y4 - y3
    second = y4 - 2 * y3 + y2
    third = second - (y3 - 2 * y2 + y1)
    return y4 + 1.3 * first + 0.5 * second + third / 6


def match(predicted: np.ndarray, levels: np.ndarray, max_switch: int = MAX_SWITCH) -> np.ndarray:
    """Permutation p (nb,) with slot r taking level p[r]: paired minimum-cost assignment."""
    nb = len(levels)
    if nb % 2:
        raise ValueError(f"smooth_reorder pairs bands (2r, 2r+1); nBands = {nb} is odd")
    cost = np.abs(predicted[:, None] - levels[None, :])
    slots, cols = np.indices(cost.shape)
    cost[np.abs(slots - cols) > max_switch] = _FAR
    c = cost.reshape(nb // 2, 2, nb // 2, 2)
    pair_cost = np.maximum(c[:, 0, :, 0] + c[:, 1, :, 1], c[:, 0, :, 1] + c[:, 1, :, 0])
    _, pair = linear_sum_assignment(pair_cost)
    return np.stack([2 * pair, 2 * pair + 1], axis=1).reshape(-1)


def smooth_order(bands: torch.Tensor, previous: torch.Tensor | None = None, rows=None) -> torch.Tensor:
    """Permutations (len(rows), nb) for ``bands`` (len(rows), nb), the k-points ``rows`` of the path.

    Without ``previous`` (full batch: ``rows`` = all k) each k is predicted from the already reordered
    k - 4 .. k - 1; with ``previous`` (nk, nb) it is predicted from those rows of ``previous``."""
    values = bands.detach().cpu().numpy()
    rows = list(range(len(values))) if rows is None else list(rows)
    nb = values.shape[1]
    perm = np.tile(np.arange(nb), (len(rows), 1))
    done = values.copy()
    past = None if previous is None else previous.detach().cpu().numpy()
    for j, k in enumerate(rows):
        if k < 4 or (past is None and j < 4):
            continue
        src = past[k - 4:k] if past is not None else done[j - 4:j]
        perm[j] = match(extrapolate(*src), values[j])
        done[j] = values[j, perm[j]]
    return torch.as_tensor(perm, device=bands.device)
