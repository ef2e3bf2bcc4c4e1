"""Multi-process training under ``torchrun``: process-group set-up and small collectives.

``torchrun --nproc_per_node=W script.py`` starts W processes and tells each, through the
environment, who it is (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``) and where to meet
(``MASTER_ADDR``, ``MASTER_PORT``). :func:`init_distributed` reads that environment and joins
the process group: gloo on CPU, nccl when CUDA is available. Launched without ``torchrun`` it
does nothing and describes a single process, so one script serves both cases::

    info = init_distributed()
    model = build_model().to(info.device)
    Trainer(model, ...).fit()          # wraps the model in DDP when world_size > 1
    cleanup()

Every helper here is a no-op (or the identity) when no process group is initialised.
"""

from __future__ import annotations

import datetime
import logging
import os
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist

__all__ = [
    "DistInfo",
    "init_distributed",
    "cleanup",
    "is_distributed",
    "get_rank",
    "get_world_size",
    "is_main_process",
    "barrier",
    "all_reduce_sum",
    "all_reduce_mean",
    "broadcast_object",
]

log = logging.getLogger("seqattn.training")
BACKENDS = ("gloo", "nccl")


@dataclass(frozen=True)
class DistInfo:
    """Who this process is in a (possibly one-process) training job.

    Args:
        rank: global index of this process, 0 <= rank < world_size.
        world_size: number of processes.
        local_rank: index of this process on its machine (picks its GPU).
        device: where this process should put its model and batches.
        backend: ``"gloo"``, ``"nccl"``, or None when no process group was initialised.

    Example:
        >>> info = DistInfo()
        >>> info.is_main, info.world_size, info.device
        (True, 1, device(type='cpu'))
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        """True on rank 0, the one process that logs and writes files."""
        return self.rank == 0


def _env_int(name: str) -> int:
    raw = os.environ.get(name)
    try:
        value = int(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(
            f"expected environment variable {name} to be a non-negative integer, got {raw!r}"
        ) from None
    if value < 0:
        raise ValueError(
            f"expected environment variable {name} to be a non-negative integer, got {raw!r}"
        )
    return value


def _device_for(local_rank: int) -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device("cpu")


def is_distributed() -> bool:
    """True when a process group is initialised (even with a single process).

    Example:
        >>> is_distributed()
        False
    """
    return dist.is_available() and dist.is_initialized()


def _info_from_group() -> DistInfo:
    local_rank = int(os.environ.get("LOCAL_RANK", dist.get_rank()))
    return DistInfo(
        rank=dist.get_rank(),
        world_size=dist.get_world_size(),
        local_rank=local_rank,
        device=_device_for(local_rank),
        backend=str(dist.get_backend()),
    )


def init_distributed(
    backend: str | None = None, timeout: datetime.timedelta | None = None
) -> DistInfo:
    """Join the process group that ``torchrun`` set up; a single process when not under it.

    Args:
        backend: ``"gloo"`` or ``"nccl"``; None picks nccl when CUDA is available, else gloo.
        timeout: how long collectives wait for the other processes (torch's default if None).

    Returns:
        The :class:`DistInfo` of this process. With nccl, this process's GPU is also made the
        current CUDA device. Calling it again returns the same information.

    Example:
        >>> info = init_distributed()  # not launched by torchrun: one process, nothing joined
        >>> info.rank, info.world_size, info.backend
        (0, 1, None)
    """
    if backend is not None and backend not in BACKENDS:
        raise ValueError(f"expected backend 'gloo', 'nccl' or None, got {backend!r}")
    if is_distributed():
        return _info_from_group()
    if "RANK" not in os.environ and "WORLD_SIZE" not in os.environ:
        return DistInfo(device=_device_for(0))
    if not dist.is_available():
        raise RuntimeError("launched by torchrun, but this torch build has no torch.distributed")
    rank, world_size = _env_int("RANK"), _env_int("WORLD_SIZE")
    local_rank = _env_int("LOCAL_RANK") if "LOCAL_RANK" in os.environ else rank
    if world_size < 1 or rank >= world_size:
        raise ValueError(
            f"expected 0 <= RANK < WORLD_SIZE, got RANK={rank} and WORLD_SIZE={world_size}"
        )
    missing = [name for name in ("MASTER_ADDR", "MASTER_PORT") if name not in os.environ]
    if missing:
        raise ValueError(
            f"expected MASTER_ADDR and MASTER_PORT in the environment (torchrun sets them), "
            f"got neither {' nor '.join(missing)}"
        )
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        if not torch.cuda.is_available():
            raise ValueError("expected a CUDA device for the nccl backend, got none")
        torch.cuda.set_device(_device_for(local_rank))
    kwargs: dict[str, Any] = {"backend": backend, "rank": rank, "world_size": world_size}
    if timeout is not None:
        kwargs["timeout"] = timeout
    dist.init_process_group(init_method="env://", **kwargs)
    info = _info_from_group()
    if info.is_main:
        log.info("joined a %d-process %s group", world_size, backend)
    return info


def cleanup() -> None:
    """Leave the process group (no-op when none is initialised).

    Example:
        >>> cleanup()
    """
    if is_distributed():
        dist.destroy_process_group()


def get_rank() -> int:
    """This process's rank; 0 without a process group.

    Example:
        >>> get_rank()
        0
    """
    return dist.get_rank() if is_distributed() else 0


def get_world_size() -> int:
    """The number of processes; 1 without a process group.

    Example:
        >>> get_world_size()
        1
    """
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    """True on rank 0 (and in a plain single-process run).

    Example:
        >>> is_main_process()
        True
    """
    return get_rank() == 0


def barrier() -> None:
    """Wait until every process gets here (no-op without a process group).

    Example:
        >>> barrier()
    """
    if is_distributed():
        dist.barrier()


def _comm_device() -> torch.device:
    # nccl only moves CUDA tensors; gloo only CPU ones (for the collectives we use)
    if is_distributed() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum ``tensor`` over all processes; returns a new tensor on ``tensor``'s device.

    Args:
        tensor: the same shape and dtype on every process.

    Returns:
        The elementwise sum (a copy of ``tensor`` without a process group).

    Example:
        >>> all_reduce_sum(torch.tensor([1.0, 2.0]))
        tensor([1., 2.])
    """
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor, got {type(tensor).__name__}")
    out = tensor.detach().to(_comm_device(), copy=True)
    if is_distributed() and dist.get_world_size() > 1:
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out.to(tensor.device)


def all_reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    """Average ``tensor`` over all processes; returns a new tensor on ``tensor``'s device.

    Args:
        tensor: a floating-point tensor of the same shape on every process.

    Returns:
        The elementwise mean (a copy of ``tensor`` without a process group).

    Example:
        >>> all_reduce_mean(torch.tensor([0.5, 1.5]))
        tensor([0.5000, 1.5000])
    """
    if not isinstance(tensor, torch.Tensor) or not tensor.is_floating_point():
        got = tensor.dtype if isinstance(tensor, torch.Tensor) else type(tensor).__name__
        raise TypeError(f"expected a floating-point torch.Tensor, got {got}")
    return all_reduce_sum(tensor) / get_world_size()


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Send a picklable object from rank ``src`` to every process; returns it everywhere.

    Only for objects the processes of one job make for each other (it pickles), never for
    anything read from disk or the network.

    Example:
        >>> broadcast_object({"path": "runs/x"})
        {'path': 'runs/x'}
    """
    if not is_distributed() or dist.get_world_size() == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]
