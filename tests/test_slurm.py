"""The pipeline through the SLURM executor (profiles/slurm) on a single-node SLURM cluster.

Starts munged, slurmctld and `slurmd -N localhost` (tests/slurm/start.sh), runs a small ensemble
(GaAs with a two-member `ensemble:`) through `--workflow-profile profiles/slurm`, checks that every
job ran as a SLURM job, and that the results equal those of a local run. Needs root and the
Debian SLURM packages (slurmctld, slurmd, slurm-client, munge; .ci/run installs them); skipped
otherwise, and skipped with the holder named while another session's test cluster holds
/etc/slurm/slurm.conf (two suites at once). The daemons are stopped by PID (tests/slurm/stop.sh) at the end
of the session, also after a failure.
"""

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from pipeline_copy import ROOT, copy_pipeline

SLURM_DIR = ROOT / "tests" / "slurm"
# The cluster has no accounting database: job states come from squeue, jobs carry no account.
# A short first status check keeps the test quick (the plugin's default waits 40 s).
SLURM_ARGS = ["--workflow-profile", "profiles/slurm", "--slurm-status-command", "squeue",
              "--slurm-no-account", "--slurm-init-seconds-before-status-checks", "2",
              "--seconds-between-status-checks", "2"]
TIMEOUT = 1800

#: The link start.sh makes for the plugin's nested srun; a live test cluster of another session holds it.
ETC_CONF = Path("/etc/slurm/slurm.conf")

needs_slurm = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("slurmctld", "slurmd", "munged", "sbatch"))
    or not hasattr(os, "geteuid") or os.geteuid() != 0
    or importlib.util.find_spec("snakemake_executor_plugin_slurm") is None,
    reason="needs root, the SLURM and munge daemons (apt-get install slurmctld slurmd slurm-client munge, "
    "as .ci/run does) and snakemake-executor-plugin-slurm",
)


def conf_holder(etc_conf: Path = ETC_CONF) -> str | None:
    """Who holds ``etc_conf`` so that tests/slurm/start.sh cannot start a cluster (its rule), or None: it is
    free, or a stale link (its cluster's folder gone or its slurmctld dead) that start.sh replaces."""
    if not etc_conf.is_symlink():
        return f"{etc_conf} is a SLURM configuration of this machine" if etc_conf.exists() else None
    target = Path(os.readlink(etc_conf))
    if target.is_file() and "ClusterName=sepmci" not in target.read_text():
        return f"{etc_conf} links to {target}, a SLURM configuration that is not a sepm test cluster's"
    pid_file = target.parent / "slurmctld.pid"
    pid = pid_file.read_text().strip() if pid_file.is_file() else ""
    if pid.isdigit() and Path(f"/proc/{pid}").exists():
        return (f"another test session's SLURM cluster holds {etc_conf} -> {target} (its slurmctld, pid {pid}, "
                "is running): one SLURM test session at a time")
    return None


def test_a_cluster_held_by_another_session_is_named(tmp_path):
    state = tmp_path / "other-session"
    state.mkdir()
    (state / "slurm.conf").write_text("ClusterName=sepmci\n")
    link = tmp_path / "etc-slurm.conf"
    assert conf_holder(link) is None
    link.symlink_to(state / "slurm.conf")
    assert conf_holder(link) is None  # no slurmctld: stale, start.sh replaces it
    (state / "slurmctld.pid").write_text(f"{os.getpid()}\n")
    assert conf_holder(link) == (f"another test session's SLURM cluster holds {link} -> {state / 'slurm.conf'} "
                                 f"(its slurmctld, pid {os.getpid()}, is running): one SLURM test session at a time")
    (state / "slurm.conf").write_text("ClusterName=production\n")
    assert "not a sepm test cluster's" in conf_holder(link)


