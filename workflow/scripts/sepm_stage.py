"""Snakemake script shared by every rule: run `sepm <argv>` (snakemake.params.argv) with the rule's
threads as the default of --threads, logging everything to the rule's log file. Inside a SLURM job of
several tasks marked `mpi` (the optimize rule with config `ranks`), `sepm` runs as that many ranks of one
srun job step; elsewhere a fit whose NN_config sets num_cores = N runs as N local ranks sharing the rule's
threads (sepm.fitting.launch.run_local)."""

import os
import sys
import traceback
from contextlib import redirect_stderr, redirect_stdout

snakemake = globals()["snakemake"]  # injected by Snakemake's script directive
INTERRUPTED = 130  # sepm's exit status after Ctrl-C (sepm.cli.main)


def run() -> int:
    from sepm.cli import main
    from sepm.progress import echo_to

    job = " ".join([snakemake.rule, *map(str, snakemake.wildcards)])
    echo_to(sys.__stderr__, prefix=f"[{job}] ")  # progress lines on the terminal too
    argv = [str(a) for a in snakemake.params.argv]
    print(f"sepm {' '.join(argv)}  (--threads {snakemake.threads} unless given)", flush=True)
    tasks = int(snakemake.resources.get("tasks", 1))
    if tasks > 1 and snakemake.resources.get("mpi") and os.environ.get("SLURM_JOB_ID"):  # one fit, several ranks
        from sepm.fitting.launch import run_ranks

        return run_ranks(argv, tasks, snakemake.threads, sys.stdout)
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
    except KeyboardInterrupt:  # before sepm's own handler was reached
        print("interrupted (Ctrl-C)", flush=True)
        status = INTERRUPTED
    except Exception:
        traceback.print_exc()
        status = 1

if status == INTERRUPTED:
    sys.exit(status)  # quietly: workflow/rules/interrupt.smk tells the user how to resume
if status:
    sys.exit(f"sepm failed (exit {status}); see {snakemake.log[0]}")
