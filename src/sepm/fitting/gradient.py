"""Gradient training as a stage optimizer (:class:`~.runner.Strategy`): the initial evaluation (with
DeepPseudopot's oldFunc_* bands of the analytic potential for a network), :func:`~.train.train`'s epochs
resumed from ``train_state.pth``, and the final evaluation; ``max_num_epochs = 0`` evaluates the initial
potential only."""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import Defect, InputError
from ..models import ZeroFunction
from ..profiling import PROFILER
from ..settings import setting
from .runner import Strategy
from .stage import FitSetup
from .train import STATE_FILE, TrainSettings, refuse_diverged, saved_state, train

log = logging.getLogger("sepm")


class GradientStrategy(Strategy):
    command, summary_file, prefix, title = "sepm train", "fit_summary.json", "final_", "final potential"

    def __init__(self):
        self.settings, self.state, self.initial = None, None, None

    def check(self, setup: FitSetup) -> None:
        if setting(setup.config, "mc_bool"):
            raise InputError(Defect(Path(setup.bundle.path) / "NN_config.par", None,
                                    "mc_bool = 1: use the Monte Carlo stage (sepm mc)"))
        self.settings = TrainSettings.from_config(setup.config)
        if self.settings.epochs > 0:
            setup.require_reference("training (max_num_epochs > 0)")

    def saved_state(self, setup: FitSetup, outdir: Path, run_fingerprint: str) -> dict | None:
        if self.settings.epochs == 0:
            return None
        state = saved_state(outdir, run_fingerprint, setup.device)  # a corrupt train_state.pth is refused
        refuse_diverged(outdir / STATE_FILE, state)
        return state

    def stale_outputs(self, resumed: bool) -> str:
        return "final_*"

    def start(self, setup: FitSetup, outdir: Path, prior: dict) -> dict:
        problem = setup.build_problem()
        summary = {}
        if not isinstance(setup.model, ZeroFunction):  # DeepPseudopot's oldFunc_*: the analytic (Zunger + a4) bands
            with PROFILER.stage("analytic-potential evaluation"):
                summary["analytic_cost"] = setup.write_analytic_bands(outdir)
        with PROFILER.stage("initial evaluation"):
            stem = "oldFunc" if isinstance(setup.model, ZeroFunction) else "initZunger"
            start = problem.evaluate()
            start_name = setup.start_name(prior["record"]["strategy"])
            start_rmse = setup.write_bands(outdir, stem, start_name)
            self.initial = start, setup.last_bands
            setup.plot_potential(outdir / f"{stem}_plotPP", start_name)
        log.info("start of training, %s: cost %.6g (bands %s), RMSE %s meV", start_name, start.total, start.bands,
                 ", ".join(f"{1e3 * r:.1f}" for r in start_rmse))
        summary.update(initialization=prior["record"], start_potential=start_name, start_cost=start.total,
                       start_rmse_meV=[1e3 * r for r in start_rmse])
        return summary

    def run(self, setup: FitSetup, outdir: Path, prior: dict, run_fingerprint: str, stop_after) -> tuple[dict, bool]:
        if self.settings.epochs == 0:
            log.info("init-only mode (max_num_epochs = 0, mc_bool = 0): evaluated the initial potential")
            return {}, True

        def on_checkpoint(epoch, prefix, folder):
            title = f"lowest cost, epoch {epoch}" if prefix == "best_" else f"epoch {epoch}"
            setup.write_bands(folder, prefix.rstrip("_"), title)
            setup.plot_potential(folder / f"{prefix}plotPP", title)
            setup.save(folder, prefix)

        modules = {"coefficients": setup.coefficients}
        if not isinstance(setup.model, ZeroFunction):
            modules["model"] = setup.model
        result = train(setup.problem, modules, self.settings, outdir, prior["optimizer_state"], self.state,
                       on_checkpoint=on_checkpoint, stop_after=stop_after, fingerprint=run_fingerprint)
        self.state, self.optimizer = result["state"], result["optimizer"]
        finished = stop_after is None or not result["stopped"].startswith("stopped after")
        entries = dict(stopped=result["stopped"], epochs=len(result["history"]), final_epoch=result["final_epoch"])
        return entries, finished

    def finish(self, setup: FitSetup, outdir: Path) -> dict:
        if self.settings.epochs > 0:
            end = setup.problem.evaluate()
            end_rmse = setup.write_bands(outdir, "final", "final potential")
        else:  # nothing changed since the initial evaluation
            end, bands = self.initial
            end_rmse = setup.write_bands(outdir, "final", "final potential", bands=bands)
        log.info("final potential: cost %.6g, RMSE %s meV", end.total, ", ".join(f"{1e3 * r:.1f}" for r in end_rmse))
        return dict(**end.summary("final"), final_rmse_meV=[1e3 * r for r in end_rmse],
                    final_params={s: setup.pp.params[i].tolist() for i, s in enumerate(setup.bundle.species)})

    def state_dict(self) -> dict | None:
        """The training state (train_state.pth): modules, optimizer, schedule, history, best state, RNG."""
        return self.state

    def load_state_dict(self, state: dict) -> None:
        self.state = state
