"""Snakemake script shared by every rule: run `sepm <argv>` (snakemake.params.argv) with the rule's
threads as the default of --threads, logging everything to the rule's log file."""

import os
import sys
import traceback
from contextlib import redirect_stderr, redirect_stdout

snakemake = globals()["snakemake"]  # injected by Snakemake's script directive


def run() -> int:
    from sepm.cli import main

    argv = [str(a) for a in snakemake.params.argv]
    print(f"sepm {' '.join(argv)}  (--threads {snakemake.threads} unless given)", flush=True)
    try:
        rc = main(argv, job_threads=snakemake.threads)
    except SystemExit as exc:
        rc = exc.code
    return 0 if rc is None else rc


with open(snakemake.log[0], "w") as log, redirect_stdout(log), redirect_stderr(log):
    # Which SLURM job ran this rule (none outside SLURM); tests/test_slurm.py checks it.
    print("SLURM_JOB_ID=" + os.environ.get("SLURM_JOB_ID", "none"), flush=True)
    try:
        status = run()
    except Exception:
        traceback.print_exc()
        status = 1

if status:
    sys.exit(f"sepm failed (exit {status}); see {snakemake.log[0]}")
