r"""k-points in parallel worker processes (NN_config ``num_cores`` = n > 1; 0 or 1 = serial).

The band loss is a sum over k-points, so it splits exactly: every system's k-points are divided into
n contiguous shares (sizes differing by at most one) and worker i evaluates share i of every system.

* Workers are a persistent pool of processes started by the ``forkserver`` method (``spawn`` where
  there is none; plain fork is unsafe with torch's threads). The fork server is a single-threaded
  process that has imported sepm once, so pools after the first start in a fraction of a second.
  A pool is created on the first parallel evaluation of a :class:`~sepm.fitting.objective.FitProblem`
  and ended by its ``close()`` (also a context manager, at garbage collection and at interpreter exit).
  Each worker rebuilds its own copy of the problem from a picklable replica (a recipe with ``build`` and
  the live ``modules``, :class:`sepm.fitting.stage.SetupReplica`: the Bundle with the effective
  configuration, and the device) and runs single-threaded (torch, OpenMP/BLAS)
  with the memory budget divided by n.
* Per evaluation the main process sends the trainable state: every module's state_dict, the
  train/eval mode of every submodule, the requires_grad flags and the pseudopotential coefficients it
  has just refreshed (a worker checks that its own refresh reproduces them bit for bit). A worker
  returns its band losses per system and, with ``backward``, the gradient of every parameter; the main
  process adds the losses, accumulates the summed gradients into ``.grad`` (as ``backward`` would) and
  then computes the system-level terms (``problem.system_terms()``: every target but the bands) itself,
  once. Losses and gradients equal those of the serial modes up to summation order (~1e-15 relative);
  ``separate_kpoints`` is honoured inside each worker (one backward per k-point, lower peak memory).
* Stochastic models: dropout masks come from per-worker generators seeded from the main process's
  generator at every training-mode evaluation, so a parallel run is reproducible (and resumable) for a
  given n, but its masks differ from a serial run's: the identical-results guarantee holds for
  deterministic models. BatchNorm running statistics are taken from worker 0 after a training-mode
  evaluation (then updated by the main process's system-level terms); this reproduces a serial
  full-batch evaluation when worker 0 holds k-points of every system, not a per-k-point one.
* ``FitProblem.bands`` (no gradient) is parallel too: each worker computes the bands of its share.

As with any spawn/forkserver multiprocessing, a script that starts workers must guard its top level
with ``if __name__ == "__main__":`` (workers re-import the main module); the ``sepm`` CLI does.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import traceback
import weakref

import torch
import torch.multiprocessing as mp

from .objective import LossParts

log = logging.getLogger("sepm")

#: Environment variables making OpenMP / BLAS single-threaded in the workers (set while they start).
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _context():
    """forkserver (preloading sepm) where available, else spawn."""
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["__main__", "sepm.fitting.stage"])
        return ctx
    return mp.get_context("spawn")


def kpoint_shares(nks: list[int], n: int) -> list[list[tuple[int, int]]]:
    """shares[i][x] = (start, stop): worker i's contiguous k-point range of system x."""
    shares = [[] for _ in range(n)]
    for nk in nks:
        start = 0
        for i in range(n):
            stop = start + nk // n + (i < nk % n)
            shares[i].append((start, stop))
            start = stop
    return shares


