r"""One fit over the ranks of a torch.distributed process group (:mod:`.launch` starts it).

SPMD: every rank runs the same stage (``sepm train`` / ``sepm mc``) on the same inputs. Inside every
evaluation of the objective (:class:`RankShare`, the distributed interface of
:class:`~sepm.fitting.objective.FitProblem`):

1. rank 0's parameters and floating-point buffers are broadcast (one flat vector), so every rank
   evaluates at bit-identical parameters;
2. each rank evaluates the band loss of its share of every system's k-points (the contiguous split of
   :func:`kpoint_shares`), with its gradient (full batch, or per k-point with
   ``separate_kpoints``);
3. rank 0 alone adds the system-level terms (deformation potentials, penalties, couplings) and their
   gradient;
4. one all-reduce (sum) of [band loss per system, system terms by name, which parameters have a gradient,
   every gradient] (and a broadcast of rank 0's per-row results, e.g. deformation potentials) gives every
   rank the serial loss parts and gradient, up to summation
   order. Every rank then takes the same optimizer step (L-BFGS and its line search included) and the same
   decisions (divergence, patience, Metropolis acceptance), so no other agreement is needed.

A failure inside an evaluation (an eigensolver error on one rank's k-point) is a flag in the same
all-reduce and is raised on every rank (``torch.linalg.LinAlgError`` stays one, so training's divergence
handling runs everywhere). Band tables (``bands`` without gradient) are assembled by an all-reduce of
each rank's rows into zeros: exact.

Stochastic models: in training mode every evaluation seeds rank r's generator with a seed drawn from rank
0's plus r, so a run is reproducible (and resumable, from rank 0's saved random state) for a given number
of ranks, but its dropout masks differ from a serial run's (the equality holds for deterministic models).
BatchNorm running statistics are rank 0's (its share of the k-points), sent to the others at the next
evaluation.
"""

from __future__ import annotations

import logging
import time

import torch
import torch.distributed as dist

from . import ranks
from .objective import LossParts

log = logging.getLogger("sepm")


def problem_options(modules: dict) -> dict:
    """FitProblem keyword arguments that put its k-points on the ranks (none in a single process);
    ``modules``: name -> the live modules holding the trainable state."""
    if not ranks.active():
        return {}
    return {"distributed": lambda problem: RankShare(problem, modules)}


def kpoint_shares(nks: list[int], n: int) -> list[list[tuple[int, int]]]:
    """shares[i][x] = (start, stop): rank i's contiguous k-point range of system x (sizes differ by at most one)."""
    shares = [[] for _ in range(n)]
    for nk in nks:
        start = 0
        for i in range(n):
            stop = start + nk // n + (i < nk % n)
            shares[i].append((start, stop))
            start = stop
    return shares


