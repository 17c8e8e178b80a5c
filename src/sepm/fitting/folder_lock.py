"""One run per output folder: an exclusive ``fcntl.flock`` on ``OUTDIR/.sepm.lock``, held for the whole
run and released by the kernel when the process ends (also after ``kill -9``, so a killed run never leaves
a stale lock). The holder writes its command, pid, host and start time into the file; a second run
into the same folder reads them and refuses with a :class:`~sepm.errors.RunError` naming the holder."""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from pathlib import Path

from ..errors import RunError

LOCK_FILE = ".sepm.lock"


@contextlib.contextmanager
def folder_lock(outdir, command: str):
    """Hold the lock on ``outdir`` (created if needed) while the block runs."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    path = outdir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "a process that has not yet said who"
            raise RunError(f"{outdir} is in use by another run ({holder}); wait for it to end, stop it, "
                           "or choose another output folder") from None
        os.ftruncate(fd, 0)
        text = (f"{command}, pid {os.getpid()} on {socket.gethostname()}, "
                f"started {time.strftime('%Y-%m-%d %H:%M:%S %Z')}\n")
        os.pwrite(fd, text.encode(), 0)
        yield path
    finally:
        os.close(fd)  # releases the lock
