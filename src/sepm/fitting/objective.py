r"""The fitting objective (SPEC section 4): a list of targets summed, with gradients by autograd.

total = sum_systems band loss + sum over the other targets (:data:`sepm.fitting.targets.TARGETS`, one file
each: deformation potentials, penalties, electron-phonon couplings, effective masses, gaps, the prior
anchor). Every target has a name; :class:`LossParts` holds the terms by name, and every writer (cost-table
headers, fit_summary.json, Monte Carlo's reweighting, the ranks) reads them from there.

Execution modes give identical losses and gradients: full batch (one graph, one backward) or
per-k-point gradient accumulation (``separate_kpoints``: one backward per k-point, lower peak
memory). Only the band energies split over k-points; the other targets are system-level terms, computed
once in both. In a distributed fit the band losses, their gradients and ``bands`` are computed by the ranks,
each holding a share of the k-points (:class:`sepm.fitting.distributed.RankShare`, handed in as ``distributed``),
with the same results.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..bands import band_energies, system_hamiltonian
from ..pseudopotential import Pseudopotential
from ..settings import setting
from .targets import TARGETS

log = logging.getLogger("sepm")


def check_splits(config: dict, bundle_path) -> None:
    """Refuse, before any compute, a setting that needs every k-point in one process, for a fit over ranks."""
    if setting(config, "smooth_reorder"):
        from ..errors import Defect, InputError

        raise InputError(Defect(Path(bundle_path) / "NN_config.par", None, "smooth_reorder = 1 needs every k-point's "
                                "bands in one process: use num_cores = 0 (or 1) and a single rank with it"))


@dataclass
class SystemTarget:
    """One system's Hamiltonian, reference bands and weights, and the per-system state of its targets."""

    spec: object
    ham: object
    reference: torch.Tensor | None
    kweights: torch.Tensor
    band_weights: torch.Tensor
    defpot: list = field(default_factory=list)  # (row (7,), scaled Hamiltonian)
    reordered: torch.Tensor | None = None  # smooth_reorder: the last training iteration's reordered bands
    reordering: torch.Tensor | None = None  # ... and this iteration's, filled k-point by k-point
    couplings: object = None  # SystemCouplings when the coupling loss is used


@dataclass
class LossParts:
    """One evaluation: ``total``, the band loss per system, the other targets' terms by name (``terms``,
    registry order: ``parts.defpot``, ``parts.penalty``, ``parts.coupling``, ``parts.mass``, ... read them)
    and their per-row results by fit_summary key (``details``: ``parts.deformation_potentials``, ...)."""

    total: float
    bands: list
    terms: dict = field(default_factory=dict)
    details: dict = field(default_factory=dict)

    def __getattr__(self, name):
        for mapping in ("terms", "details"):
            values = self.__dict__.get(mapping, {})
            if name in values:
                return values[name]
        raise AttributeError(name)

    def reweighted(self, weights: dict[str, float]) -> float:
        """The total with the named terms multiplied by ``weights`` (Monte Carlo's defPotWeight)."""
        extra = sum((w - 1.0) * self.terms[n] for n, w in weights.items() if w != 1.0)
        return self.total + extra if extra else self.total

    def summary(self, prefix: str) -> dict:
        """fit_summary.json entries: ``<prefix>_cost``, ``<prefix>_bands_cost``, ``<prefix>_<name>_cost`` of every
        term and the per-row results under their own keys (e.g. deformation_potentials, effective_masses)."""
        return {f"{prefix}_cost": self.total, f"{prefix}_bands_cost": self.bands,
                **{f"{prefix}_{n}_cost": v for n, v in self.terms.items()}, **self.details}


