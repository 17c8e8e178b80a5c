"""One fitting stage, whatever moves the parameters: :func:`run_stage` holds the folder's lock, sets the
stage up, reads a saved state to resume from, runs the prior, the initial evaluation, the optimizer's
loop, then saves the potential, writes the final bands and plot, the profile and the summary (last: the
stage's completion record).

The optimizer is a :class:`Strategy` (gradient training, :class:`~.gradient.GradientStrategy`; Monte
Carlo, :class:`~.montecarlo.MonteCarloStrategy`): what differs between them, the mode it needs, its
initial evaluation, its loop, its final numbers and its resumable state (``state_dict`` /
``load_state_dict``, saved by the loop into the output folder and read back here before any compute).
"""

from __future__ import annotations

import json
from pathlib import Path

from ..output import write_text
from ..profiling import PROFILER
from .folder_lock import folder_lock
from .stage import FitSetup, fingerprint, param_files, remove_previous_outputs, run_prior, write_profile
from .train import tidy_outdir


class Strategy:
    """The optimizer of a stage. Class attributes: ``command`` (the lock holder's name), ``summary_file``
    (written last), ``prefix`` and ``title`` of the potential the stage ends in."""

    command: str
    summary_file: str
    prefix: str
    title: str
    optimizer = None  # saved as <prefix>AdamState.pth when set

    def check(self, setup: FitSetup) -> None:
        """Refuse, before any compute, a configuration this optimizer cannot run."""

    def saved_state(self, setup: FitSetup, outdir: Path, run_fingerprint: str) -> dict | None:
        """The state a previous run of this configuration left in ``outdir`` (None: start afresh); a damaged
        or unusable one is refused here, before any compute."""
        return None

    def stale_outputs(self, resumed: bool) -> str | None:
        """The glob of a previous run's potential files that this run replaces."""
        return None

    def start(self, setup: FitSetup, outdir: Path, prior: dict) -> dict:
        """After the prior: the initial evaluation; returns the summary's first entries."""
        return {}

    def run(self, setup: FitSetup, outdir: Path, prior: dict, run_fingerprint: str, stop_after) -> tuple[dict, bool]:
        """The loop; returns (summary entries, finished). Not finished: stopped on request (``stop_after``),
        its state saved for a rerun to resume."""
        raise NotImplementedError

    def finish(self, setup: FitSetup, outdir: Path) -> dict:
        """After the potential is saved: the final bands (``<prefix>bands_X.dat``) and the summary's last entries."""
        raise NotImplementedError

    def state_dict(self) -> dict:
        raise NotImplementedError

    def load_state_dict(self, state: dict) -> None:
        raise NotImplementedError


def run_stage(strategy: Strategy, bundle_dir, outdir, overrides=(), init_model=None, init_optimizer=None,
              init_params=None, device="cpu", stop_after: int | None = None) -> dict:
    """Run one stage into ``outdir`` (see the module's description); returns the summary."""
    outdir = Path(outdir)
    inputs = (init_model, init_optimizer, init_params)
    with folder_lock(outdir, strategy.command):
        tidy_outdir(outdir)
        setup = FitSetup(bundle_dir, overrides, init_params, device)
        strategy.check(setup)
        run_fingerprint = fingerprint(setup.config, init_model, init_optimizer, *param_files(init_params))
        state = strategy.saved_state(setup, outdir, run_fingerprint)
        if state is not None:
            strategy.load_state_dict(state)
        remove_previous_outputs(outdir, strategy.summary_file, strategy.stale_outputs(state is not None), inputs)
        with PROFILER.stage("initialization"):
            prior = run_prior(setup, outdir, init_model, init_optimizer)
        setup.model.eval()
        try:
            summary = strategy.start(setup, outdir, prior)
            entries, finished = strategy.run(setup, outdir, prior, run_fingerprint, stop_after)
            summary.update(entries)
            if not finished:
                return summary
            setup.save(outdir, strategy.prefix, strategy.optimizer)
            setup.model.eval()
            with PROFILER.stage("final evaluation"):
                summary.update(strategy.finish(setup, outdir))
        finally:
            if setup.problem is not None:
                setup.problem.close()  # the ranks' collectives, if any, reported
        setup.plot_potential(outdir / f"{strategy.prefix}plotPP", strategy.title)
        if PROFILER.enabled:
            write_profile(outdir / "profile.dat")
        write_text(outdir / strategy.summary_file, json.dumps(summary, indent=2, default=float) + "\n")
        return summary