@pytest.fixture(scope="session")
def slurm_cluster():
    """A running single-node cluster; yields its state folder (slurm.conf, pid files, logs). Skips, naming the
    holder, when another session's test cluster (or a real configuration) holds /etc/slurm/slurm.conf."""
    holder = conf_holder()
    if holder:
        pytest.skip(holder)
    # Not under pytest's tmp_path: its parents are private to root, and slurmctld runs as `slurm`.
    state = Path(tempfile.mkdtemp(prefix="sepm-slurm-"))
    previous = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(state / "slurm.conf")
    try:
        # every CPU (start.sh's default, nproc, follows OMP_NUM_THREADS): the 2-task optimize job needs two
        cpus = {"SLURM_CPUS": os.environ.get("SLURM_CPUS", str(os.cpu_count()))}
        start = subprocess.run(["bash", str(SLURM_DIR / "start.sh"), str(state)], capture_output=True,
                               text=True, timeout=180, env={**os.environ, **cpus})
        logs = "".join(f"\n--- {p.name}\n{p.read_text()}" for p in state.glob("*.log"))
        assert start.returncode == 0, start.stdout + start.stderr + logs
        yield state
    finally:
        subprocess.run(["bash", str(SLURM_DIR / "stop.sh"), str(state)], timeout=120)
        if previous is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = previous
        shutil.rmtree(state, ignore_errors=True)


def has_ensemble_stage():
    schema = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
    return "ensemble" in schema["properties"]["materials"]["additionalProperties"].get("properties", {})


def ensemble_config():
    """The .test configuration with a two-member ensemble, one job per CPU.

    With the pipeline's ensemble stage (config `ensemble:`) that is GaAs with `ensemble: {size: 2}`
    (member fits, their export, the cluster rule); without it, two materials GaAs_a and GaAs_b that
    differ only in the seed.
    """
    test = yaml.safe_load((ROOT / ".test" / "config.yaml").read_text())
    base = test["materials"]["GaAs"]
    if has_ensemble_stage():
        ensemble = {"size": 2, "seed": 1, "clusters": 2, "set": {"max_num_epochs": 2}}
        materials = {"GaAs": {**base, "ensemble": ensemble}}
    else:
        materials = {name: {**base, "set": {**base.get("set", {}), "seed": seed}}
                     for name, seed in (("GaAs_a", 1), ("GaAs_b", 2))}
    job = {"threads": 1, "mem_mb": 1000, "runtime": 10}
    return {"materials": materials, "resources": {stage: dict(job) for stage in ("prior", "optimize", "eval")}}


def make_workdir(base):
    """A copy of the pipeline whose config/config.yaml is the ensemble (so nothing else is merged in)."""
    copy_pipeline(base)
    (base / "config" / "config.yaml").write_text(yaml.safe_dump(ensemble_config(), sort_keys=False))
    return base


def snakemake(work, *args):
    run = subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=work, capture_output=True,
                         text=True, timeout=TIMEOUT)
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout + run.stderr


def slurm_jobs_of_logs(work):
    """{rule log: SLURM job id}, from the plugin's per-job logs (which name the rule's log files)."""
    job_of_log = {}
    for slurm_log in (work / ".snakemake" / "slurm_logs").rglob("*.log"):
        names = set()
        for line in re.findall(r"^\s+log: (.+)$", slurm_log.read_text(), re.MULTILINE):
            names.update(name.strip() for name in line.split(" (check")[0].split(","))
        assert names, f"{slurm_log} names no rule log:\n{slurm_log.read_text()}"
        for name in names:
            assert job_of_log.setdefault(name, slurm_log.stem) == slurm_log.stem, f"{name}: two jobs"
    return job_of_log


