r"""Band energies: sum_k sum_b w_k w_b (E[k,b] - E_ref[k,b])^2 per system (eV^2), against expBandStruct_X.par.

The one target that splits over k-points: ranks (:mod:`sepm.fitting.distributed`) and per-k-point
gradients (``separateKptGrad``) evaluate it on shares of the k-points. Relative modes
(:mod:`sepm.losses`): NN_config ``relE_bIdx = r`` compares E[k,b] - E[0,r] with the same difference of
the reference, input_X ``relE_perK_bIdx = r`` compares E[k,b] - E[k,r]. In the first mode every
k-point's loss depends on E[0,r]; :meth:`BandEnergies.accumulate_per_k` adds that dependence exactly
(one extra backward through k-point 0). ``smooth_reorder = 1`` reorders the bands by smoothness along
the path (:mod:`sepm.fitting.reorder`) in training losses.
"""

from __future__ import annotations

import torch

from ...losses import band_loss
from .base import Target


class BandEnergies(Target):
    name, label, splits_over_k = "bands", "weighted band loss (eV^2)", True

    @property
    def active(self) -> bool:
        return any(t.reference is not None for t in self.problem.targets)

    def loss(self, problem):
        """All systems' band losses summed (the full-batch term; FitProblem keeps them per system)."""
        parts = [self.system_loss(problem, x) for x, t in enumerate(problem.targets) if t.reference is not None]
        return sum(parts, torch.zeros((), dtype=torch.float64, device=problem.device)), []

    def system_loss(self, problem, x: int, kslice=slice(None), e0=None, reorder: bool = False) -> torch.Tensor:
        """Band loss of system x on ``kslice``; ``e0``: E[0, relE_bIdx] to use (else computed, with its graph);
        ``reorder``: a training loss, reordered by smoothness when smooth_reorder = 1."""
        t = problem.targets[x]
        bands, shift = problem.bands(x, kslice), None
        if reorder and problem.smooth_reorder:
            bands = self._reorder(t, bands, kslice)
        if problem.first_k_band is not None:
            r = problem.first_k_band
            if e0 is None:
                e0 = bands[0, r] if (kslice.start or 0) == 0 else problem.bands(x, slice(0, 1))[0, r]
            shift = (e0, t.reference[0, r])
        return band_loss(bands, t.reference[kslice], t.kweights[kslice], t.band_weights, t.spec.relative_band, shift)

    @staticmethod
    def _reorder(t, bands: torch.Tensor, kslice: slice) -> torch.Tensor:
        """smooth_reorder: the full path is predicted along itself; a share of k-points (per-k-point
        gradients) from the previous iteration's reordered bands (none yet: order kept)."""
        from ..reorder import smooth_order

        nk, nb = len(t.spec.kpoints), bands.shape[1]
        rows = list(range(nk)[kslice])
        if len(rows) == nk:
            perm = smooth_order(bands)
        elif t.reordered is not None:
            perm = smooth_order(bands, t.reordered, rows)
        else:
            perm = torch.arange(nb, device=bands.device).expand(len(rows), nb)
        out = torch.gather(bands, 1, perm.to(bands.device))
        if len(rows) == nk:
            t.reordered = out.detach().cpu()
        else:
            if t.reordering is None:
                t.reordering = torch.full((nk, nb), float("nan"), dtype=bands.dtype)
            t.reordering[rows] = out.detach().cpu()
        return out

    def accumulate_per_k(self, problem, x: int, kpoints=None) -> float:
        """Per-k-point gradient accumulation of system x's band loss over ``kpoints`` (default all).

        In the first-k-point relative mode E[0,r] enters every k's loss as a detached leaf whose gradient
        is collected, then pushed through k-point 0 in one extra backward: the exact full-batch gradient."""
        t = problem.targets[x]
        if t.reference is None:
            return 0.0
        kpoints = range(len(t.spec.kpoints)) if kpoints is None else kpoints
        leaf = None
        if problem.first_k_band is not None and any(k > 0 for k in kpoints):
            with torch.no_grad():
                problem.refresh()
                leaf = problem.bands(x, slice(0, 1))[0, problem.first_k_band].clone()
            leaf.requires_grad_(True)
        total = 0.0
        for k in kpoints:
            problem.refresh()
            loss = self.system_loss(problem, x, slice(k, k + 1), None if k == 0 else leaf, reorder=True)
            loss.backward()
            total += float(loss.detach())
        if t.reordering is not None:
            t.reordered, t.reordering = t.reordering, None
        if leaf is not None and leaf.grad is not None:
            problem.refresh()
            (problem.bands(x, slice(0, 1))[0, problem.first_k_band] * leaf.grad).backward()
        return total
