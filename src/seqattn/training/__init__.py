"""Training: the trainer, callbacks, checkpoints, truncated BPTT, multi-process set-up."""

from seqattn.training.callbacks import ProgressBar
from seqattn.training.checkpoint import (
    Checkpoint,
    CheckpointError,
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
)
from seqattn.training.distributed import (
    DistInfo,
    all_reduce_mean,
    all_reduce_sum,
    barrier,
    broadcast_object,
    cleanup,
    get_rank,
    get_world_size,
    init_distributed,
    is_distributed,
    is_main_process,
)
from seqattn.training.tbptt import TBPTTResult, detach_state, tbptt
from seqattn.training.trainer import EarlyStopping, Trainer, TrainerConfig, seed_everything

__all__ = [
    "TBPTTResult",
    "detach_state",
    "tbptt",
    "Checkpoint",
    "CheckpointError",
    "list_checkpoints",
    "load_checkpoint",
    "save_checkpoint",
    "EarlyStopping",
    "Trainer",
    "TrainerConfig",
    "seed_everything",
    "ProgressBar",
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