class FitProblem:
    """Everything needed to evaluate the objective for one bundle and one pseudopotential.

    ``refresh`` is called before every evaluation to write the current trainable values into the
    pseudopotential (e.g. ``pp.params = coefficients()``); it must rebuild any autograd graph.
    ``distributed(problem)``, when given, makes the object that evaluates with the other ranks (``evaluate``,
    ``bands`` and ``close``: :class:`sepm.fitting.distributed.RankShare`); without it evaluation is serial.

    The objective is the targets of :data:`sepm.fitting.targets.TARGETS`, built in ``self.terms`` (name ->
    target). The API for code that distributes the work (torch.distributed ranks):

    * ``band_loss(x, kslice)``: system x's band loss on a slice of its k-points (a tensor with its graph);
      the band losses of disjoint slices add up to the system's.
    * ``accumulate_per_k(x, kpoints)``: the same over the k-point indices ``kpoints`` with one backward per
      k-point (gradients accumulated into the trainable tensors); returns the loss as a float.
    * ``system_terms()``: {name: scalar tensor} of every target that does not split over k-points, in
      registry order; the objective is the band losses plus their sum. Per-row results of that evaluation
      are kept in ``self.details`` until the next call.
    * ``loss_parts(band_losses, terms)``: the :class:`LossParts` of band losses per system (floats) and
      those terms.
    """

    def __init__(self, bundle, pp: Pseudopotential, refresh=lambda: None, device="cpu", memory_limit_gb=2.0,
                 fit_defpot: bool | None = None, distributed=None, coupling_weight: float | None = None):
        self.bundle = bundle
        self.pp = pp
        self.refresh = refresh
        self.device = torch.device(device)
        self.memory_limit_gb = memory_limit_gb
        cfg = bundle.config
        self.first_k_band = setting(cfg, "relE_bIdx")
        self.smooth_reorder = setting(cfg, "smooth_reorder")
        self.fit_defpot = fit_defpot
        self.coupling_weight = float((setting(cfg, "coupling_weight") or 0.0) if coupling_weight is None else coupling_weight)
        self.targets = []
        for spec in bundle.systems:
            ham = system_hamiltonian(spec, pp, device=device)
            ref = None if spec.ref_bands is None else torch.as_tensor(spec.ref_bands, device=self.device)
            self.targets.append(SystemTarget(spec, ham, ref, torch.as_tensor(spec.kweights, device=self.device),
                                             torch.as_tensor(spec.band_weights, device=self.device)))
        self.terms = {cls.name: cls(self) for cls in TARGETS}
        self.details = {}
        if setting(cfg, "cacheSO"):
            self._enable_projector_cache()
        if distributed is not None:
            check_splits(cfg, bundle.path)
        self.distributed = None if distributed is None else distributed(self)  # this rank's k-points, or None

    def close(self):
        """Report the ranks' collectives, if any."""
        if self.distributed is not None:
            self.distributed.close()

    def _enable_projector_cache(self):
        """cacheSO: keep the SO/NL geometry of every k between epochs if it fits half the memory budget."""
        from ..terms.base import ProjectorCache

        hams = [h for t in self.targets for h in [t.ham, *(s for _, s in t.defpot)]]
        need = sum(len(t.spec.kpoints) * 10 * t.ham.basis.size**2 * 8 for t in self.targets if t.ham.spinor
                   or self.pp.nonlocal_)
        budget = self.memory_limit_gb * 2**30 / 2
        cache = ProjectorCache(budget)
        for ham in hams:
            ham.basis.projector_cache = cache
        log.info("cacheSO: keeping SO/NL geometry between evaluations (about %.0f MB needed, budget %.0f MB%s)",
                 need / 2**20, budget / 2**20, "" if need <= budget else "; k-points beyond it are rebuilt each time")

    def describe(self) -> str:
        """The cost as a sum of the targets in use, for cost-table headers."""
        return "cost = " + " + ".join(t.label for t in self.terms.values() if t.active)

    # -- pieces -------------------------------------------------------------------------------
    def bands(self, x: int, kslice=slice(None)) -> torch.Tensor:
        if kslice == slice(None) and not torch.is_grad_enabled() and self.distributed is not None:
            return self.distributed.bands(self, x)
        t = self.targets[x]
        return band_energies(t.ham, t.spec.kpoints[kslice], t.spec.nbands,
                             None if t.spec.order_matrix is None else t.spec.order_matrix[kslice],
                             self.memory_limit_gb, label=f"system {x} ({t.spec.name})",
                             k_offset=kslice.indices(len(t.spec.kpoints))[0])

    def band_loss(self, x: int, kslice=slice(None), e0=None, reorder: bool = False) -> torch.Tensor:
        """Band loss of system x on ``kslice`` (:meth:`.targets.BandEnergies.system_loss`)."""
        return self.terms["bands"].system_loss(self, x, kslice, e0, reorder)

    def accumulate_per_k(self, x: int, kpoints=None) -> float:
        """Per-k-point gradient accumulation of system x's band loss over ``kpoints`` (default all), one backward
        per k-point (:meth:`.targets.BandEnergies.accumulate_per_k`); returns the loss."""
        return self.terms["bands"].accumulate_per_k(self, x, kpoints)

    def system_terms(self) -> dict[str, torch.Tensor]:
        """{name: term} of every target that does not split over k-points; per-row results in ``self.details``."""
        out, self.details = {}, {}
        for name, target in self.terms.items():
            if not target.splits_over_k:
                out[name], rows = target.loss(self)
                if target.details is not None:
                    self.details[target.details] = rows
        return out

    def loss_parts(self, band_losses: list[float], terms: dict[str, torch.Tensor],
                   total: float | None = None) -> LossParts:
        """:class:`LossParts` of the band losses per system and the system-level ``terms`` (``total``: their sum
        when already known, else summed here)."""
        values = {n: float(v.detach()) for n, v in terms.items()}
        if total is None:
            total = sum(band_losses) + float(sum(terms.values()).detach())
        return LossParts(total, band_losses, values, dict(self.details))

    # -- evaluation -----------------------------------------------------------------------------
    def evaluate(self, backward: bool = False, separate_kpoints: bool = False) -> LossParts:
        """The objective; with ``backward`` its gradient is accumulated into the trainable tensors."""
        if self.distributed is not None:
            return self.distributed.evaluate(self, backward, separate_kpoints)
        with torch.set_grad_enabled(backward):
            if backward and separate_kpoints:
                band_parts = [self.accumulate_per_k(x) for x in range(len(self.targets))]
                self.refresh()
                terms = self.system_terms()
                system_level = sum(terms.values())
                if system_level.requires_grad:
                    system_level.backward()
                return self.loss_parts(band_parts, terms)
            self.refresh()
            losses = [self.band_loss(x, reorder=backward) if t.reference is not None
                      else torch.zeros((), dtype=torch.float64) for x, t in enumerate(self.targets)]
            terms = self.system_terms()
            objective = sum(losses)
            for term in terms.values():  # in registry order, as the terms were always added
                objective = objective + term
            if backward:
                objective.backward()
            return self.loss_parts([float(v.detach()) for v in losses], terms, float(objective.detach()))

    def rmse(self) -> list[float]:
        """Unweighted RMSE (eV) per system over entries with nonzero weight (no gradient)."""
        from ..losses import band_rmse

        with torch.no_grad():
            self.refresh()
            return [band_rmse(self.bands(x), t.reference, t.kweights, t.band_weights) if t.reference is not None
                    else float("nan") for x, t in enumerate(self.targets)]
