r"""The fitting objective (SPEC section 4): band losses of every system, deformation potentials and
reciprocal-space penalties, with gradients by autograd.

total = sum_systems sum_k sum_b w_k w_b (E[k,b] - E_ref[k,b])^2          (band loss, eV^2)
      + sum_rows weight (D - D_ref)^2                                      (deformation potentials)
      + penalize_lambda sum_s int_0^12 w(q) |v_s(q)| dq                     (large-q penalty)
      + penalize_mag_lambda sum_s int_0^12 relu(|v_s(q)| - T) dq            (magnitude penalty)
      + penalize_tail_lambda mean_r sum_s Delta_s(r)^2                      (real-space tail, :mod:`.tail_penalty`)
      + penalize_prior_lambda mean_q m(q) sum_s (N_s dv_s(q) / Omega)^2     (prior anchor, :mod:`.prior_anchor`)
      + coupling_weight sum_{atom, xyz, q, edge} w_q (g - g_ref)^2           (electron-phonon couplings)

with w(q) = 1 / (1 + exp(-(q - q0 - 0.5) / 0.1)) a smooth switch at q0 + 0.5 (q0 =
penalize_starting). Relative-energy modes (:mod:`sepm.losses`): NN_config ``relE_bIdx = r`` compares
E[k,b] - E[0,r] (band r at the first k-point, DeepPseudopot's) with the same difference of the
reference, input_X ``relE_perK_bIdx = r`` compares E[k,b] - E[k,r]. In the first mode every k-point's
loss depends on E[0,r]; the per-k-point and worker modes add that dependence exactly (one extra
backward through k-point 0 per system and share). A deformation-potential row compares the gap
E(kCB,bCB) - E(kVB,bVB) of the cell with that of the cell scaled by s (lattice constant x s, Tr eps = s^3 - 1):
D = (E_g - E_g,def) (1 + s^3) / (2 (1 - s^3)) = dE_g / d ln Omega. The coupling term
(:mod:`sepm.observables.coupling`) is used for systems with qpoints_X.par and expCoupling_X.par when
its weight (NN_config ``coupling_weight``, or the Monte Carlo stage's) is > 0.

Execution modes give identical losses and gradients: full batch (one graph, one backward) or
per-k-point gradient accumulation (``separate_kpoints``: one backward per k-point, lower peak
memory). Deformation potentials and penalties are system-level terms, computed once in both.
With ``num_cores`` > 1 (and a worker recipe) the band losses, their gradients and ``bands`` are
computed by worker processes holding shares of the k-points (:mod:`sepm.fitting.parallel`, which builds
on this module; the pool is handed in as ``start_pool``), with the same results; ``close()`` (or
``with problem:``) ends the workers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import logging
from pathlib import Path

import torch

from ..bands import band_energies, system_hamiltonian
from ..losses import band_loss
from ..pseudopotential import Pseudopotential
from .prior_anchor import PriorAnchor
from .tail_penalty import TAIL_RADIUS, TAIL_RMAX, tail_penalty

log = logging.getLogger("sepm")

PENALTY_Q = torch.linspace(0.0, 12.0, 241, dtype=torch.float64)


@dataclass
class SystemTarget:
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
    total: float
    bands: list
    defpot: float = 0.0
    penalty: float = 0.0
    deformation_potentials: list = field(default_factory=list)
    coupling: float = 0.0

    def as_dict(self) -> dict:
        return {"total": self.total, "bands": self.bands, "defpot": self.defpot, "penalty": self.penalty,
                "deformation_potentials": self.deformation_potentials, "coupling": self.coupling}


class FitProblem:
    """Everything needed to evaluate the objective for one bundle and one pseudopotential.

    ``refresh`` is called before every evaluation to write the current trainable values into the
    pseudopotential (e.g. ``pp.params = coefficients()``); it must rebuild any autograd graph.
    ``num_cores`` > 1 spreads the k-points over that many worker processes started by ``start_pool(problem)``
    (a pool with ``evaluate``, ``bands`` and ``close``, e.g. from :func:`sepm.fitting.parallel.start_pool`,
    or None; without it evaluation is serial)."""

    def __init__(self, bundle, pp: Pseudopotential, refresh=lambda: None, device="cpu", memory_limit_gb=2.0,
                 fit_defpot: bool | None = None, num_cores: int = 0, start_pool=None,
                 coupling_weight: float | None = None):
        self.bundle = bundle
        self.pp = pp
        self.refresh = refresh
        self.device = torch.device(device)
        self.memory_limit_gb = memory_limit_gb
        cfg = bundle.config
        self.first_k_band = None if cfg.get("relE_bIdx") is None else int(cfg["relE_bIdx"])
        self.smooth_reorder = bool(cfg.get("smooth_reorder", False))
        self.penalties = {k: float(cfg.get(k, 0.0)) for k in
                          ("penalize_starting", "penalize_lambda", "penalize_mag_threshold", "penalize_mag_lambda",
                           "penalize_tail_lambda", "penalize_prior_lambda")}
        self.penalties["penalize_tail_radius"] = float(cfg.get("penalize_tail_radius", TAIL_RADIUS))
        self.penalties["penalize_tail_rmax"] = float(cfg.get("penalize_tail_rmax", TAIL_RMAX))
        if self.penalties["penalize_tail_lambda"] > 0 and \
                self.penalties["penalize_tail_radius"] >= self.penalties["penalize_tail_rmax"]:
            from ..errors import Defect, InputError

            raise InputError(Defect(Path(bundle.path) / "NN_config.par", None, "penalize_tail_radius = "
                                    f"{self.penalties['penalize_tail_radius']:g} must be below penalize_tail_rmax = "
                                    f"{self.penalties['penalize_tail_rmax']:g} Bohr (the window of the tail penalty)"))
        self.targets = []
        for spec in bundle.systems:
            ham = system_hamiltonian(spec, pp, device=device)
            ref = None if spec.ref_bands is None else torch.as_tensor(spec.ref_bands, device=self.device)
            target = SystemTarget(spec, ham, ref, torch.as_tensor(spec.kweights, device=self.device),
                                  torch.as_tensor(spec.band_weights, device=self.device))
            use_defpot = bool(spec.settings.get("fit_defPot", False)) if fit_defpot is None else fit_defpot
            if use_defpot and spec.defpot_rows is not None:
                for row in spec.defpot_rows:
                    scaled = system_hamiltonian(spec, pp, device=device, scale=float(row[4]), reference_basis=ham.basis)
                    target.defpot.append((row, scaled))
            self.targets.append(target)
        self.coupling_weight = float(cfg.get("coupling_weight", 0.0) if coupling_weight is None else coupling_weight)
        self._use_couplings(cfg.get("coupling_average", "rms"))
        if cfg.get("cacheSO"):
            self._enable_projector_cache()
        # -- k-point worker processes (sepm.fitting.parallel); None = not started, False = serial
        self.num_cores, self._start_pool, self._pool = int(num_cores or 0), start_pool, None
        if self.smooth_reorder and self.num_cores > 1 and start_pool is not None:
            from ..errors import Defect, InputError

            raise InputError(Defect(Path(bundle.path) / "NN_config.par", None, "smooth_reorder = 1 needs every "
                                    "k-point's bands in one process: use num_cores = 0 (or 1) with it"))

    def workers(self):
        """The k-point worker pool (started on first use), or None when evaluation is serial."""
        if self._pool is None:
            self._pool = (self._start_pool(self) if self.num_cores > 1 and self._start_pool else None) or False
        return self._pool or None

    def close(self):
        """End the worker processes (a later parallel evaluation starts new ones)."""
        if self._pool:
            self._pool.close()
        self._pool = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _use_couplings(self, how: str):
        """Coupling evaluators for the systems with targets (weight > 0)."""
        from ..observables import SystemCouplings

        with_targets = [t for t in self.targets if t.spec.couplings is not None and t.spec.couplings.reference is not None]
        if self.coupling_weight > 0:
            for t in with_targets:
                t.couplings = SystemCouplings(t.ham, t.spec, how)
            if with_targets:
                log.info("coupling loss (weight %g, %s average) for system(s) %s", self.coupling_weight, how,
                         ", ".join(str(t.spec.index) for t in with_targets))
            if with_targets and how == "mean_abs":
                log.info("notice: coupling_average = mean_abs (DeepPseudopot's mean |M|) depends on the eigenvectors "
                         "chosen inside degenerate subspaces; use it in Monte Carlo, its gradient is not well defined")

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

    # -- pieces -------------------------------------------------------------------------------
    def bands(self, x: int, kslice=slice(None)) -> torch.Tensor:
        if kslice == slice(None) and not torch.is_grad_enabled() and self.workers() is not None:
            return self._pool.bands(self, x)
        t = self.targets[x]
        return band_energies(t.ham, t.spec.kpoints[kslice], t.spec.nbands,
                             None if t.spec.order_matrix is None else t.spec.order_matrix[kslice],
                             self.memory_limit_gb, label=f"system {x} ({t.spec.name})",
                             k_offset=kslice.indices(len(t.spec.kpoints))[0])

    def _band_loss(self, x: int, kslice=slice(None), e0=None, reorder: bool = False) -> torch.Tensor:
        """Band loss of system x on ``kslice``; ``e0``: E[0, relE_bIdx] to use (else computed, with its graph);
        ``reorder``: a training loss, reordered by smoothness when smooth_reorder = 1 (:mod:`.reorder`)."""
        t = self.targets[x]
        bands, shift = self.bands(x, kslice), None
        if reorder and self.smooth_reorder:
            bands = self._reorder(t, bands, kslice)
        if self.first_k_band is not None:
            r = self.first_k_band
            if e0 is None:
                e0 = bands[0, r] if (kslice.start or 0) == 0 else self.bands(x, slice(0, 1))[0, r]
            shift = (e0, t.reference[0, r])
        return band_loss(bands, t.reference[kslice], t.kweights[kslice], t.band_weights, t.spec.relative_band, shift)

    def _reorder(self, t, bands: torch.Tensor, kslice: slice) -> torch.Tensor:
        """smooth_reorder: the full path is predicted along itself; a share of k-points (per-k-point
        gradients) from the previous iteration's reordered bands (none yet: order kept)."""
        from .reorder import smooth_order

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

    def accumulate_per_k(self, x: int, kpoints=None) -> float:
        """Per-k-point gradient accumulation of system x's band loss over ``kpoints`` (default all).

        In the first-k-point relative mode E[0,r] enters every k's loss as a detached leaf whose gradient
        is collected, then pushed through k-point 0 in one extra backward: the exact full-batch gradient."""
        t = self.targets[x]
        if t.reference is None:
            return 0.0
        kpoints = range(len(t.spec.kpoints)) if kpoints is None else kpoints
        leaf = None
        if self.first_k_band is not None and any(k > 0 for k in kpoints):
            with torch.no_grad():
                self.refresh()
                leaf = self.bands(x, slice(0, 1))[0, self.first_k_band].clone()
            leaf.requires_grad_(True)
        total = 0.0
        for k in kpoints:
            self.refresh()
            loss = self._band_loss(x, slice(k, k + 1), None if k == 0 else leaf, reorder=True)
            loss.backward()
            total += float(loss.detach())
        if t.reordering is not None:
            t.reordered, t.reordering = t.reordering, None
        if leaf is not None and leaf.grad is not None:
            self.refresh()
            (self.bands(x, slice(0, 1))[0, self.first_k_band] * leaf.grad).backward()
        return total

    def deformation_potentials(self) -> list[tuple[torch.Tensor, float, float]]:
        """(D computed, D reference, weight) for every row of every system that fits them."""
        out = []
        for t in self.targets:
            for row, scaled in t.defpot:
                kvb, bvb, kcb, bcb = (int(v) for v in row[:4])
                s = float(row[4])
                kpts = t.spec.kpoints[[kvb, kcb]]
                e0 = band_energies(t.ham, kpts, t.spec.nbands)
                e1 = band_energies(scaled, kpts, t.spec.nbands)
                gap0, gap1 = e0[1, bcb] - e0[0, bvb], e1[1, bcb] - e1[0, bvb]
                out.append(((gap0 - gap1) * (1 + s**3) / (2 * (1 - s**3)), float(row[5]), float(row[6])))
        return out

    def penalty(self) -> torch.Tensor:
        p = self.penalties
        if max(p[k] for k in ("penalize_lambda", "penalize_mag_lambda", "penalize_tail_lambda",
                              "penalize_prior_lambda")) <= 0:
            return torch.zeros((), dtype=torch.float64, device=self.device)
        q = PENALTY_Q.to(self.device)
        v = self.pp.local_form_factor(q).abs()
        dq = float(q[1] - q[0])
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        if p["penalize_lambda"] > 0:
            switch = torch.sigmoid((q - p["penalize_starting"] - 0.5) / 0.1)
            total = total + p["penalize_lambda"] * (switch[:, None] * v).sum() * dq
        if p["penalize_mag_lambda"] > 0:
            total = total + p["penalize_mag_lambda"] * torch.relu(v - p["penalize_mag_threshold"]).sum() * dq
        if p["penalize_tail_lambda"] > 0:
            total = total + p["penalize_tail_lambda"] * self.tail_penalty().to(total)
        if p["penalize_prior_lambda"] > 0:
            self.prior_anchor = getattr(self, "prior_anchor", None) or PriorAnchor(self)
            total = total + p["penalize_prior_lambda"] * self.prior_anchor().to(total)
        return total

    def tail_penalty(self) -> torch.Tensor:
        """The real-space tail term without its lambda (:mod:`.tail_penalty`), eV^2."""
        from ..crystal import Crystal

        species = list(self.pp.species)
        systems = [(torch.tensor([list(t.spec.atom_species).count(s) for s in species], dtype=torch.float64),
                    Crystal.from_system(t.spec, species=species).volume) for t in self.targets]
        p = self.penalties
        return tail_penalty(lambda q: self.pp.local_form_factor(q.to(self.device)).cpu(), systems,
                            p["penalize_tail_radius"], p["penalize_tail_rmax"])

    def coupling_loss(self) -> torch.Tensor:
        """coupling_weight x the coupling losses of the systems that fit couplings."""
        total = torch.zeros((), dtype=torch.float64, device=self.device)
        for t in self.targets:
            if t.couplings is not None:
                total = total + t.couplings.loss(t.couplings.values(need_grad=torch.is_grad_enabled()))
        return self.coupling_weight * total

    def _system_terms(self):
        """(deformation-potential term, penalties, deformation-potential rows, coupling term)."""
        rows = self.deformation_potentials()
        defpot = sum((w * (d - ref) ** 2 for d, ref, w in rows), torch.zeros((), dtype=torch.float64))
        return defpot, self.penalty(), rows, self.coupling_loss()

    # -- evaluation -----------------------------------------------------------------------------
    def evaluate(self, backward: bool = False, separate_kpoints: bool = False) -> LossParts:
        """The objective; with ``backward`` its gradient is accumulated into the trainable tensors."""
        if self.workers() is not None:
            return self._pool.evaluate(self, backward, separate_kpoints)
        with torch.set_grad_enabled(backward):
            if backward and separate_kpoints:
                band_parts = [self.accumulate_per_k(x) for x in range(len(self.targets))]
                self.refresh()
                defpot, penalty, rows, coupling = self._system_terms()
                system_level = defpot + penalty + coupling
                if system_level.requires_grad:
                    system_level.backward()
                total = sum(band_parts) + float(system_level.detach())
            else:
                self.refresh()
                losses = [self._band_loss(x, reorder=backward) if t.reference is not None
                          else torch.zeros((), dtype=torch.float64) for x, t in enumerate(self.targets)]
                defpot, penalty, rows, coupling = self._system_terms()
                objective = sum(losses) + defpot + penalty + coupling
                if backward:
                    objective.backward()
                band_parts, total = [float(v.detach()) for v in losses], float(objective.detach())
        return LossParts(total, band_parts, float(defpot.detach()), float(penalty.detach()),
                         [(float(d.detach()), ref, w) for d, ref, w in rows], float(coupling.detach()))

    def rmse(self) -> list[float]:
        """Unweighted RMSE (eV) per system over entries with nonzero weight (no gradient)."""
        from ..losses import band_rmse

        with torch.no_grad():
            self.refresh()
            return [band_rmse(self.bands(x), t.reference, t.kweights, t.band_weights) if t.reference is not None
                    else float("nan") for x, t in enumerate(self.targets)]
