r"""Monte Carlo fitting by parallel tempering (mc_bool = 1, max_num_epochs = 0).

State
    The trainable entries of a :class:`~sepm.fitting.stage.FitSetup` form one flat float64 vector x:
    the free analytic coefficients (``Coefficients.free``: the trainable columns among a0..a3, a5..a8,
    species-major), the a4 coordinates along the charge-neutral directions (``Coefficients.shift``,
    a4 = a4_init + Z t: every state is neutral by construction) and, for a network PPmodel, every
    network weight (the MC always moves a network's weights; use PPmodel = ZeroFunction for an
    analytic-only fit). The cost C(x) is the objective of :class:`~sepm.fitting.objective.FitProblem`
    (weighted band loss in eV^2 + defPotWeight x deformation-potential term + reciprocal-space penalties
    + the coupling term when the stage fits couplings).

Algorithm (one stage)
    Replicas r = 0..R-1 sit at the inverse temperatures beta_r of the ladder, each with its own x_r
    and C_r. One iteration (block):

    1. for every replica r, ``stepsAtTemp[r]`` Metropolis moves: choose k = max(1, round(mc_percentage
       * n_movable)) movable entries at random; x' = x_r + sigma_j * tempStepSizeMod[r] * N(0, 1) on
       them; a state with a negative trainable a5 (SOC strength) is rejected without evaluation;
       otherwise accept with probability min(1, exp(-beta_r (C(x') - C_r))). A rejected move writes
       x_r back, so the trainable tensors are bitwise what they were.
    2. exchanges between neighbouring slots (r, r+1), r = 0..R-2 in turn, accepted with probability
       min(1, exp((beta_r - beta_{r+1}) (C_r - C_{r+1}))); an accepted exchange swaps the states.

    The lowest-cost state ever accepted (any replica) is the best state. Step sizes sigma_j are
    absolute: the value for (species, a_i) in ``<Sym>ParamSteps.par`` when the species has that file
    (entries missing from a short file are 0; a step of 0 freezes that coefficient), otherwise 1 % of
    |initial value| + 1e-3; the a4 direction i gets sqrt(sum_s Z_si^2 sigma_a4(s)^2);
    network weights get 1 % of |initial weight| + 1e-3. sigma is fixed for the whole run (the
    proposal is symmetric, so detailed balance holds at every temperature).

Settings (``NN_config.par`` and ``mcOpts*.par``)
    Every ``mcOpts*.par`` file (natural order: mcOpts1, mcOpts2, ...) is one stage; stages run one
    after the other, each starting all its replicas from the previous stage's best state. Without
    such files there is one stage configured by NN_config alone. Per stage:

    - ``betas``: the ladder (one replica per beta; the largest is the coldest). Default:
      mc_beta x 10^(-r/2), r = 0..n-1 (n = 4, or the length of stepsAtTemp/tempStepSizeMod).
    - ``stepsAtTemp``: Metropolis moves per replica per iteration (default 5 each).
    - ``tempStepSizeMod``: step multiplier per replica (default sqrt(beta_coldest / beta_r)).
    - ``totalIter``: iterations of the stage (default NN_config mc_iter).
    - ``writePerIter``: mc_checkpoint.pth, mc_cost.dat and best_<Sym>Params.par are written every
      that many iterations (default 10; 0 = only at the end of the stage) and at every stage end,
      with a snapshot of the best state so far as iter_<N>_<Sym>Params.par (+ iter_<N>_PPmodel.pth),
      N = iterations done over all stages (the frames of ``sepm movie``).
    - ``fitDefPot``: include (True) or leave out (False) the deformation-potential rows of
      expDefPot_X.par in the cost of this stage (default: input_X.par fit_defPot).
    - ``defPotWeight``: multiplies the deformation-potential term (default 1); ignored (logged) when
      the stage fits no deformation potential.
    - ``fitCoupling``: True adds the electron-phonon coupling loss sum w_q (g - g_ref)^2 of the systems
      with qpoints_X.par and expCoupling_X.par to the stage's cost (DeepPseudopot's meaning), times
      NN_config ``coupling_weight`` (default 1 here); False leaves it out; not given: NN_config
      ``coupling_weight`` decides (default 0, out). It does not change which entries move.
    - ``optGaps``: ignored (logged): the gap states (idxVB, idxCB) are entries of the band loss and
      get their emphasis from bandWeights_X.par; sepm has no separate gap term.

    NN_config: ``mc_percentage`` (required), ``mc_iter`` (required unless every stage has totalIter),
    ``mc_beta`` (required unless every stage has betas), ``seed`` (default 0). ``mc_beta_schedule``
    (rows ``iteration beta``, iterations counted over all stages) anneals the coldest beta: at
    iteration g the whole ladder is scaled so that its coldest beta equals the linear interpolation
    of the table at g (constant beyond its ends), keeping the ladder's ratios.

Practical note
    Random-walk moves are slow in the narrow, curved valleys of the Zunger coefficients (a0 and a2
    are nearly degenerate): on the small GaAs test bundle, all eight a0..a3 perturbed by 5 % need
    ~2200 iterations (4 replicas x 2 moves) to reach 5 meV, four of them ~200. Use the MC for
    rugged landscapes and global search, and the gradient stage to polish.

Reproducibility and resume
    Every random draw comes from one ``torch.Generator`` seeded with ``seed``. mc_checkpoint.pth holds
    the complete state (stage, iteration, replicas, costs, betas, counters, best state, generator
    state, trace); rerunning with it in OUTDIR continues exactly where it stopped.

Outputs (OUTDIR, written atomically)
    mc_checkpoint.pth, mc_cost.dat, init_record.json (initialization), best_<Sym>Params.par,
    iter_<N>_<Sym>Params.par and iter_<N>_PPmodel.pth (snapshots per writePerIter),
    best_PPmodel.pth (network), model_config.json, best_bands_X.dat, best_plotBS_X.{png,pdf},
    best_plotPP.{png,pdf}, mc_summary.json.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..errors import Defect, InputError
from ..io.parfile import read_beta_schedule, read_mc_options, read_param_steps
from ..models import ZeroFunction
from ..models.checkpoint import read_checkpoint
from ..output import atomic_path, write_table
from .objective import FitProblem
from ..profiling import PROFILER
from ..settings import setting
from . import ranks
from .distributed import problem_options
from .runner import Strategy, run_stage
from .stage import FitSetup

log = logging.getLogger("sepm")

CHECKPOINT = "mc_checkpoint.pth"
REL_STEP, ABS_STEP = 0.01, 1e-3
DEFAULT_REPLICAS, DEFAULT_STEPS_AT_TEMP, DEFAULT_WRITE_EVERY = 4, 5, 10
PROJECTOR = (5, 6, 7)  # a5..a7: moved by DeepPseudopot's perturbation modes (mc_perturb_mode)


@dataclass
class Stage:
    """Settings of one parallel-tempering stage (one mcOpts file, or NN_config alone)."""

    source: str
    betas: list
    steps_at_temp: list
    step_mods: list
    total_iter: int
    write_every: int = DEFAULT_WRITE_EVERY
    fit_defpot: bool | None = None
    defpot_weight: float | None = None
    fit_coupling: bool | None = None
    ignored: list = field(default_factory=list)


def resolve_stages(setup: FitSetup) -> list[Stage]:
    """The stages of this run (one per mcOpts file, or one from NN_config alone)."""
    cfg, bundle = setup.config, setup.bundle
    nn_path = Path(bundle.path) / "NN_config.par"
    files = bundle.optional_files.get("mcOpts", [])
    sources = [(Path(p), read_mc_options(p)) for p in files] or [(nn_path, {})]
    stages = []
    for path, opts in sources:
        n = next((len(opts[k]) for k in ("betas", "stepsAtTemp", "tempStepSizeMod") if k in opts), DEFAULT_REPLICAS)
        if "betas" in opts:
            betas = [float(b) for b in opts["betas"]]
        elif "mc_beta" in cfg:
            betas = [float(cfg["mc_beta"]) * 10 ** (-0.5 * r) for r in range(n)]
        else:
            raise InputError(Defect(path, None, "no betas: give 'betas = ...' in mcOpts*.par or mc_beta in "
                                    "NN_config.par"))
        if any(b <= 0 for b in betas):
            raise InputError(Defect(path, None, f"betas must be > 0, got {betas}"))
        if "totalIter" in opts:
            total = int(opts["totalIter"])
        elif "mc_iter" in cfg:
            total = int(cfg["mc_iter"])
        else:
            raise InputError(Defect(path, None, "no iteration count: give totalIter in mcOpts*.par or mc_iter in "
                                    "NN_config.par"))
        steps = [int(s) for s in opts.get("stepsAtTemp", [DEFAULT_STEPS_AT_TEMP] * n)]
        mods = [float(m) for m in opts.get("tempStepSizeMod", [math.sqrt(max(betas) / b) for b in betas])]
        if any(s < 0 for s in steps) or any(m < 0 for m in mods):
            raise InputError(Defect(path, None, "stepsAtTemp and tempStepSizeMod must be >= 0"))
        stage = Stage(path.name, betas, steps, mods, total, int(opts.get("writePerIter", DEFAULT_WRITE_EVERY)),
                      opts.get("fitDefPot"), opts.get("defPotWeight"), opts.get("fitCoupling"))
        if "optGaps" in opts:
            stage.ignored.append("optGaps (the gap states are entries of the band loss; weight them with "
                                 "bandWeights_X.par)")
        stages.append(stage)
    for key, file_key in (("mc_beta", "betas"), ("mc_iter", "totalIter")):
        if key in cfg and files and all(file_key in opts for _, opts in sources):
            log.info("NN_config %s = %s ignored: every mcOpts file gives %s", key, cfg[key], file_key)
    return stages


class ReplicaExchange:
    """Replicas, moves and exchanges of a parallel-tempering run over the trainable entries of ``setup``."""

    def __init__(self, setup: FitSetup, seed: int = 0):
        self.setup = setup
        coeffs, species = setup.coefficients, setup.bundle.species
        self.gen = torch.Generator().manual_seed(int(seed))
        files = {s: setup.bundle.optional_files.get(f"{s}ParamSteps") for s in species}
        table = {s: read_param_steps(p) for s, p in files.items() if p is not None}
        for s in species:
            log.info("MC step sizes of %s: %s", s, f"absolute, from {files[s].name}" if s in table
                     else f"default {100 * REL_STEP:g} % of |initial value| + {ABS_STEP:g}")
        with torch.no_grad():
            p0 = coeffs().detach().cpu().numpy()

        def sigma(i: int, col: int) -> float:
            return float(table[species[i]][col]) if species[i] in table else REL_STEP * abs(p0[i, col]) + ABS_STEP

        self.tensors, self.layout, steps, projector = [], [], [], []
        if coeffs.free is not None:
            self.tensors.append(coeffs.free)
            self.layout.append(("coefficients:" + ",".join(f"a{c}" for c in coeffs.columns), coeffs.free.numel()))
            for i in range(len(species)):
                steps += [sigma(i, c) for c in coeffs.columns]
                projector += [c in PROJECTOR for c in coeffs.columns]
        if coeffs.shift is not None:
            self.tensors.append(coeffs.shift)
            self.layout.append(("coefficients:a4 neutral directions", coeffs.shift.numel()))
            z = coeffs.directions.cpu().numpy()
            a4 = np.array([sigma(i, 4) for i in range(len(species))])
            steps += [float(np.sqrt((z[:, i] ** 2 * a4**2).sum())) for i in range(z.shape[1])]
            projector += [False] * z.shape[1]
        if not isinstance(setup.model, ZeroFunction):
            for name, p in setup.model.named_parameters():
                self.tensors.append(p)
                self.layout.append(("network:" + name, p.numel()))
                steps += (REL_STEP * p.detach().abs().reshape(-1).double().cpu() + ABS_STEP).tolist()
                projector += [False] * p.numel()
        self.steps = torch.tensor(steps, dtype=torch.float64)
        self.projector = torch.tensor(projector, dtype=torch.bool)
        # mc_perturb_mode: DeepPseudopot's perturbation of the network tensors and a5..a7 (perturb_modes)
        self.mode = setting(setup.config, "mc_perturb_mode")
        offsets = np.cumsum([0] + [n for _, n in self.layout])
        self.network_parts = [slice(int(a), int(b)) for (name, _), a, b in zip(self.layout, offsets[:-1], offsets[1:])
                              if name.startswith("network:")]
        if self.mode is not None:
            log.info("mc_perturb_mode = %d: network weights and a5..a7 move by DeepPseudopot's mode %d (size "
                     "mc_percentage); other trainable coefficients by sepm's Gaussian steps", self.mode, self.mode)
        self.check_a5 = 5 in coeffs.columns
        self.n = len(steps)
        self.problem, self.movable, self.defpot_weight, self.percentage = None, None, 1.0, 1.0
        self._problems = {}

    # -- the trainable tensors <-> one vector ------------------------------------------------------
    def read(self) -> torch.Tensor:
        if not self.tensors:
            return torch.zeros(0, dtype=torch.float64)
        return torch.cat([t.detach().reshape(-1).to("cpu", torch.float64) for t in self.tensors])

    def write(self, x: torch.Tensor):
        offset = 0
        with torch.no_grad():
            for t in self.tensors:
                t.copy_(x[offset: offset + t.numel()].reshape(t.shape).to(t.device, t.dtype))
                offset += t.numel()

    def feasible(self) -> bool:
        """a5 >= 0 for the trainable SOC strengths (a4 neutrality holds by construction)."""
        return not self.check_a5 or bool((self.setup.coefficients()[:, 5] >= 0).all())

    def cost(self) -> float:
        c = self.problem.evaluate().reweighted({"defpot": self.defpot_weight})
        return c if math.isfinite(c) else math.inf

    # -- stages ---------------------------------------------------------------------------------
    def coupling_weight(self, stage: Stage) -> float:
        """Weight of the coupling loss in ``stage``'s cost (fitCoupling, NN_config coupling_weight)."""
        given = self.setup.config.get("coupling_weight")
        if stage.fit_coupling is None:
            return float(given or 0.0)
        return float(1.0 if given is None else given) if stage.fit_coupling else 0.0

    def configure(self, stage: Stage, percentage: float) -> list[str]:
        """Objective and movable entries of ``stage``; returns (and logs) the stage's ignored keys."""
        weight = self.coupling_weight(stage)
        key = (stage.fit_defpot, weight)
        if key not in self._problems:
            memory = setting(self.setup.config, "memory_limit_GB")
            self._problems[key] = FitProblem(self.setup.bundle, self.setup.pp, self.setup.refresh, self.setup.device,
                                             memory, fit_defpot=stage.fit_defpot, coupling_weight=weight,
                                             **problem_options({"model": self.setup.model,
                                                                "coefficients": self.setup.coefficients}))
        self.problem = self.setup.problem = self._problems[key]
        has_defpot = any(t.defpot for t in self.problem.targets)
        if stage.fit_defpot and not has_defpot:
            log.info("%s: fitDefPot = True but no system has expDefPot_X.par rows: nothing to fit", stage.source)
        ignored = list(stage.ignored)
        if stage.defpot_weight is not None and not has_defpot:
            ignored.append("defPotWeight (no deformation potential in this stage's cost)")
        self.defpot_weight = stage.defpot_weight if stage.defpot_weight is not None and has_defpot else 1.0
        fitted = [t.spec.index for t in self.problem.targets if t.couplings is not None]
        if weight > 0 and not fitted:
            ignored.append("fitCoupling (no system has qpoints_X.par with expCoupling_X.par targets)")
        elif fitted:
            log.info("%s: coupling loss of system(s) %s in the cost (weight %g)", stage.source,
                     ", ".join(map(str, fitted)), weight)
        self.movable = torch.nonzero(self.steps > 0).reshape(-1)
        self.percentage = percentage
        for item in ignored:
            log.info("%s: ignored: %s", stage.source, item)
        if len(self.movable) == 0:
            raise InputError(Defect(Path(stage.source), None, "no trainable entry can move (check trainable_params "
                                    "and the <Sym>ParamSteps.par step sizes)"))
        return ignored

    def begin(self, x_start: torch.Tensor, replicas: int):
        """All replicas at ``x_start``; counters zeroed."""
        self.write(x_start)
        c = self.cost()
        self.x = x_start.repeat(replicas, 1)
        self.costs = torch.full((replicas,), c, dtype=torch.float64)
        self.best_x, self.best_cost = x_start.clone(), c
        self.accepted = torch.zeros(replicas, dtype=torch.int64)
        self.tried = torch.zeros(replicas, dtype=torch.int64)
        self.ex_accepted = torch.zeros(max(replicas - 1, 0), dtype=torch.int64)
        self.ex_tried = torch.zeros(max(replicas - 1, 0), dtype=torch.int64)

    # -- moves ----------------------------------------------------------------------------------
    def move(self, r: int, beta: float, step_mod: float) -> bool:
        """One Metropolis move of replica r (its state must be loaded); True when accepted."""
        old = self.x[r]
        movable = self.movable
        new = old
        if self.mode is not None:
            from .perturb_modes import perturb

            projector = movable[self.projector[movable]]
            new = perturb(old, int(self.mode), self.percentage, self.network_parts, projector, self.gen)
            in_network = torch.zeros(self.n, dtype=torch.bool)
            for part in self.network_parts:
                in_network[part] = True
            movable = movable[~(in_network[movable] | self.projector[movable])]
        if len(movable):
            k = max(1, round(self.percentage * len(movable)))
            pick = movable[torch.randperm(len(movable), generator=self.gen)[:k]]
            new = new.clone()
            new[pick] += self.steps[pick] * step_mod * torch.randn(k, generator=self.gen, dtype=torch.float64)
        self.write(new)
        new = self.read()  # exactly what the tensors hold
        self.tried[r] += 1
        if not self.feasible():
            self.write(old)
            return False
        c = self.cost()
        u = float(torch.rand((), generator=self.gen, dtype=torch.float64))
        delta = c - float(self.costs[r])
        if delta <= 0 or u < math.exp(-beta * delta):
            self.x[r], self.costs[r] = new, c
            self.accepted[r] += 1
            if c < self.best_cost:
                self.best_x, self.best_cost = new.clone(), c
            return True
        self.write(old)
        return False

    def exchange(self, betas):
        for i in range(len(betas) - 1):
            d = (betas[i] - betas[i + 1]) * float(self.costs[i] - self.costs[i + 1])
            u = float(torch.rand((), generator=self.gen, dtype=torch.float64))
            self.ex_tried[i] += 1
            if d >= 0 or u < math.exp(d):
                self.x[[i, i + 1]] = self.x[[i + 1, i]]
                self.costs[[i, i + 1]] = self.costs[[i + 1, i]]
                self.ex_accepted[i] += 1

    def iteration(self, betas, step_mods, steps_at_temp):
        for r in range(len(betas)):
            self.write(self.x[r])
            for _ in range(steps_at_temp[r]):
                self.move(r, betas[r], step_mods[r])
        self.exchange(betas)

    def rates(self) -> tuple[list, float]:
        acc = [float(a) / float(t) if t else float("nan") for a, t in zip(self.accepted, self.tried)]
        tried = int(self.ex_tried.sum())
        return acc, (float(self.ex_accepted.sum()) / tried if tried else float("nan"))

    # -- state ----------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"x": self.x.clone(), "costs": self.costs.clone(), "best_x": self.best_x.clone(),
                "best_cost": self.best_cost, "accepted": self.accepted.clone(), "tried": self.tried.clone(),
                "ex_accepted": self.ex_accepted.clone(), "ex_tried": self.ex_tried.clone(), "rng": self.gen.get_state()}

    def load_state_dict(self, state: dict):
        self.x, self.costs, self.best_x = state["x"].clone(), state["costs"].clone(), state["best_x"].clone()
        self.best_cost = float(state["best_cost"])
        self.accepted, self.tried = state["accepted"].clone(), state["tried"].clone()
        self.ex_accepted, self.ex_tried = state["ex_accepted"].clone(), state["ex_tried"].clone()
        self.gen.set_state(state["rng"].cpu())


