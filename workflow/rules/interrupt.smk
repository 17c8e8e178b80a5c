# Ctrl-C: one line saying what happened and how to resume, instead of Snakemake's report of every
# killed job (a RuleException, a CalledProcessError and the whole log of each). The job scripts
# stop quietly on the same signal (workflow/scripts/sepm_stage.py).

import signal
import sys
import threading

from snakemake.logging import logger as _snakemake_logger


def _interrupted(signum, frame):
    if not any(getattr(f, "sepm_interrupt", False) for f in _snakemake_logger.filters):
        print(
            "Interrupted (Ctrl-C): the running jobs were stopped and their outputs left incomplete. "
            "Run the same snakemake command again to resume (a training stage continues from its "
            "train_state.pth).",
            file=sys.stderr,
            flush=True,
        )
        silence = lambda record: False  # Snakemake's reports of the jobs it is stopping
        silence.sepm_interrupt = True
        _snakemake_logger.addFilter(silence)
    raise KeyboardInterrupt


if threading.current_thread() is threading.main_thread():
    signal.signal(signal.SIGINT, _interrupted)
