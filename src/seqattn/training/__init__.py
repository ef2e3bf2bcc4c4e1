"""Training: the trainer, checkpoints, truncated BPTT."""

from seqattn.training.checkpoint import (
    Checkpoint,
    CheckpointError,
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
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
]