def _record(stage: Stage, ignored: list, stage_start: float, engine: ReplicaExchange) -> dict:
    acc, ex = engine.rates()
    return {**asdict(stage), "ignored": ignored, "start_cost": stage_start, "best_cost": engine.best_cost,
            "acceptance": acc, "exchange_acceptance": ex}


def _beta_factor(schedule, g: int, coldest: float) -> float:
    return 1.0 if schedule is None else float(np.interp(g, schedule[:, 0], schedule[:, 1])) / coldest


def run_mc(bundle_dir, outdir, overrides=(), init_model=None, init_params=None, device="cpu",
           stop_after: int | None = None) -> dict:
    """The Monte Carlo stage. ``init_params`` is (folder, prefix) as for FitSetup. ``stop_after`` ends
    the run after that many iterations (counted over all stages) as if killed right after a checkpoint;
    a rerun with the same OUTDIR resumes. Returns the summary (also written to mc_summary.json). Holds
    the lock on ``outdir`` (one run per folder) for the whole stage."""
    return run_stage(MonteCarloStrategy(), bundle_dir, outdir, overrides, init_model, None, init_params, device,
                     stop_after)


class MonteCarloStrategy(Strategy):
    """Parallel tempering as a stage optimizer (:class:`~.runner.Strategy`); its state (mc_checkpoint.pth):
    the stage and iteration, the replicas (:meth:`ReplicaExchange.state_dict`), the records and the trace."""

    command, summary_file, prefix, title = "sepm mc", "mc_summary.json", "best_", "best Monte Carlo state"

    def __init__(self):
        self.stages, self.engine, self.resumed, self.start_entry = None, None, None, None
        self.trace, self.records, self.first_stage, self.done = [], [], 0, 0
        self.position = (0, 0, 0.0, [])  # stage, iteration within it, its start cost, betas

    def check(self, setup: FitSetup) -> None:
        nn_path = Path(setup.bundle.path) / "NN_config.par"
        if not setting(setup.config, "mc_bool"):
            raise InputError(Defect(nn_path, None, "the Monte Carlo stage needs mc_bool = 1 (and max_num_epochs = "
                                    "0); set it in NN_config.par or pass --set mc_bool=1"))
        if "mc_percentage" not in setup.config:
            raise InputError(Defect(nn_path, None, "mc_percentage is required by the Monte Carlo stage (fraction of "
                                    "the trainable entries moved per step, 0 < mc_percentage <= 1)"))
        setup.require_reference("the Monte Carlo fit")
        self.stages = resolve_stages(setup)

    def saved_state(self, setup: FitSetup, outdir: Path, run_fingerprint: str) -> dict | None:
        path = outdir / CHECKPOINT  # read (and so checked) before any compute; its layout after the prior
        state = read_checkpoint(path, setup.device, "Monte Carlo checkpoint") if path.is_file() else None
        return ranks.from_writer(state)  # a distributed run resumes from rank 0's checkpoint on every rank

    def stale_outputs(self, resumed: bool) -> str | None:
        return None if resumed else "best_*"  # a resumed run's checkpoint holds its best so far

    def start(self, setup: FitSetup, outdir: Path, prior: dict) -> dict:
        cfg, nn_path = setup.config, Path(setup.bundle.path) / "NN_config.par"
        engine = self.engine = ReplicaExchange(setup, setting(cfg, "seed"))
        if engine.n == 0:
            raise InputError(Defect(nn_path, None, "nothing to move: no trainable coefficient (trainable_params) and "
                                    "no network weights (PPmodel = ZeroFunction)"))
        if not engine.feasible():
            raise InputError(Defect(nn_path, None, "a5 (SOC strength) is trainable but negative in the initial "
                                    "parameters; the Monte Carlo keeps a5 >= 0"))
        for i, s in enumerate(self.stages):
            log.info("MC stage %d/%d (%s): betas %s, stepsAtTemp %s, tempStepSizeMod %s, %d iterations, "
                     "mc_percentage %g", i + 1, len(self.stages), s.source, s.betas, s.steps_at_temp,
                     [round(m, 4) for m in s.step_mods], s.total_iter, float(cfg["mc_percentage"]))
        if self.resumed is not None:
            state_path = outdir / CHECKPOINT
            if [tuple(v) for v in self.resumed["layout"]] != engine.layout:
                raise InputError(Defect(state_path, None, "does not match this configuration (other trainable "
                                        "entries or network); remove it or use another output folder"))
            log.info("resuming Monte Carlo from %s: stage %d, iteration %d of %d (best cost %.6g)", state_path,
                     self.first_stage + 1, self.done, sum(s.total_iter for s in self.stages),
                     float(self.resumed["engine"]["best_cost"]))
        return {"initialization": prior["record"], "seed": setting(cfg, "seed")}

    def run(self, setup: FitSetup, outdir: Path, prior: dict, run_fingerprint: str, stop_after) -> tuple[dict, bool]:
        engine, stages, state_path = self.engine, self.stages, outdir / CHECKPOINT
        schedule = None
        if "mc_beta_schedule" in setup.bundle.optional_files:
            schedule = read_beta_schedule(setup.bundle.optional_files["mc_beta_schedule"])
            log.info("mc_beta_schedule: coldest beta annealed over %d rows (%g at iteration %d ... %g at %d); "
                     "ladders scaled keeping their ratios", len(schedule), schedule[0, 1], schedule[0, 0],
                     schedule[-1, 1], schedule[-1, 0])
        replicas = max(len(s.betas) for s in stages)
        columns = (["iteration", "stage", "beta_coldest"] + [f"cost_{r}" for r in range(replicas)] + ["best_cost"]
                   + [f"acc_{r}" for r in range(replicas)] + ["exchange_acc"])
        header = ["cost = band loss (eV^2) + defPotWeight x deformation potentials + penalties (+ coupling loss in "
                  "stages with fitCoupling = True); slot r holds beta_r of the stage's ladder (0 = first beta); acc_r "
                  "and exchange_acc are cumulative acceptance rates within the stage",
                  *(f"stage {i} ({s.source}): betas {s.betas}" for i, s in enumerate(stages))]

        def checkpoint(si: int, it: int, stage_start: float, betas):
            self.position = (si, it, stage_start, betas)
            engine.write(engine.best_x)
            setup.save(outdir, "best_")
            setup.save(outdir, f"iter_{self.done}_")  # snapshot of the best state so far (sepm movie frames)
            _save(state_path, self.state_dict())
            write_table(outdir / "mc_cost.dat", columns, np.array(self.trace).reshape(-1, len(columns)), header,
                        fmt="%.10g")

        bar = tqdm(total=sum(s.total_iter for s in stages), initial=self.done, unit="iter", desc="mc", disable=None)
        x_start = engine.read()
        for si in range(self.first_stage, len(stages)):
            stage = stages[si]
            ignored = engine.configure(stage, float(setup.config["mc_percentage"]))
            if self.resumed is not None and si == self.first_stage:
                engine.load_state_dict(self.resumed["engine"])
                it0, stage_start = int(self.resumed["it"]), float(self.resumed["stage_start"])
            else:
                engine.begin(x_start, len(stage.betas))
                it0, stage_start = 0, engine.best_cost
                if si > 0:
                    log.info("stage %d (%s) starts every replica from the best state of stage %d (cost %.6g under "
                             "this stage's objective)", si + 1, stage.source, si, stage_start)
                if self.start_entry is None:
                    self.start_entry = {"cost": engine.best_cost,
                                        "rmse_meV": [1e3 * r for r in engine.problem.rmse()]}
                    log.info("start of the Monte Carlo run, %s: cost %.6g, RMSE %s meV",
                             setup.start_name(prior["record"]["strategy"]), self.start_entry["cost"],
                             ", ".join(f"{r:.1f}" for r in self.start_entry["rmse_meV"]))
            for it in range(it0, stage.total_iter):
                if stop_after is not None and self.done >= stop_after:
                    bar.close()
                    log.info("stopped after iteration %d on request (state in %s)", self.done, state_path)
                    return {"stopped": f"stopped after iteration {self.done} on request", "iterations": self.done,
                            "best_cost": engine.best_cost, "start_cost": self.start_entry["cost"]}, False
                betas = [b * _beta_factor(schedule, self.done, max(stage.betas)) for b in stage.betas]
                with PROFILER.stage("Monte Carlo iteration", self.done + 1):
                    engine.iteration(betas, stage.step_mods, stage.steps_at_temp)
                self.done += 1
                acc, ex = engine.rates()
                pad = [float("nan")] * (replicas - len(betas))
                self.trace.append([self.done, si, max(betas), *engine.costs.tolist(), *pad, engine.best_cost, *acc,
                                   *pad, ex])
                bar.update()
                bar.set_postfix(best=f"{engine.best_cost:.4g}", acc=f"{acc[0]:.2f}")
                last = it + 1 == stage.total_iter
                if last:
                    self.records.append(_record(stage, ignored, stage_start, engine))
                if last or (stage.write_every > 0 and (it + 1) % stage.write_every == 0) or self.done == stop_after:
                    checkpoint(si, it + 1, stage_start, betas)
            if stage.total_iter == 0:
                self.records.append(_record(stage, ignored, stage_start, engine))
                checkpoint(si, 0, stage_start, stage.betas)
            rec = self.records[si]
            log.info("stage %d (%s) done: best cost %.6g (start %.6g), acceptance %s, exchange acceptance %.3f", si + 1,
                     stage.source, rec["best_cost"], rec["start_cost"],
                     ", ".join(f"{a:.3f}" for a in rec["acceptance"]), rec["exchange_acceptance"])
            x_start = engine.best_x.clone()
        bar.close()
        engine.write(engine.best_x)
        return {"iterations": self.done, "start_cost": self.start_entry["cost"],
                "start_rmse_meV": self.start_entry["rmse_meV"], "best_cost": engine.best_cost}, True

    def finish(self, setup: FitSetup, outdir: Path) -> dict:
        rmse = setup.write_bands(outdir, "best", self.title)
        log.info("Monte Carlo done: best cost %.6g (start %.6g), RMSE %s meV", self.engine.best_cost,
                 self.start_entry["cost"], ", ".join(f"{1e3 * r:.2f}" for r in rmse))
        return {"best_rmse_meV": [1e3 * r for r in rmse], "stages": self.records,
                "resumed_from_iteration": int(self.resumed["done"]) if self.resumed else None,
                "best_params": {s: setup.pp.params[i].tolist() for i, s in enumerate(setup.bundle.species)}}

    def state_dict(self) -> dict:
        si, it, stage_start, betas = self.position
        return {"layout": [list(v) for v in self.engine.layout], "stage": si, "it": it, "done": self.done,
                "betas": torch.tensor(betas, dtype=torch.float64), "stage_start": stage_start,
                "engine": self.engine.state_dict(), "records": self.records,
                "trace": torch.tensor(self.trace, dtype=torch.float64), "start": self.start_entry}

    def load_state_dict(self, state: dict) -> None:
        """Resume from ``state`` (the replicas' part is loaded when the engine is configured for its stage)."""
        self.resumed = state
        self.trace, self.records = state["trace"].tolist(), list(state["records"])
        self.first_stage, self.done = int(state["stage"]), int(state["done"])
        self.start_entry = dict(state["start"]) if state["start"] else None


def _save(path: Path, state: dict):
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