# -- main process --------------------------------------------------------------------------------------
class KPointPool:
    """n persistent worker processes, one pipe each; messages are pickled bytes (no shared memory)."""

    def __init__(self, replica, shares, memory_limit_gb: float, device):
        self.replica, self.shares, self.device = replica, shares, torch.device(device)
        ctx = _context()
        self._conns, self._procs = [], []
        saved = {v: os.environ.get(v) for v in THREAD_VARIABLES}
        try:
            os.environ.update({v: "1" for v in THREAD_VARIABLES})  # inherited by the fork server / spawned workers
            for i, share in enumerate(shares):
                parent, child = ctx.Pipe()
                proc = ctx.Process(target=_worker_main, args=(child, replica, share, i, memory_limit_gb),
                                   name=f"sepm-kpoints-{i}", daemon=True)
                proc.start()
                child.close()
                self._conns.append(parent)
                self._procs.append(proc)
        finally:
            for v, value in saved.items():
                if value is None:
                    os.environ.pop(v, None)
                else:
                    os.environ[v] = value
        self._finalizer = weakref.finalize(self, _shutdown, self._conns, self._procs)
        self._gather()  # "ready" (or a worker's construction error)

    def request(self, *message) -> list:
        """Send ``message`` to every worker, then collect their replies in worker order."""
        if not self._finalizer.alive:
            raise RuntimeError("the k-point worker pool is closed")
        payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        for conn in self._conns:
            conn.send_bytes(payload)
        return self._gather()

    def _gather(self) -> list:
        replies, errors = [], []
        for i, conn in enumerate(self._conns):
            try:
                status, value = pickle.loads(conn.recv_bytes())
            except (EOFError, OSError) as err:
                self._procs[i].join(timeout=1)
                status, value = "error", (f"worker process died ({err!r}, exit code {self._procs[i].exitcode}); "
                                          "a script starting workers needs the `if __name__ == '__main__':` guard")
            replies.append(value)
            if status == "error":
                errors.append(f"k-point worker {i}: {value}")
        if errors:
            self.close()
            raise RuntimeError("\n".join(errors))
        return replies

    def close(self):
        self._finalizer()

    def evaluate(self, problem, backward: bool, separate_kpoints: bool) -> LossParts:
        """:meth:`FitProblem.evaluate` with the band losses computed by the workers."""
        modules = self.replica.modules
        with torch.set_grad_enabled(backward):
            problem.refresh()
            replies = self.request("loss", _state(problem, modules, check=True), backward, separate_kpoints)
            if replies[0]["buffers"] is not None:  # BatchNorm running statistics (train mode)
                with torch.no_grad():
                    for n, m in modules.items():
                        for k, buf in m.named_buffers():
                            buf.copy_(replies[0]["buffers"][f"{n}.{k}"])
            if backward:
                for n, m in modules.items():
                    for k, p in m.named_parameters():
                        grads = [r["grads"][f"{n}.{k}"] for r in replies if f"{n}.{k}" in r["grads"]]
                        if grads:
                            g = sum(grads[1:], grads[0]).to(p.device)
                            p.grad = g if p.grad is None else p.grad + g
            terms = problem.system_terms()
            system_level = sum(terms.values())
            if backward and system_level.requires_grad:
                system_level.backward()
        band_parts = [sum(r["losses"][x] for r in replies) for x in range(len(problem.targets))]
        return problem.loss_parts(band_parts, terms)

    def bands(self, problem, x: int) -> torch.Tensor:
        """:meth:`FitProblem.bands` of system ``x`` (all k-points, no gradient) computed by the workers."""
        parts = self.request("bands", _state(problem, self.replica.modules, check=False), x)
        return torch.cat([p for p in parts if p is not None]).to(problem.device)


def _shutdown(conns, procs):
    for conn in conns:
        with contextlib.suppress(OSError, ValueError):
            conn.send_bytes(pickle.dumps(("close",)))
    for proc in procs:
        proc.join(timeout=5)
        if proc.is_alive():
            proc.terminate()
            proc.join(timeout=5)
    for conn in conns:
        conn.close()


def start_pool(problem, replica) -> KPointPool | None:
    """The pool for ``problem`` (``num_cores`` > 1) with workers built from ``replica``, or None (serial)
    when it cannot or need not be used."""
    n_cores = problem.num_cores
    if replica is None:
        log.warning("num_cores = %d ignored: this problem has no worker recipe; evaluating serially", n_cores)
        return None
    nks = [len(t.spec.kpoints) for t in problem.targets]
    n = min(n_cores, max(nks))
    if n < 2:
        log.info("num_cores = %d: only %d k-point(s) per system; evaluating serially", n_cores, max(nks))
        return None
    shares = kpoint_shares(nks, n)
    log.info("k-points in parallel: %d worker processes (num_cores = %d, %d CPUs), k-points per worker %s, "
             "memory budget %.3g GB each", n, n_cores, os.cpu_count() or 0,
             "; ".join(f"system {x}: {[b - a for a, b in (s[x] for s in shares)]}" for x in range(len(nks))),
             problem.memory_limit_gb / n)
    return KPointPool(replica, shares, problem.memory_limit_gb / n, problem.device)


