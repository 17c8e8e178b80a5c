"""Which rank this process is in a distributed fit, and the few agreements the ranks need.

Without a process group (a plain run) there is one rank: it writes, and every helper is the identity.
With one (:mod:`.launch` starts it under torchrun or srun) every rank runs the same stage; only rank 0
(the writer) writes into the output folder, the others write their copies into a private scratch folder
(:func:`sepm.fitting.launch.session`), and every decision read from the output folder (resume state,
checkpoint sets) is rank 0's (:func:`from_writer`), so all ranks take the same path through the same
collectives; a stop or divergence follows from the all-reduced costs, identical on every rank.
"""

from __future__ import annotations

import torch
import torch.distributed as dist


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def is_writer() -> bool:
    return rank() == 0


def from_writer(value):
    """Rank 0's ``value`` (any picklable object, tensors included) on every rank."""
    if not active():
        return value
    box = [value if is_writer() else None]
    dist.broadcast_object_list(box, src=0, device=reduce_device())
    return box[0]


def reduce_device() -> torch.device:
    """Where collectives' tensors live: CUDA for NCCL, the CPU for gloo."""
    if active() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")
