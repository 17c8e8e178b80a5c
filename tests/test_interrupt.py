"""Ctrl-C in the pipeline: one line saying it was interrupted and how to resume; no traceback, no Snakemake
report of every stopped job; the job's log says it was interrupted."""

import os
import signal
import subprocess
import sys
import time

from pipeline_copy import copy_pipeline


def test_ctrl_c_says_one_line_and_how_to_resume(tmp_path):
    work = copy_pipeline(tmp_path / "pipe", small_gaas=True)
    (work / "long.yaml").write_text("materials:\n  GaAs:\n    set: {init_Zunger_num_epochs: 1000000}\n")
    run = subprocess.Popen([sys.executable, "-m", "snakemake", "--cores", "1", "results/GaAs/prior/init_record.json",
                            "--configfile", "long.yaml"], cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, start_new_session=True)
    log = work / "logs" / "GaAs" / "prior.log"
    deadline = time.monotonic() + 120
    while not (log.is_file() and "notice" in log.read_text()) and time.monotonic() < deadline:
        time.sleep(0.2)  # until sepm prior runs (its first notices are logged)
    os.killpg(run.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends: to snakemake and its job
    out = run.communicate(timeout=120)[0]
    after = out.split("localrule prior:")[-1]
    assert run.returncode != 0
    assert "Interrupted (Ctrl-C): the running jobs were stopped" in after and "Run the same snakemake command" in after
    for noise in ("Traceback", "KeyboardInterrupt", "RuleException", "CalledProcessError", "Logfile"):
        assert noise not in after, out
    assert log.read_text().splitlines()[-1].endswith("ERROR interrupted (Ctrl-C); run the same command again to "
                                                     "resume (sepm train and sepm mc continue from their saved state)")