def _state(problem, modules: dict, check: bool) -> dict:
    """What a worker needs to reproduce the main process's trainable state."""
    training = any(m.training for module in modules.values() for m in module.modules())
    return {
        "modules": {n: {k: v.detach().cpu() for k, v in m.state_dict().items()} for n, m in modules.items()},
        "training": {n: [sub.training for sub in m.modules()] for n, m in modules.items()},
        "requires_grad": {f"{n}.{k}": p.requires_grad for n, m in modules.items() for k, p in m.named_parameters()},
        "params": problem.pp.params.detach().cpu(),
        "check": check,
        "seed": int(torch.randint(0, 2**62, ())) if training else None,
    }


# -- worker processes -----------------------------------------------------------------------------------
class _Worker:
    def __init__(self, replica, share, index: int, memory_limit_gb: float):
        self.problem, self.modules = replica.build(memory_limit_gb)
        self.share, self.index = share, index

    def _named_parameters(self):
        return [(f"{n}.{k}", p) for n, m in self.modules.items() for k, p in m.named_parameters()]

    def load(self, state):
        for n, m in self.modules.items():
            m.load_state_dict(state["modules"][n])
            for sub, mode in zip(m.modules(), state["training"][n]):
                sub.training = mode
        for name, p in self._named_parameters():
            p.requires_grad_(state["requires_grad"][name])
            p.grad = None
        if state["seed"] is not None:
            torch.manual_seed(state["seed"] + self.index)
        params = state["params"].to(self.problem.device)
        if not state["check"]:
            self.problem.pp.params = params
            return
        with torch.no_grad():
            self.problem.refresh()
            if not torch.equal(self.problem.pp.params, params):
                raise RuntimeError("the worker's pseudopotential coefficients differ from the main process's: "
                                   "with num_cores > 1 the trainable state must live in the problem's modules")

    def loss(self, state, backward: bool, separate: bool) -> dict:
        self.load(state)
        problem, losses = self.problem, []
        with torch.set_grad_enabled(backward):
            if backward and separate:
                losses = [problem.accumulate_per_k(x, range(a, b)) for x, (a, b) in enumerate(self.share)]
            else:
                problem.refresh()
                parts = [problem.band_loss(x, slice(a, b)) for x, (a, b) in enumerate(self.share)
                         if problem.targets[x].reference is not None and b > a]
                if backward and parts and any(p.requires_grad for p in parts):
                    sum(parts).backward()
                it = iter(parts)
                losses = [float(next(it).detach()) if problem.targets[x].reference is not None and b > a else 0.0
                          for x, (a, b) in enumerate(self.share)]
        training = any(sub.training for m in self.modules.values() for sub in m.modules())
        return {"losses": losses,
                "grads": {n: p.grad.cpu() for n, p in self._named_parameters() if p.grad is not None},
                "buffers": {f"{n}.{k}": b.cpu() for n, m in self.modules.items() for k, b in m.named_buffers()}
                if training else None}

    def bands(self, state, x: int):
        self.load(state)
        a, b = self.share[x]
        if b <= a:
            return None
        with torch.no_grad():
            return self.problem.bands(x, slice(a, b)).cpu()


def _worker_main(conn, replica, share, index: int, memory_limit_gb: float):
    torch.set_num_threads(1)

    def reply(status, value):
        conn.send_bytes(pickle.dumps((status, value), protocol=pickle.HIGHEST_PROTOCOL))

    try:
        worker = _Worker(replica, share, index, memory_limit_gb)
    except BaseException:  # noqa: BLE001 - reported to the main process
        reply("error", traceback.format_exc())
        return
    reply("ok", None)
    while True:
        try:
            kind, *args = pickle.loads(conn.recv_bytes())
        except (EOFError, OSError):
            return
        if kind == "close":
            return
        try:
            reply("ok", getattr(worker, kind)(*args))
        except Exception:  # noqa: BLE001 - reported to the main process
            reply("error", traceback.format_exc())
