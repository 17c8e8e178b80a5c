"""Snakemake script of the eval_bands rule: `sepm bands BUNDLE OUTDIR --system X`, logged to the rule's log."""

import sys
import traceback
from contextlib import redirect_stderr, redirect_stdout

snakemake = globals()["snakemake"]  # injected by Snakemake's script directive


def run() -> int:
    import torch

    from sepm.cli import main

    torch.set_num_threads(snakemake.threads)
    argv = ["bands", snakemake.params.bundle, snakemake.params.outdir, "--system", snakemake.wildcards.system]
    print("sepm " + " ".join(argv), flush=True)
    try:
        rc = main(argv)
    except SystemExit as exc:
        rc = exc.code
    return 0 if rc is None else rc


with open(snakemake.log[0], "w") as log, redirect_stdout(log), redirect_stderr(log):
    try:
        status = run()
    except Exception:
        traceback.print_exc()
        status = 1

if status:
    sys.exit(f"sepm bands failed (exit {status}); see {snakemake.log[0]}")
