"""Progress lines of long work (training epochs, k-points of a band evaluation, dot solver iterations).

A :class:`Progress` writes one line such as ``train: epoch 40/250, cost 5.77 eV^2, best 5.70, lr 1, ETA 2 min
10 s`` through the ``sepm`` logger (the terminal for a ``sepm`` command, the rule's log file in the pipeline) at
most every :data:`INTERVAL` seconds, plus the first and the last step, so a long stage is never silent and a log
is not flooded. In the pipeline the workflow script redirects stderr into the rule's log; :func:`echo_to` makes
the lines appear on the terminal as well (prefixed with the job), and only these lines.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger("sepm")

#: seconds between two progress lines of one task
INTERVAL = 15.0

_echo = {"stream": None, "prefix": ""}


def echo_to(stream, prefix: str = ""):
    """Also write every progress line to ``stream`` (e.g. the terminal, when stderr goes to a log file)."""
    _echo.update(stream=stream, prefix=prefix)


def duration(seconds: float) -> str:
    """``42 s``, ``3 min 5 s``, ``2 h 7 min``."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


class Progress:
    """Progress of ``what`` over ``total`` steps (None: unknown, no ETA) counted in ``unit``; ``start``: steps
    already done before this run (a resumed training), left out of the rate."""

    def __init__(self, what: str, unit: str, total: int | None = None, start: int = 0, interval: float | None = None,
                 clock=time.monotonic):
        self.what, self.unit, self.total, self.start = what, unit, total, start
        self.interval = INTERVAL if interval is None else interval
        self.clock = clock
        self.t0 = clock()
        self.last: float | None = None

    def update(self, done: int, *details: str) -> str | None:
        """After step ``done`` (1-based): the line, written when the first step, the last or INTERVAL seconds after
        the previous line; else None. ``details``: preformatted "name value" parts."""
        now = self.clock()
        final = self.total is not None and done >= self.total
        if self.last is not None and now - self.last < self.interval and not final:
            return None
        self.last = now
        count = f"{self.unit} {done}" + (f"/{self.total}" if self.total is not None else "")
        parts = [count, *details]
        if self.total is not None and not final and done > self.start:
            parts.append("ETA " + duration((now - self.t0) / (done - self.start) * (self.total - done)))
        elif final:
            parts.append("took " + duration(now - self.t0))
        line = f"{self.what}: " + ", ".join(parts)
        log.info("%s", line)
        if _echo["stream"] is not None:
            print(_echo["prefix"] + line, file=_echo["stream"], flush=True)
        return line