class RankShare:
    """This rank's share of ``problem``'s k-points and the collectives that join the shares."""

    def __init__(self, problem, modules: dict):
        self.modules = modules
        shares = kpoint_shares([len(t.spec.kpoints) for t in problem.targets], ranks.world_size())
        self.share = shares[ranks.rank()]
        self.comm = {"calls": 0, "bytes": 0, "seconds": 0.0}  # every collective of this object
        log.info("k-points over %d ranks, per rank: %s", len(shares), "; ".join(
            f"system {x}: {[b - a for a, b in (s[x] for s in shares)]}" for x in range(len(problem.targets))))

    # -- collectives ---------------------------------------------------------------------------------
    def _collective(self, op, t: torch.Tensor) -> torch.Tensor:
        t = t.to(ranks.reduce_device())
        start = time.perf_counter()
        op(t)
        self.comm["calls"] += 1
        self.comm["bytes"] += t.numel() * t.element_size()
        self.comm["seconds"] += time.perf_counter() - start
        return t

    def _sync(self):
        """Rank 0's parameters and floating-point buffers on every rank; in training mode (dropout) also a
        seed from rank 0's generator, so every rank's masks follow from rank 0's random state alone (a run is
        reproducible and resumable for a given number of ranks)."""
        tensors = [t for m in self.modules.values() for t in (*m.parameters(), *m.buffers()) if t.is_floating_point()]
        training = any(sub.training for m in self.modules.values() for sub in m.modules())
        seed = [float(torch.randint(0, 2**52, ()))] if training else []
        flat = self._collective(lambda t: dist.broadcast(t, 0), torch.cat(
            [torch.tensor(seed, dtype=torch.float64), *(t.detach().reshape(-1).to("cpu", torch.float64) for t in tensors)]))
        if training:
            torch.manual_seed(int(flat[0]) + ranks.rank())
        offset = len(seed)
        with torch.no_grad():
            for t in tensors:
                t.copy_(flat[offset: offset + t.numel()].view(t.shape).to(t.device, t.dtype))
                offset += t.numel()

    def _reduce(self, vector: torch.Tensor, failure: BaseException | None) -> torch.Tensor:
        """The sum of ``vector`` over the ranks; raises on every rank when ``failure`` happened on any (a
        flag in the same all-reduce), ``torch.linalg.LinAlgError`` staying one."""
        total = self._collective(dist.all_reduce, torch.cat([vector.reshape(-1), torch.tensor(
            [float(failure is not None)], dtype=torch.float64)])).cpu()
        if total[-1] > 0:
            reports = [None] * ranks.world_size()
            linalg = isinstance(failure, torch.linalg.LinAlgError)
            dist.all_gather_object(reports, None if failure is None else ("LinAlgError" if linalg else type(
                failure).__name__, (str(failure).splitlines() or [""])[0]))
            if failure is not None:
                raise failure
            r, (kind, text) = next((r, rep) for r, rep in enumerate(reports) if rep is not None)
            if kind == "LinAlgError":
                raise torch.linalg.LinAlgError(f"rank {r}: {text}")
            raise RuntimeError(f"rank {r} failed ({kind}: {text})")
        return total[:-1].view(vector.shape)

    # -- the distributed interface of FitProblem -------------------------------------------------------
    def evaluate(self, problem, backward: bool, separate_kpoints: bool) -> LossParts:
        self._sync()
        trainable = [p for m in self.modules.values() for p in m.parameters() if p.requires_grad]
        before = [p.grad for p in trainable]
        for p in trainable:
            p.grad = None
        nsys = len(problem.targets)
        names = [n for n, t in problem.terms.items() if not t.splits_over_k]  # the same list on every rank
        local = torch.zeros(nsys + len(names), dtype=torch.float64)
        failure = None
        try:
            with torch.set_grad_enabled(backward):
                if backward and separate_kpoints:
                    for x, (a, b) in enumerate(self.share):
                        local[x] = problem.accumulate_per_k(x, range(a, b))
                else:
                    problem.refresh()
                    parts = {x: problem.band_loss(x, slice(a, b)) for x, (a, b) in enumerate(self.share)
                             if problem.targets[x].reference is not None and b > a}
                    if parts and backward and any(v.requires_grad for v in parts.values()):
                        sum(parts.values()).backward()
                    for x, v in parts.items():
                        local[x] = float(v.detach())
                if ranks.is_writer():
                    problem.refresh()
                    terms = problem.system_terms()
                    system = sum(terms.values(), torch.zeros((), dtype=torch.float64))
                    if backward and system.requires_grad:
                        system.backward()
                    local[nsys:] = torch.tensor([float(terms[n].detach()) for n in names], dtype=torch.float64)
        except Exception as err:  # noqa: BLE001 - agreed on by every rank in the all-reduce
            failure = err
        has = torch.tensor([p.grad is not None for p in trainable], dtype=torch.float64)
        grads = [torch.zeros(p.numel(), dtype=torch.float64) if p.grad is None else
                 p.grad.detach().reshape(-1).to("cpu", torch.float64) for p in trainable]
        total = self._reduce(torch.cat([local, has, *grads]), failure)
        offset = len(local) + len(trainable)
        for p, prev, flag in zip(trainable, before, total[len(local): offset]):
            g = total[offset: offset + p.numel()].view(p.shape).to(p.device, p.dtype)
            offset += p.numel()
            p.grad = prev if flag == 0 else g if prev is None else prev + g
        details = [problem.details if ranks.is_writer() else None]  # per-row results (deformation potentials, ...)
        dist.broadcast_object_list(details, 0)
        problem.details = details[0]
        bands, values = total[:nsys].tolist(), dict(zip(names, total[nsys:].tolist()))
        return LossParts(sum(bands) + sum(values.values()), bands, values, dict(problem.details))

    def bands(self, problem, x: int) -> torch.Tensor:
        """All k-points of system ``x`` (no gradient): each rank's rows, summed into zeros."""
        self._sync()
        t = problem.targets[x]
        (a, b), failure = self.share[x], None
        rows = torch.zeros(len(t.spec.kpoints), t.spec.nbands, dtype=torch.float64)
        try:
            if b > a:
                with torch.no_grad():
                    rows[a:b] = problem.bands(x, slice(a, b)).cpu()
        except Exception as err:  # noqa: BLE001 - agreed on by every rank in the all-reduce
            failure = err
        return self._reduce(rows, failure).to(problem.device)

    def close(self):
        if self.comm["calls"] and ranks.is_writer():
            log.info("collectives of the distributed objective: %d calls, %.3g MB, %.3g s", self.comm["calls"],
                     self.comm["bytes"] / 1e6, self.comm["seconds"])
