"""What every fitting stage shares: :class:`FitSetup` (bundle, model, coefficients, objective and their
band and potential outputs), the prior (:func:`run_prior`), and :func:`run_fit`, the optimize stage by
gradients (:class:`~.gradient.GradientStrategy`, run by :func:`~.runner.run_stage`).

Inputs: a bundle, optional NN_config overrides (``KEY=VALUE``) and optional previous-stage outputs
for hybrid chains: a model state_dict (final / epoch_<N> / best PPmodel.pth or init_PPmodel.pth),
an optimizer state, and a folder of ``<prefix><Sym>Params.par`` coefficient files.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import torch

from ..bands import path_distance
from ..errors import Defect, InputError
from ..io import read_bundle
from ..io.limits import basis_defects
from ..io.nnconfig import apply_overrides, config_notices
from ..losses import band_rmse
from ..models import ZeroFunction, build_model
from ..observables.coupling_targets import SystemCouplings, write_system_couplings
from ..output import remove_stale, write_table, write_text
from ..plotting import plot_bands, system_title
from ..profiling import PROFILER
from ..pseudopotential import Pseudopotential, long_range_default
from ..settings import setting
from ..potentials.zunger import zunger
from .coefficients import NAMES, Coefficients, stoichiometry
from .distributed import problem_options
from .init import initialize
from .objective import FitProblem
from .params_files import read_params
from .potential_files import network_form_factor, save_potential

log = logging.getLogger("sepm")


def default_trainable(model, sobool: bool, monte_carlo: bool = False) -> list[str]:
    """What DeepPseudopot moves: analytic-only fits a0..a4 (+ a5..a7 with SOC); a network's gradient
    training only the network (its optimizer holds the network's parameters alone); its Monte Carlo
    the network and, with SOC, a5..a7."""
    if isinstance(model, ZeroFunction):
        return ["a0", "a1", "a2", "a3", "a4"] + (["a5", "a6", "a7"] if sobool else [])
    return ["a5", "a6", "a7"] if sobool and monte_carlo else []


class FitSetup:
    """Bundle, model, coefficients and objective of one fitting stage."""

    def __init__(self, bundle_dir, overrides=(), init_params: tuple | None = None, device="cpu"):
        self.bundle = read_bundle(bundle_dir)
        cfg = self.config = apply_overrides(self.bundle.config, list(overrides))
        set_keys = [item.partition("=")[0].strip() for item in overrides]
        if {"memory_limit_GB", "SObool", "deeppseudopot_basis"} & set(set_keys):  # the basis check again
            line = (self.bundle.config_lines or {}).get("memory_limit_GB")
            origin = "--set" if "memory_limit_GB" in set_keys else f"NN_config.par line {line}" if line else None
            defects = basis_defects(self.bundle.path, self.bundle.systems, cfg, origin)
            if defects:
                raise InputError(defects)
        for notice in self.bundle.notices + self.bundle.config_notices(cfg, set_keys):
            log.info("notice: %s", notice)
        self.bundle.config = cfg
        for spec in self.bundle.systems:
            spec.deeppseudopot_basis = setting(cfg, "deeppseudopot_basis")
        for notice in config_notices(cfg):
            log.info("notice: %s", notice)
        PROFILER.configure(runtime=setting(cfg, "runtime_flag"), memory=setting(cfg, "memory_flag"))
        self.device = torch.device(device)
        species = self.bundle.species
        nn_path = Path(self.bundle.path) / "NN_config.par"

        def place(key):  # the --set override or NN_config.par line that gave ``key``
            if key in set_keys:
                return Path("--set"), len(set_keys) - set_keys[::-1].index(key)
            return nn_path, (self.bundle.config_lines or {}).get(key)

        if "PPmodel" not in cfg:
            raise InputError(Defect(nn_path, None, "PPmodel is required by the fitting stages (e.g. "
                                    "PPmodel = Net_celu_HeInit_decayGaussian, or ZeroFunction for analytic-only fits); "
                                    "add it to NN_config.par or pass --set PPmodel=..."))
        try:
            self.model = build_model(cfg["PPmodel"], setting(cfg, "hiddenLayers"), len(species), cfg,
                                     seed=setting(cfg, "seed")).to(self.device)
        except ValueError as err:
            raise InputError(Defect(*place("PPmodel"), str(err))) from None
        if not isinstance(self.model, ZeroFunction) and not cfg.get("hiddenLayers"):
            raise InputError(Defect(*place("PPmodel"), f"hiddenLayers is required by PPmodel = {cfg['PPmodel']}"))
        base = np.stack([self.bundle.params[s] for s in species])
        self.params_origin = "init_<Sym>Params.par of the bundle"
        if init_params is not None:
            folder, prefix = init_params
            base = read_params(folder, prefix, species)
            self.params_origin = f"{Path(folder) / (prefix + '<Sym>Params.par')}"
        self.initial_params = base
        sobool = setting(cfg, "SObool")
        trainable = setting(cfg, "trainable_params") or default_trainable(self.model, sobool, setting(cfg, "mc_bool"))
        unknown = [t for t in trainable if t not in NAMES]
        if unknown:
            raise InputError(Defect(*place("trainable_params"), f"trainable_params: unknown names {unknown}; "
                                    "use a0 .. a8"))
        self.coefficients = Coefficients(base, trainable, stoichiometry(self.bundle)).to(self.device)
        local = network_form_factor(self.model)
        self.pp = Pseudopotential(tuple(species), self.coefficients().detach(), local=local, soc=sobool,
                                  nonlocal_=sobool, lr_gamma=setting(cfg, "LRgamma"),
                                  long_range=long_range_default(local, cfg), recompute=setting(cfg, "checkpoint"))
        self._log_long_range(stoichiometry(self.bundle), trainable)
        self._log_basis_box()
        self.problem = None

    def _log_basis_box(self):
        """A notice where DeepPseudopot's plane-wave search box would drop plane waves of the sphere."""
        from ..basis import sphere_miller_indices
        from ..crystal import Crystal

        for spec in self.bundle.systems:
            crystal = Crystal.from_system(spec, species=self.bundle.species)
            full = len(sphere_miller_indices(crystal.reciprocal, crystal.lattice, spec.maxke))
            box = len(sphere_miller_indices(crystal.reciprocal, crystal.lattice, spec.maxke, True))
            if box != full:
                used = "used here (deeppseudopot_basis = 1)" if spec.deeppseudopot_basis else \
                    "sepm keeps the whole sphere; deeppseudopot_basis = 1 reproduces the original's numbers"
                log.info("notice: system %d: DeepPseudopot's plane-wave search box keeps %d of the %d plane waves "
                         "below maxKE = %g Ha in this cell; %s", spec.index, box, full, spec.maxke, used)

    def _log_long_range(self, stoich: np.ndarray, trainable: list[str]):
        """Whether the a4 tail is used, and a notice for every system whose a4 sum is not zero."""
        a4 = self.initial_params[:, 4]
        sums = stoich @ a4
        if not self.pp.long_range and np.any(a4 != 0):
            log.info("notice: the long-range a4 tail is not added to the network potential (DeepPseudopot's "
                     "rule; network_long_range = 1 adds it)%s", "; a4 stays fixed" if "a4" in trainable else "")
        for x, total in enumerate(sums):
            if abs(total) > 1e-8:
                terms = " + ".join(f"{int(n)} x a4({s})" for n, s in zip(stoich[x], self.bundle.species) if n)
                log.info("notice: system %d is not charge-neutral in a4: %s = %.6g%s", x, terms, total,
                         " (used: the tail is active)" if self.pp.long_range else " (not used here)")

    def require_reference(self, stage: str):
        """Refuse, before anything is computed, a dangling expBandStruct_X.par symlink, or a bundle where no
        system has reference bands: ``stage`` fits to them. A system without the file is only evaluated."""
        defects, missing = [], []
        for spec in self.bundle.systems:
            path = Path(self.bundle.path) / f"expBandStruct_{spec.index}.par"
            if path.is_symlink() and not path.exists():
                defects.append(Defect(path, None, f"dangling symlink to {path.readlink()}; {stage} fits to the "
                                      "reference bands in this file"))
            elif spec.ref_bands is None:
                missing.append(path)
        if len(missing) == len(self.bundle.systems):
            defects += [Defect(path, None, f"file not found; {stage} fits to reference bands (rows path_distance "
                               "E_1 .. E_nBands, one per k-point)") for path in missing]
        if defects:
            raise InputError(defects)
        for path in missing:
            log.info("notice: %s not found: that system is evaluated but not fitted", path.name)

    def refresh(self):
        self.pp.params = self.coefficients()

    def build_problem(self, memory_limit_gb=None) -> FitProblem:
        """The objective; in a distributed fit each rank evaluates its share of the k-points."""
        memory = memory_limit_gb or setting(self.config, "memory_limit_GB")
        self.problem = FitProblem(self.bundle, self.pp, self.refresh, self.device, memory,
                                  **problem_options({"model": self.model, "coefficients": self.coefficients}))
        return self.problem

    def zunger_reference(self):
        params = torch.as_tensor(self.initial_params, device=self.device)
        return lambda q: zunger(q, params.to(q.device))

    # -- outputs ----------------------------------------------------------------------------------
    def start_name(self, strategy: str) -> str:
        """What the stage starts from, e.g. "network prior (fit to Zunger form)", to tell it from the bundle's
        analytic potential that ``sepm bands`` evaluates (results/<m>/bands/)."""
        if isinstance(self.model, ZeroFunction):
            return f"starting coefficients ({self.params_origin})"
        return f"network prior ({strategy})"

    def write_bands(self, outdir: Path, stem: str, title: str, refresh: bool = True, bands=None) -> list[float]:
        """Band tables and plots of the current potential for every system; returns RMSE (eV) per system.

        ``bands``: the systems' bands when already computed (else computed); kept in ``last_bands``."""
        rmses, self.last_bands = [], []
        with torch.no_grad():
            if refresh and bands is None:
                self.refresh()
            for x, target in enumerate(self.problem.targets):
                spec = target.spec
                bands_x = self.problem.bands(x).cpu() if bands is None else bands[x]
                self.last_bands.append(bands_x)
                distance = path_distance(target.ham.basis.crystal, spec.kpoints)
                rmse = band_rmse(bands_x, target.reference.cpu(), target.kweights.cpu(), target.band_weights.cpu()) \
                    if target.reference is not None else float("nan")
                rmses.append(rmse)
                write_table(outdir / f"{stem}_bands_{x}.dat", ["kidx", "path"] + [f"E_{b + 1}" for b in range(spec.nbands)],
                            np.column_stack([np.arange(len(distance)), distance, bands_x.numpy()]),
                            [f"{title}: system {x} ({spec.name}); energies in eV; RMSE {1e3 * rmse:.3f} meV"])
                plot_bands(outdir / f"{stem}_plotBS_{x}", distance, bands_x.numpy(), spec.kpoints, spec.ref_bands,
                           title=f"{system_title(spec, self.bundle.path)}: {title}, RMSE {1e3 * rmse:.1f} meV",
                           labels=spec.klabels, lattice=spec.lattice, vb_index=spec.settings.get("idxVB"))
                if spec.couplings is not None:  # qpoints_X.par: the couplings beside the bands
                    write_system_couplings(outdir / f"{stem}_couplingBands_{x}.dat", target.couplings or SystemCouplings(
                        target.ham, spec, setting(self.config, "coupling_average")), title)
        return rmses

    def write_analytic_bands(self, outdir: Path) -> float:
        """``oldFunc_*``: bands of the bundle's analytic potential (Zunger form of a0..a3 plus the a4 tail, SOC/NL
        as configured), DeepPseudopot's first evaluation; returns its band cost (the same weights as the fit)."""
        analytic = Pseudopotential(self.pp.species, torch.as_tensor(self.initial_params, device=self.device),
                                   soc=self.pp.soc, nonlocal_=self.pp.nonlocal_, lr_gamma=self.pp.lr_gamma)
        problem = FitProblem(self.bundle, analytic, device=self.device,
                             memory_limit_gb=setting(self.config, "memory_limit_GB"))
        saved = self.problem
        self.problem = problem
        try:
            with torch.no_grad():
                cost = problem.evaluate().total
            rmse = self.write_bands(outdir, "oldFunc", "analytic (Zunger) potential", refresh=False)
        finally:
            self.problem = saved
        log.info("analytic (Zunger + a4) potential: cost %.6g, RMSE %s meV", cost,
                 ", ".join(f"{1e3 * r:.1f}" for r in rmse))
        return cost

    def plot_potential(self, stem, title: str):
        from ..export import plot_potentials

        with torch.no_grad():
            plot_potentials(stem, lambda q: self.pp.local_form_factor(q), self.bundle.species,
                            reference=self.zunger_reference(), title=title,
                            reference_name="starting Wang-Zunger")

    def save(self, outdir, prefix: str, optimizer=None):
        with torch.no_grad():
            save_potential(outdir, prefix, self.model, self.coefficients(), self.bundle.species, self.config)
        if optimizer is not None:
            from ..output import atomic_path

            with atomic_path(Path(outdir) / f"{prefix}AdamState.pth") as tmp:
                torch.save(optimizer.state_dict(), tmp)


def run_prior(setup: FitSetup, outdir: Path, init_model=None, init_optimizer=None,
              record_name: str = "init_record.json") -> dict:
    """Initialization: returns the record (also written to init_record.json)."""
    outdir.mkdir(parents=True, exist_ok=True)

    def on_plot(epoch):
        setup.plot_potential(outdir / "initZunger_plotPP", f"prior fit, epoch {epoch}")

    record = initialize(setup.model, setup.bundle, setup.initial_params, init_model, init_optimizer, on_plot)
    record["coefficients_from"] = setup.params_origin
    record["trainable"] = setup.coefficients.describe()
    optimizer_state = record.pop("optimizer_state", None)
    log.info("initialization strategy: %s (%s)", record["strategy"],
             ", ".join(f"{k}={v}" for k, v in record.items() if k != "strategy"))
    write_text(outdir / record_name, json.dumps(record, indent=2, default=str) + "\n")
    return {"record": record, "optimizer_state": optimizer_state}


def write_profile(path: Path):
    """runtime_flag / memory_flag: every stage's calls, wall time and peak memory (also logged)."""
    columns, rows = PROFILER.table()
    lines = ["# seconds and peak resident memory per stage (runtime_flag / memory_flag; nan = not recorded)",
             "# " + " ".join(columns)]
    lines += [f"{name.replace(' ', '_')} {calls} {total:.6f} {mean:.6f} {peak:.1f}"
              for name, calls, total, mean, peak in rows]
    write_text(path, "\n".join(lines) + "\n")
    log.info("profile: %s (table in %s)", PROFILER.summary(), path)


def fingerprint(config: dict, *files_and_args) -> str:
    """A hash of the effective configuration and the initialization inputs (file contents included)."""
    h = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode())
    for item in files_and_args:
        for part in (item if isinstance(item, tuple) else (item,)):
            h.update(str(part).encode())
            if part is not None and Path(part).is_file():
                h.update(Path(part).read_bytes())
    return h.hexdigest()


