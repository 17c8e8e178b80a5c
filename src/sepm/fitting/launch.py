"""Starting a distributed fit: rank, world size and rendezvous from torchrun's or srun's environment.

* torchrun (``torchrun --nproc-per-node N -m sepm train ...``) sets RANK, WORLD_SIZE, LOCAL_RANK,
  MASTER_ADDR and MASTER_PORT; they are used as they are.
* srun (``srun --ntasks N sepm train ...``): RANK = SLURM_PROCID, WORLD_SIZE = SLURM_STEP_NUM_TASKS
  (the job step's tasks, so the batch script of a multi-task job is not itself a rank), LOCAL_RANK =
  SLURM_LOCALID, MASTER_ADDR = the first host of SLURM_STEP_NODELIST, MASTER_PORT = MASTER_PORT when set,
  else a port derived from the job and step ids (:func:`slurm_port`; every task computes the same one
  without talking to the others).

The backend is NCCL when the fit runs on CUDA (each rank on GPU LOCAL_RANK), gloo on the CPU. Every rank
runs the same stage; :mod:`.ranks` says which one writes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import timedelta

import torch
import torch.distributed as dist

log = logging.getLogger("sepm")

#: How long a rank waits in a collective for the others (a rank that died is normally ended by the
#: launcher first: torchrun ends the group, srun --kill-on-bad-exit the step).
TIMEOUT = timedelta(minutes=30)


def first_host(nodelist: str) -> str:
    """The first host of a SLURM node list: "node[07-09,12],gpu3" -> "node07"."""
    head = re.match(r"([^,\[]+)(?:\[([^\]]+)\])?", nodelist.strip())
    if head is None:
        raise ValueError(f"cannot read the SLURM node list {nodelist!r}")
    prefix, ranges = head.groups()
    return prefix if ranges is None else prefix + ranges.split(",")[0].split("-")[0]


def slurm_port(job_id: str, step_id: str) -> int:
    """A rendezvous port in 20000..39999 that all tasks of one job step agree on."""
    return 20000 + (int(job_id) * 64 + int(re.sub(r"\D", "", step_id) or 0)) % 20000


def detect(env=os.environ) -> dict | None:
    """{rank, world_size, local_rank, master_addr, master_port, launcher}, or None for a single process."""
    if int(env.get("WORLD_SIZE", 1)) > 1:
        return {"rank": int(env["RANK"]), "world_size": int(env["WORLD_SIZE"]),
                "local_rank": int(env.get("LOCAL_RANK", 0)), "master_addr": env["MASTER_ADDR"],
                "master_port": int(env["MASTER_PORT"]), "launcher": "torchrun"}
    if int(env.get("SLURM_STEP_NUM_TASKS", 1)) > 1 and "SLURM_PROCID" in env:
        nodes = env.get("SLURM_STEP_NODELIST") or env["SLURM_NODELIST"]
        port = env.get("MASTER_PORT") or slurm_port(env.get("SLURM_JOB_ID", "0"), env.get("SLURM_STEP_ID", "0"))
        return {"rank": int(env["SLURM_PROCID"]), "world_size": int(env["SLURM_STEP_NUM_TASKS"]),
                "local_rank": int(env.get("SLURM_LOCALID", 0)), "master_addr": env.get("MASTER_ADDR") or first_host(nodes),
                "master_port": int(port), "launcher": "srun"}
    return None


@contextlib.contextmanager
def session(outdir, device: str):
    """Join the process group the environment describes (if any) for the block; yields (folder this rank
    writes into, its device). Rank 0 writes into ``outdir``; the others into a scratch folder removed at
    the end, and they log errors only."""
    found = detect()
    if found is None:
        yield outdir, device
        return
    rank, size = found["rank"], found["world_size"]
    cuda = str(device).startswith("cuda")
    if cuda:
        torch.cuda.set_device(found["local_rank"])
        device = f"cuda:{found['local_rank']}"
    dist.init_process_group("nccl" if cuda else "gloo", init_method=f"tcp://{found['master_addr']}:"
                            f"{found['master_port']}", rank=rank, world_size=size, timeout=TIMEOUT)
    scratch = None
    if rank == 0:
        log.info("distributed fit: %d ranks (%s, %s backend, rendezvous %s:%d); rank 0 writes %s", size,
                 found["launcher"], dist.get_backend(), found["master_addr"], found["master_port"], outdir)
    else:  # rank 0 reports; the others only errors, named as theirs
        logger = logging.getLogger("sepm")
        logger.setLevel(logging.ERROR)
        logger.addFilter(_Prefix(f"rank {rank} (its copy of the outputs in a scratch folder): "))
        scratch = tempfile.mkdtemp(prefix=f"sepm-rank{rank}-")
    try:
        yield (outdir if scratch is None else scratch), device
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        dist.destroy_process_group()


class _Prefix(logging.Filter):
    def __init__(self, prefix: str):
        super().__init__()
        self.prefix = prefix

    def filter(self, record) -> bool:
        record.msg = self.prefix + str(record.msg)
        return True


def srun_argv(tasks: int, argv: list[str], threads: int) -> list[str]:
    """``sepm argv`` as one job step of ``tasks`` ranks with ``threads`` CPUs each (``--threads`` unless
    given); one failing rank ends the step."""
    extra = [] if "--threads" in argv else ["--threads", str(threads)]
    return ["srun", f"--ntasks={tasks}", f"--cpus-per-task={threads}", "--kill-on-bad-exit=1", sys.executable,
            "-m", "sepm", *argv, *extra]


def run_ranks(argv: list[str], tasks: int, threads: int, stream) -> int:
    """Run :func:`srun_argv` inside a SLURM job, its output into ``stream`` (a file); returns its exit status."""
    command = srun_argv(tasks, argv, threads)
    print("as", tasks, "ranks:", " ".join(command), file=stream, flush=True)
    return subprocess.run(command, stdout=stream, stderr=subprocess.STDOUT, check=False).returncode
