"""`--threads N` of every compute command: torch's intra-op threads (FFTs, linear algebra) and the BLAS
pools of numpy/scipy, set by `sepm.cli.main` before the command's first tensor operation. Default: the
cores Snakemake gave the job inside the pipeline (workflow/scripts/sepm_stage.py passes them), else 1.
One thread per process is the safe default on a shared machine: on a loaded 2-core node a 2-thread
FFT waited for the busy core (bench/dot.py measures both)."""

from __future__ import annotations

import logging

from .inputs import number_above

log = logging.getLogger("sepm")


def add_threads_arg(p) -> None:
    p.add_argument("--threads", type=number_above(1, int, inclusive=True), metavar="N",
                   help="CPU threads for torch and BLAS (default 1; inside the pipeline the rule's threads)")


def use_threads(n: int) -> None:
    """N threads for torch's intra-op pool and numpy/scipy's BLAS (before any torch work)."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(n)
    threadpool_limits(n)
    log.debug("%d CPU thread(s)", n)
