r"""How many of the threads a dot was given its solve uses: the faster, measured, of 1 and all of them.

A multi-threaded FFT waits for its slowest thread, so on a loaded machine 2 threads can be several times
slower than 1 (bench/dot_threads.py at load 6-13 on 2 shared cores, 2 threads against 1: one application
to a block of 6 vectors 2.2-6.4x slower on 48^3 and 0.9-1.9x on 80^3, to a single vector 2.7-29x; faster
in 1 of 24 timings); on quiet cores they are faster. So
before any other work of a dot (bulk edges, potential, solve, analysis) one application of the free
Hamiltonian of its grid (T + 0: the same FFTs and multiply as H) to a few smooth vectors is timed at 1
thread and at the given count, alternately (after a warm-up of each), and the faster count is kept for
all of it (torch's intra-op threads: the FFTs, the block linear algebra, the many small operations that
build the potential; and the BLAS of numpy/scipy). The load can change during the solve; the choice is
made once and logged.
"""

from __future__ import annotations

import logging
import time

import torch
from threadpoolctl import threadpool_limits

from .hamiltonian import GridHamiltonian

log = logging.getLogger("sepm")

#: Vectors in the timed block, and timed rounds (1, n, n, 1 per round) per thread count.
PROBES = 4
ROUNDS = 2


def free_hamiltonian(grid, kinetic_cap: float, device="cpu") -> GridHamiltonian:
    """T + 0 on ``grid``: what one application of a dot's H costs, before its potential is built."""
    return GridHamiltonian(grid, torch.zeros(grid.shape, dtype=torch.float64, device=device), kinetic_cap)


def choose_threads(H, device="cpu") -> tuple[float, dict]:
    """Set torch to the faster of 1 and its current thread count for ``H.apply`` (CPU only); return the
    seconds of one application per vector at that count and a record of the choice."""
    requested = torch.get_num_threads()
    counts = [1, requested] if requested > 1 and torch.device(device).type == "cpu" else [requested]
    probe = H.smooth_random(PROBES, 1)
    seconds = {n: [] for n in counts}
    for n in counts:  # warm-up: the pool and the FFT plans of this count
        torch.set_num_threads(n)
        H.apply(probe)
    for n in (counts + counts[::-1]) * ROUNDS:
        torch.set_num_threads(n)
        start = time.perf_counter()
        H.apply(probe)
        seconds[n].append((time.perf_counter() - start) / PROBES)
    per = {n: sorted(v)[len(v) // 2] for n, v in seconds.items()}
    best = min(counts, key=per.get)
    torch.set_num_threads(best)
    threadpool_limits(best)
    if len(counts) > 1:
        log.info("threads: one H application %s; the dot uses %d thread(s)%s",
                 ", ".join(f"{1e3 * per[n]:.3g} ms at {n}" for n in counts), best,
                 "" if best == requested else f" of the {requested} given (more were slower: other work on these "
                 "cores?)")
    return per[best], {"threads": best, "threads_requested": requested,
                       "seconds_per_application_by_threads": {str(n): per[n] for n in counts}}
