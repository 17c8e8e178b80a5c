"""A throw-away copy of the pipeline (Snakefile, workflow, config, profiles, .test and the GaAs
bundle) for tests that run Snakemake, and a helper that runs it there."""

import shutil
import subprocess
import sys
from pathlib import Path

from small_bundles import shrink_gaas

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = ("Snakefile", "workflow", "config", "profiles", ".test")


def copy_pipeline(work: Path, small_gaas: bool = False) -> Path:
    """Copy the pipeline into ``work``; ``small_gaas`` cuts the GaAs bundle to maxKE 3 Hartree and
    every 6th k-point (fast fits)."""
    work.mkdir(parents=True, exist_ok=True)
    for item in PIPELINE:
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, work / item)
    bundle = work / "resources" / "bundles" / "GaAs"
    shutil.copytree(ROOT / "resources" / "bundles" / "GaAs", bundle)
    if small_gaas:
        shrink_gaas(bundle)
    return work


def run_snakemake(work: Path, *args, timeout=None) -> str:
    """`snakemake --cores 2 ARGS` in ``work``; fails the test with the whole output on an error."""
    run = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", *args], cwd=work,
                         capture_output=True, text=True, timeout=timeout)
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout + run.stderr
