"""Training: the step loop (TrainLoop), the epoch trainer, callbacks, checkpoints,
truncated BPTT, multi-process set-up."""

from seqattn.training import distributed as _distributed
from seqattn.training.callbacks import ProgressBar
from seqattn.training.checkpoint import (
    Checkpoint,
    CheckpointError,
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
)
from seqattn.training.distributed import *  # noqa: F403  (its __all__)
from seqattn.training.loop import LoopState, TrainLoop, clip_gradients, optimizer_step
from seqattn.training.tbptt import TBPTTResult, detach_state, tbptt
from seqattn.training.tensorboard import TensorBoardLogger, tracking
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
    "TrainLoop",
    "LoopState",
    "optimizer_step",
    "clip_gradients",
    "EarlyStopping",
    "Trainer",
    "TrainerConfig",
    "seed_everything",
    "ProgressBar",
    "TensorBoardLogger",
    "tracking",
    *_distributed.__all__,
]
