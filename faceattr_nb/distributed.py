"""Data-parallel training on several GPUs (or CPU processes) for ``train.fit``.

Launch the same script once per GPU; ``train.fit`` needs no change:

    torchrun --nproc_per_node=4 my_training_script.py

``fit`` counts as distributed when ``torch.distributed`` is already
initialised, or when torchrun's environment says so (``WORLD_SIZE`` > 1); it
then joins the process group itself (NCCL on CUDA, gloo on the CPU) and uses
GPU ``LOCAL_RANK``. Every process walks through the same global batches (same
seed, same order, same flips) and takes its own contiguous share of each one
(``batch_size / world_size`` images); ``DistributedDataParallel`` averages the
gradients, so the weights follow the one-process run with the same
``batch_size`` and learning-rate schedule. Rank 0 alone shows progress bars,
prints, and writes checkpoints and the run record; every rank resumes from the
same checkpoint.

BatchNorm: on CUDA its layers become ``SyncBatchNorm`` (statistics over the
whole global batch, as in one process). gloo has no SyncBatchNorm, so on the
CPU each process normalises with the statistics of its own share: a model with
BatchNorm then trains close to, not exactly like, one process. Dropout draws
per process (seed + rank), so it too differs from one process in its draws.
Each process holds the whole decoded image cache (on its GPU when it fits).
"""
import atexit
import os

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel


def active() -> bool:
    """True inside a process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    """True in the process that logs, checkpoints and writes records (rank 0)."""
    return rank() == 0


def print0(*args, **kw) -> None:
    """``print`` on rank 0 only."""
    if is_main():
        print(*args, **kw)


def init(device: torch.device) -> torch.device:
    """Join torchrun's process group if there is one to join; return this process's device."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        atexit.register(dist.destroy_process_group)
    if active() and device.type == "cuda":
        if device.index is None:
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", torch.cuda.current_device())))
        torch.cuda.set_device(device)  # NCCL's collectives use the current device
    return device


def check_batch(batch_size: int) -> None:
    """The global batch must split evenly into one share per process."""
    if batch_size % world_size():
        raise ValueError(f"batch_size={batch_size} does not divide into {world_size()} processes: "
                         f"choose a multiple of {world_size()} (each process takes batch_size / world_size)")


def part() -> tuple[int, int]:
    """(rank, world_size): which share of every batch this process trains on (for ``loaders.batches``)."""
    return rank(), world_size()


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """The model to train with: DDP around it (SyncBatchNorm on CUDA), or the model itself."""
    if not active():
        return model
    if device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)  # replaces the layers in place
        return DistributedDataParallel(model, device_ids=[device.index])
    return DistributedDataParallel(model)


def all_sum(sums: dict[str, float], n: int) -> tuple[dict[str, float], int]:
    """Per-process loss sums and image counts, added over all processes."""
    if not active():
        return sums, n
    t = torch.tensor([*sums.values(), n], dtype=torch.float64,
                     device="cuda" if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(t)
    return dict(zip(sums, t[:-1].tolist())), int(t[-1])


def sync_buffers(model: nn.Module) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics) to every process."""
    if active():
        for b in model.buffers():
            dist.broadcast(b, 0)


def from_main(obj):
    """Rank 0's ``obj`` in every process."""
    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, 0)
    return box[0]


def rng_state():
    """The CPU random state to checkpoint: this process's, or every process's (a list) when distributed."""
    state = torch.get_rng_state()
    if not active():
        return state
    states = [None] * world_size()
    dist.all_gather_object(states, state)
    return states


def set_rng_state(saved) -> None:
    """Restore a state written by ``rng_state`` (a list: this rank's entry, or rank 0's if there is none)."""
    if isinstance(saved, list):
        saved = saved[rank()] if rank() < len(saved) else saved[0]
    torch.set_rng_state(saved)
