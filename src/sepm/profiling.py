"""Timings and peak memory per stage: DeepPseudopot's ``runtime_flag`` and ``memory_flag``.

``with PROFILER.stage("name"):`` around a piece of work records its wall time (runtime_flag) and its
peak memory (memory_flag): the process's peak resident set size during the stage (Linux: VmHWM, reset
at the start of each stage through /proc/self/clear_refs; elsewhere the process peak so far) and, on
CUDA, torch's peak allocated device memory. Stages nest; a parent's peak includes its children's.
Top-level stages are logged as they end; :meth:`Profiler.table` sums every stage (calls, seconds,
largest peak) for ``profile.dat``. Disabled (both flags 0), a stage costs one attribute check.
"""

from __future__ import annotations

import logging
import resource
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import torch

log = logging.getLogger("sepm")
_STATUS, _CLEAR = Path("/proc/self/status"), Path("/proc/self/clear_refs")


def _peak_rss_mb() -> float:
    """The process's peak resident memory (MB) since the last reset."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def _reset_peak() -> bool:
    try:
        _CLEAR.write_text("5")
        return True
    except OSError:
        return False


class Profiler:
    def __init__(self):
        self.runtime = self.memory = False
        self.records: dict[str, list[float]] = {}  # name -> [calls, seconds, peak MB]
        self._stack: list[list] = []  # [name, t0, peak of finished children]
        self._resettable = True

    @property
    def enabled(self) -> bool:
        return self.runtime or self.memory

    def configure(self, runtime: bool = False, memory: bool = False):
        self.runtime, self.memory = bool(runtime), bool(memory)
        self.records.clear()
        if self.memory:
            self._resettable = _reset_peak()
            log.info("memory_flag = 1: recording peak memory per stage (%s)",
                     "peak RSS per stage" if self._resettable else "process peak RSS so far; this system cannot "
                     "reset it")
        if self.runtime:
            log.info("runtime_flag = 1: recording wall time per stage")

    @contextmanager
    def stage(self, name: str, label=None):
        """Record the work inside under ``name`` (summed over calls); ``label`` (e.g. the epoch) only
        goes into the log line."""
        if not self.enabled:
            yield
            return
        if self.memory:
            if self._stack:  # the parent's peak so far, before the reset
                self._stack[-1][2] = max(self._stack[-1][2], _peak_rss_mb())
            _reset_peak()
            if torch.cuda.is_available():
                torch.cuda.reset_peak_memory_stats()
        self._stack.append([name, time.perf_counter(), 0.0])
        try:
            yield
        finally:
            _, t0, children = self._stack.pop()
            seconds = time.perf_counter() - t0
            peak = max(children, _peak_rss_mb()) if self.memory else float("nan")
            if self._stack and self.memory:
                self._stack[-1][2] = max(self._stack[-1][2], peak)
            rec = self.records.setdefault(name, [0, 0.0, 0.0])
            rec[0] += 1
            rec[1] += seconds
            rec[2] = max(rec[2], peak) if self.memory else peak
            if not self._stack:
                log.info("%s: %s", name if label is None else f"{name} {label}", self._describe(seconds, peak))

    def _describe(self, seconds: float, peak: float) -> str:
        parts = [f"{seconds:.3f} s"] if self.runtime else []
        if self.memory:
            parts.append(f"peak RSS {peak:.0f} MB")
            if torch.cuda.is_available():
                parts.append(f"peak CUDA {torch.cuda.max_memory_allocated() / 2**20:.0f} MB")
        return ", ".join(parts)

    def table(self) -> tuple[list[str], list[list]]:
        """(columns, rows) of every stage so far, for ``profile.dat``."""
        rows = [[name, int(c), s, s / c, p] for name, (c, s, p) in self.records.items()]
        return ["stage", "calls", "seconds_total", "seconds_mean", "peak_rss_MB"], rows

    def summary(self) -> str:
        return "; ".join(f"{name} x{int(c)}: {self._describe(s, p)}" for name, (c, s, p) in self.records.items())


#: The process's profiler, configured by each fitting stage from its NN_config.
PROFILER = Profiler()