def param_files(init_params) -> list[Path]:
    if init_params is None:
        return []
    folder, prefix = init_params
    return sorted(Path(folder).glob(f"{prefix}*Params.par"))


def remove_previous_outputs(outdir: Path, marker: str, pattern: str | None, inputs) -> None:
    """Once a stage's inputs are checked, before it computes: remove a previous run's completion ``marker``
    and its potential files (``pattern``), except this run's own inputs (init_model, init_optimizer,
    init_params), so that no finished run's record stands beside this run's partial files."""
    model, optimizer, params = inputs
    keep = {Path(p).resolve() for p in (model, optimizer, *param_files(params)) if p}
    names = sorted(p.name for p in outdir.glob(pattern) if p.resolve() not in keep) if pattern else []
    remove_stale(outdir, [marker, *names])


def run_fit(bundle_dir, outdir, overrides=(), init_model=None, init_optimizer=None, init_params=None,
            device="cpu", stop_after=None) -> dict:
    """The optimize stage (gradient training or init-only evaluation). Returns a summary dict.

    Holds the lock on ``outdir`` (one run per folder) for the whole stage."""
    from .gradient import GradientStrategy
    from .runner import run_stage

    return run_stage(GradientStrategy(), bundle_dir, outdir, overrides, init_model, init_optimizer, init_params,
                     device, stop_after)
