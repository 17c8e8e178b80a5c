"""``mc_perturb_mode``: DeepPseudopot's Monte Carlo perturbations (its ``perturb_model``), p = mc_percentage.

Applied to one state vector: the network weights (per tensor) and the trainable SOC/NL strengths
a5..a7 ("coupling" entries); other entries are left to sepm's own move. U(a, b) is uniform.

    1  weight w <- w (1 + U(-p, p));                         a5..a7 <- a (1 + U(-p/100, p/100))
    2  as 1, but w > 30 <- w (1 - p U(0, 1)), w < -30 <- w (1 + p U(0, 1)),
       |w| < 0.01 <- w (1 + U(-10 p, 10 p))
    3  per tensor: normalise to zero mean, unit std, add p N(0, 1) to a random half of its entries,
       undo the normalisation; a5..a7 unchanged
    4  per tensor, with probability 0.6: w <- w + p s (s = +-1 per entry); each a5..a7, with
       probability 0.6: a <- a + (p/100) s
"""

from __future__ import annotations

import torch

from ..choices import MC_PERTURB_MODES as MODES


def _u(n, lo, hi, gen):
    return lo + (hi - lo) * torch.rand(n, generator=gen, dtype=torch.float64)


def _sign(n, gen):
    return torch.randint(0, 2, (n,), generator=gen).to(torch.float64) * 2 - 1


def perturb(x: torch.Tensor, mode: int, p: float, network: list[slice], coupling: torch.Tensor,
            gen: torch.Generator) -> torch.Tensor:
    """A perturbed copy of ``x``; ``network``: slices of the weight tensors, ``coupling``: indices of a5..a7."""
    if mode not in MODES:
        raise ValueError(f"mc_perturb_mode must be one of {MODES}, got {mode}")
    new = x.clone()
    for part in network:
        w = new[part]
        n = w.numel()
        if mode == 1:
            w *= 1 + _u(n, -p, p, gen)
        elif mode == 2:
            factor = 1 + _u(n, -p, p, gen)
            big, small = w > 30, w < -30
            tiny = (w > -0.01) & (w < 0.01)
            factor[big] = 1 - p * _u(int(big.sum()), 0, 1, gen)
            factor[small] = 1 + p * _u(int(small.sum()), 0, 1, gen)
            factor[tiny] = 1 + _u(int(tiny.sum()), -10 * p, 10 * p, gen)
            w *= factor
        elif mode == 3:
            mean, std = w.mean(), (w.std() if n > 1 else torch.zeros((), dtype=w.dtype))
            z = (w - mean) / (std + 1e-8)
            half = torch.randperm(n, generator=gen)[: int(0.5 * n)]
            z[half] += p * torch.randn(len(half), generator=gen, dtype=torch.float64)
            new[part] = z * std + mean
        else:
            if float(torch.rand((), generator=gen)) <= 0.6:
                w += p * _sign(n, gen)
    if len(coupling):
        a = new[coupling]
        if mode in (1, 2):
            a *= 1 + _u(len(a), -p / 100, p / 100, gen)
        elif mode == 4:
            moved = torch.rand(len(a), generator=gen) <= 0.6
            a[moved] += p / 100 * _sign(int(moved.sum()), gen)
        new[coupling] = a
    return new