@needs_slurm
def test_ensemble_runs_under_slurm_and_matches_local_run(slurm_cluster, tmp_path):
    materials = ensemble_config()["materials"]
    slurm_work = make_workdir(tmp_path / "slurm")
    start = time.perf_counter()
    snakemake(slurm_work, *SLURM_ARGS, "all")
    print(f"SLURM run: {time.perf_counter() - start:.1f} s")

    # Every rule job was one completed SLURM job, and every rule log belongs to one. Stages run
    # through workflow/scripts/sepm_stage.py also log the SLURM_JOB_ID they ran under.
    job_of_log = slurm_jobs_of_logs(slurm_work)
    rule_logs = {str(log.relative_to(slurm_work)) for log in (slurm_work / "logs").rglob("*.log")}
    assert set(job_of_log) == rule_logs
    completed = set(re.findall(r"JobId=(\d+) .*JobState=COMPLETED",
                               (slurm_cluster / "jobcomp.txt").read_text()))
    assert set(job_of_log.values()) <= completed
    stage_logs = {f"logs/{name}/{stage}.log" for name in materials
                  for stage in ("prior", "optimize_1_gradient_fit_summary.json", "export", "eval_0")}
    assert stage_logs <= rule_logs
    recorded = set()
    for name, job_id in job_of_log.items():
        found = re.search(r"^SLURM_JOB_ID=(.*)$", (slurm_work / name).read_text(), re.MULTILINE)
        if found:
            assert found.group(1) == job_id, f"{name}: ran as SLURM job {job_id}, logged {found.group(0)}"
            recorded.add(name)
    assert stage_logs <= recorded
    print(f"{len(job_of_log)} SLURM jobs; {len(recorded)} rule logs record their SLURM_JOB_ID")
    assert "Nothing to be done" in snakemake(slurm_work, *SLURM_ARGS, "all", "-n")

    # The same workflow run locally (profiles/default) gives the same numbers.
    local_work = make_workdir(tmp_path / "local")
    snakemake(local_work, "all")
    for name in materials:
        assert "SLURM_JOB_ID=none" in (local_work / "logs" / name / "export.log").read_text()
    members = [f"{name}/ensemble/{i}/final_pot.dat" for name, m in materials.items()
               for i in range(m.get("ensemble", {}).get("size", 0))]
    if not members:
        members = [f"{name}/final_pot.dat" for name in materials]
    pots = [np.loadtxt(slurm_work / "results" / member) for member in members]
    assert not np.allclose(pots[0], pots[1])  # the seeds give different members
    results = [f"{name}/{result}" for name in materials for result in ("final_pot.dat", "eval/bands_0.dat")]
    for result in results + members:
        remote = np.loadtxt(slurm_work / "results" / result)
        local = np.loadtxt(local_work / "results" / result)
        assert remote.shape == local.shape and remote.size > 0, result
        assert np.allclose(remote, local, rtol=1e-8), f"{result} differs"
    for name, m in materials.items():
        if "ensemble" in m:
            clusters = [json.loads((work / "results" / name / "cluster" / "clusters.json").read_text())
                        for work in (slurm_work, local_work)]
            assert clusters[0] == clusters[1]


@needs_slurm
@pytest.mark.skipif(not os.environ.get("SEPM_SLOW_TESTS"), reason="a prior and a 3-epoch fit under SLURM and locally "
                    "(about 160 s on 2 shared cores); set SEPM_SLOW_TESTS=1 (CI does)")
def test_optimize_job_of_two_tasks_equals_one_process(slurm_cluster, tmp_path):
    """Config `ranks: {tasks: 2}`: the optimize job is one SLURM job of 2 tasks whose ranks (srun, gloo) share
    the k-points of one fit; its result equals that of the same fit run locally as one process."""
    test = yaml.safe_load((ROOT / ".test" / "config.yaml").read_text())
    job = {"threads": 1, "mem_mb": 1000, "runtime": 10}
    target = "results/GaAs/optimize/1_gradient/fit_summary.json"
    summaries = {}
    for name, args in (("slurm", SLURM_ARGS), ("local", ["--cores", "1"])):
        work = copy_pipeline(tmp_path / name, small_gaas=True)
        config = {"materials": {"GaAs": {**test["materials"]["GaAs"], "ranks": {"tasks": 2}}},
                  "resources": {stage: dict(job) for stage in ("prior", "optimize", "eval")}}
        (work / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        snakemake(work, *args, target)
        summaries[name] = json.loads((work / target).read_text())
        log = (work / "logs" / "GaAs" / "optimize_1_gradient_fit_summary.json.log").read_text()
        assert ("distributed fit: 2 ranks (srun, gloo backend" in log) == (name == "slurm"), log[-3000:]
    slurm, local = summaries["slurm"], summaries["local"]
    assert slurm["epochs"] == local["epochs"] == 3
    assert slurm["final_cost"] == pytest.approx(local["final_cost"], rel=1e-12)
    assert slurm["final_cost"] != pytest.approx(slurm["start_cost"], rel=1e-6)  # it did train
