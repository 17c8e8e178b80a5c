"""Starting a distributed fit: rank, world size and rendezvous from torchrun's or srun's environment, or
N ranks on this machine started here (NN_config ``num_cores`` = N > 1, :func:`run_local`).

* ``num_cores`` = N > 1 (the original tool's k-point processes): ``sepm train``/``sepm mc`` start N copies
  of themselves as N gloo ranks on 127.0.0.1 with a free port, the job's threads divided among them, and
  supervise them (:func:`run_local`, the torchrun variables below plus SEPM_LAUNCHER and SEPM_PARENT_PID).
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
import ctypes
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

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
                "master_port": int(env["MASTER_PORT"]), "launcher": env.get("SEPM_LAUNCHER", "torchrun")}
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
    if "SEPM_PARENT_PID" in os.environ:  # a rank of run_local: it ends with its launcher, never an orphan
        _end_with_parent(int(os.environ["SEPM_PARENT_PID"]))
        if rank == 0 and "SEPM_ECHO_FD" in os.environ:  # the pipeline's progress lines on the terminal
            from ..progress import echo_to

            echo_to(open(int(os.environ["SEPM_ECHO_FD"]), "w", closefd=False), os.environ.get("SEPM_ECHO_PREFIX", ""))
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
    except dist.DistError as err:  # a peer ended (killed, or failed outside the agreed-on failures)
        from ..errors import RunError

        raise RunError(f"rank {rank}: the connection to the other ranks broke ({str(err).splitlines()[0]}); another "
                       "rank has ended, and its own messages say why") from None
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


# -- N ranks on this machine (NN_config num_cores) ---------------------------------------------------------
#: Seconds the other ranks get to end by themselves after one rank failed (most failures are agreed on by
#: every rank at the next all-reduce) or after a Ctrl-C that reached only the launcher, then SIGINT; KILL_AFTER
#: seconds later SIGKILL (a rank blocked in a collective with a dead peer does not see SIGINT).
GRACE_S, KILL_AFTER_S = 5.0, 20.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _end_with_parent(parent: int) -> None:
    """SIGTERM this process when ``parent`` ends (Linux prctl PR_SET_PDEATHSIG); exit now if it already has.
    SIGTERM ends the rank through its ``finally`` blocks (scratch folder removed, process group left). SIGINT
    stops the rank as Ctrl-C stops a single process, even where it was inherited ignored (a launcher started
    with ``&`` or nohup spawns its ranks so), since the launcher forwards SIGINT to stop them."""
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
    if os.getppid() != parent:
        raise SystemExit(f"rank {os.environ.get('RANK')}: its launcher (pid {parent}) has ended")


def _fileno(stream):
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):
        return None


def run_local(argv: list[str], n: int, threads: int) -> int:
    """``sepm argv`` as ``n`` gloo ranks on this machine, ``threads // n`` threads each (at least 1), until all
    end; returns the first failing rank's exit status (0 when none failed; rank 0's after a signal).

    The ranks write to this process's stdout and stderr (rank 0 logs, the others only errors, named as theirs).
    One rank failing: the others get :data:`GRACE_S` to end by themselves, then SIGINT, then SIGKILL. Ctrl-C on
    the terminal reaches every rank (one process group): rank 0 stops as a single process would (its saved state
    resumes); SIGTERM sent to this process alone is passed on at once, SIGINT after :data:`GRACE_S`. A rank ends
    with this process (PR_SET_PDEATHSIG), so none is left behind."""
    import sepm

    per_rank = max(1, threads // n)
    package_root = str(Path(sepm.__file__).resolve().parents[1])  # the ranks import this sepm
    env = {**os.environ, "WORLD_SIZE": str(n), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port()),
           "SEPM_LAUNCHER": "num_cores", "SEPM_PARENT_PID": str(os.getpid()),
           "PYTHONPATH": os.pathsep.join([package_root, *filter(None, [os.environ.get("PYTHONPATH")])]),
           **{v: str(per_rank) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}}
    from ..progress import _echo

    echo = _fileno(_echo["stream"]) if _echo["stream"] is not None else None
    if echo is not None:  # a copy: the ranks' own fd 2 is this process's sys.stderr (the rule's log)
        echo = os.dup(echo)
        env.update(SEPM_ECHO_FD=str(echo), SEPM_ECHO_PREFIX=_echo["prefix"])
    command = [sys.executable, "-m", "sepm", *argv, "--threads", str(per_rank)]
    log.info("num_cores = %d: the fit runs as %d local ranks (gloo), %d thread(s) each%s", n, n, per_rank,
             f"; {n * per_rank} threads for a job of {threads}" if n * per_rank > threads else "")
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    out, err = _fileno(sys.stdout), _fileno(sys.stderr)
    procs = []
    try:
        for r in range(n):
            procs.append(subprocess.Popen(command, env={**env, "RANK": str(r), "LOCAL_RANK": str(r)}, stdout=out,
                                          stderr=err, pass_fds=() if echo is None else (echo,)))
        log.info("ranks' pids: %s", ", ".join(str(p.pid) for p in procs))
        return _supervise(procs)
    finally:
        for p in procs:  # only after an error of this process itself (_supervise waits for every rank)
            if p.poll() is None:
                p.kill()
                p.wait()
        if echo is not None:
            os.close(echo)


def _supervise(procs: list) -> int:
    """Wait for every rank; end the others when one fails or a signal reaches this process alone."""
    received = []  # (signal, time) delivered to this process

    def on_signal(signum, _frame):
        received.append((signum, time.monotonic()))

    handlers = {}
    with contextlib.suppress(ValueError):  # only the main thread may set handlers
        handlers = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    failed, sent = None, {}  # (rank, time) of the first failure; signal -> time it was sent to the ranks
    try:
        while any(p.poll() is None for p in procs):
            now = time.monotonic()
            if failed is None:
                failed = next(((r, now) for r, p in enumerate(procs) if p.poll() not in (None, 0)), None)
                if failed is not None and not received and any(p.poll() is None for p in procs):
                    log.error("rank %d ended with exit status %d; ending the other ranks", failed[0],
                              _status(procs[failed[0]]))
            since = min([t for _, t in received] + ([failed[1]] if failed else []), default=None)
            if received and received[-1][0] == signal.SIGTERM and signal.SIGTERM not in sent:
                _signal(procs, signal.SIGTERM, sent, now)
            elif since is not None and now - since > GRACE_S and signal.SIGINT not in sent:
                _signal(procs, signal.SIGINT, sent, now)
            if sent and now - min(sent.values()) > KILL_AFTER_S:
                _signal(procs, signal.SIGKILL, sent, now)
            time.sleep(0.05)
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)
    codes = [_status(p) for p in procs]
    if received:  # stopped: rank 0's status (130 after Ctrl-C, as a single process)
        return codes[0] or 128 + received[0][0]
    return codes[failed[0]] if failed else 0


def _status(proc) -> int:
    """The exit status as a shell reports it (128 + N after signal N)."""
    return proc.returncode if proc.returncode >= 0 else 128 - proc.returncode


def _signal(procs, signum, sent: dict, now: float) -> None:
    sent[signum] = now
    for p in procs:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                p.send_signal(signum)
