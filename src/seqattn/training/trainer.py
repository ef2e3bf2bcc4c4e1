"""The epoch trainer: callbacks, exact resume, JSONL metrics, gradient accumulation, DDP.

Its update clips with :func:`seqattn.training.loop.clip_gradients`, as the step loop
(:class:`~seqattn.training.loop.TrainLoop`) that experiments use; the trainer adds
checkpoints, resumption, accumulation and distributed data around that step.

The trainer owns the data order (a permutation per epoch drawn from ``seed + epoch``), so a run
killed at any point and resumed from its last checkpoint replays exactly the same batches
with the same RNG states and ends with bit-identical weights (tested with SIGKILL).

    trainer = Trainer(model, optimizer, loss_fn, train_set, TrainerConfig(max_epochs=5),
                      out_dir="runs/x", collate_fn=collate, val_fn=evaluate)
    trainer.fit(resume=True)

``loss_fn(model, batch) -> (loss, n_items)`` where ``loss`` is the mean over the batch's
``n_items`` items (tokens, examples...); ``val_fn(model) -> {"metric": value}``.
Callbacks implement any of ``on_train_start(trainer)``, ``on_after_backward(trainer)``,
``on_step_end(trainer, logs)``, ``on_epoch_end(trainer, logs)``, ``on_train_end(trainer)``;
:class:`~seqattn.diagnostics.GradientHealthMonitor` and
:class:`~seqattn.training.callbacks.ProgressBar` are two.

Under ``torchrun`` (a process group with more than one process, see
:mod:`seqattn.training.distributed`) the same code trains with DistributedDataParallel:

* ``batch_size`` is the GLOBAL batch. Every rank draws the same permutation; each global batch
  is cut into ``world_size`` contiguous shards, rank r taking shard r, so W processes with
  batch B see exactly the examples one process with batch B sees. ``batch_size`` must be a
  multiple of the world size; a short final batch is split as evenly as it goes, without
  padding or duplicated examples (a rank left with no example runs one with weight 0, because
  every rank must join the gradient all-reduce).
* Each rank's loss is scaled by ``world_size * n_local / n_global`` before backward, so DDP's
  gradient average equals the gradient of the mean over all items of the global batch, as in
  one process, even when ranks hold different numbers of items (tokens).
* Every rank validates with ``val_fn`` on the unwrapped model and the metrics are averaged over
  ranks: evaluating the full validation set on every rank gives its value unchanged, and
  evaluating one equal-sized shard per rank gives the global mean. All ranks thus take the
  same early-stopping decision.
* Only rank 0 writes checkpoints (of the unwrapped model, so they load anywhere),
  ``best.safetensors``, ``metrics.jsonl``, TensorBoard, and logs; a barrier follows every
  checkpoint. On resume, rank 0 picks the checkpoint and every rank loads that one.
* Callbacks run on every rank; ``trainer.is_main`` tells them whether to show anything.

Logged throughput (``examples_per_s``, ``items_per_s``): the global batch over the time of
data, forward, backward and optimizer since the last metric line (no validation, checkpoints
or callbacks).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from seqattn.io import atomic_write, atomic_write_text
from seqattn.training.callbacks import EarlyStopping
from seqattn.training.checkpoint import PREFIX, CheckpointError, load_checkpoint, save_checkpoint
from seqattn.training.distributed import (
    all_reduce_mean,
    all_reduce_sum,
    barrier,
    broadcast_object,
    get_rank,
    get_world_size,
)
from seqattn.training.loop import clip_gradients, seed_everything
from seqattn.training.tensorboard import TensorBoardLogger

__all__ = ["TrainerConfig", "Trainer", "EarlyStopping", "seed_everything"]

log = logging.getLogger("seqattn.training")


@dataclass(frozen=True)
class TrainerConfig:
    """Args:
    max_epochs: epochs to run. max_steps: stop after this many optimizer steps (None: no cap).
    batch_size: examples per batch; under torchrun the global batch, split over the ranks.
    grad_accum: batches per optimizer step.
    clip_norm / clip_value: gradient clipping (torch's utilities) before each step.
    bf16: autocast the forward pass to bfloat16.
    seed: seeds the model init (call :func:`seed_everything` first) and the data order.
    checkpoint_every: optimizer steps between checkpoints (0: at the end of each epoch only).
    keep_last: checkpoints kept. eval_every: optimizer steps between validations (0: per epoch).
    monitor / mode / patience: early stopping on a validation metric (patience None: off).
    log_every: optimizer steps between metric lines. shuffle: reshuffle every epoch.
    tensorboard: also write TensorBoard events to ``out_dir/tensorboard`` (a
    :class:`~seqattn.training.tensorboard.TensorBoardLogger` with ``every=log_every``).
    """

    max_epochs: int = 10
    max_steps: int | None = None
    batch_size: int = 32
    grad_accum: int = 1
    clip_norm: float | None = None
    clip_value: float | None = None
    bf16: bool = False
    seed: int = 0
    checkpoint_every: int = 0
    keep_last: int = 2
    eval_every: int = 0
    monitor: str = "val_loss"
    mode: str = "min"
    patience: int | None = None
    log_every: int = 10
    shuffle: bool = True
    tensorboard: bool = False

    def __post_init__(self) -> None:
        for name in ("max_epochs", "batch_size", "grad_accum", "keep_last", "log_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"expected {name} to be a positive int, got {value!r}")
        if self.mode not in ("min", "max"):
            raise ValueError(f"expected mode 'min' or 'max', got {self.mode!r}")


def _param_device(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


class Trainer:
    """Train ``model`` on ``train_set`` with ``loss_fn``; see the module docstring.

    Args:
        model: the model; under torchrun with more than one process it is wrapped in
            DistributedDataParallel unless it already is one (pass your own wrapper for
            options such as ``find_unused_parameters``).
        optimizer: built over the model's parameters.
        loss_fn: ``loss_fn(model, batch) -> (loss, n_items)``, ``loss`` the mean over the
            batch's ``n_items`` items.
        train_set: indexable examples; ``collate_fn`` turns a list of them into a batch.
        config: a :class:`TrainerConfig`.
        out_dir: where checkpoints, ``metrics.jsonl`` and ``best.safetensors`` go (rank 0).
        val_fn: ``val_fn(unwrapped_model) -> {"name": value}``, run in eval mode, no grad.
        scheduler: stepped after every optimizer step.
        callbacks: objects with any of the hooks named in the module docstring.
        extra_state: JSON-serialisable extras stored in every checkpoint (a vocabulary...).

    Attributes:
        model: what ``loss_fn`` receives (the DDP wrapper when distributed).
        module: the unwrapped model (what is checkpointed and validated).
        rank, world_size, is_main: this process's place in the job (0, 1, True alone).

    Example:
        >>> data = [(torch.randn(3), torch.tensor(0.0)) for _ in range(8)]
        >>> model = torch.nn.Linear(3, 1)
        >>> def loss_fn(m, batch):
        ...     x, y = torch.stack([a for a, _ in batch]), torch.stack([b for _, b in batch])
        ...     return ((m(x).squeeze(-1) - y) ** 2).mean(), len(batch)
        >>> import tempfile
        >>> cfg = TrainerConfig(max_epochs=2, batch_size=4)
        >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
        >>> with tempfile.TemporaryDirectory() as out:
        ...     Trainer(model, opt, loss_fn, data, cfg, out).fit()["step"]
        4
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        loss_fn: Callable[[nn.Module, Any], tuple[torch.Tensor, int]],
        train_set: Sequence,
        config: TrainerConfig,
        out_dir: str | Path,
        collate_fn: Callable[[list], Any] | None = None,
        val_fn: Callable[[nn.Module], dict[str, float]] | None = None,
        scheduler: Any | None = None,
        callbacks: Sequence[Any] = (),
        extra_state: dict[str, Any] | None = None,
        batch_sampler: Any | None = None,
    ) -> None:
        self.rank, self.world_size = get_rank(), get_world_size()
        if batch_sampler is not None and not callable(getattr(batch_sampler, "batches", None)):
            raise TypeError(
                f"expected a batch_sampler with a batches(epoch) -> list[list[int]] method "
                f"(e.g. seqattn.data.BucketBatchSampler), got {type(batch_sampler).__name__}"
            )
        self.batch_sampler = batch_sampler
        self.is_main = self.rank == 0
        if self.world_size > 1 and config.batch_size % self.world_size:
            raise ValueError(
                f"expected batch_size (the global batch) to be a multiple of the world size "
                f"{self.world_size}, got {config.batch_size}"
            )
        self.module = model.module if isinstance(model, DistributedDataParallel) else model
        if self.world_size > 1 and not isinstance(model, DistributedDataParallel):
            device = _param_device(model)
            ids = [device] if device.type == "cuda" else None
            model = DistributedDataParallel(model, device_ids=ids)
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn
        self.train_set, self.config, self.collate_fn = train_set, config, collate_fn
        self.val_fn, self.scheduler, self.callbacks = val_fn, scheduler, list(callbacks)
        self.out_dir = Path(out_dir)
        self.ckpt_dir = self.out_dir / "checkpoints"
        self.extra_state = extra_state or {}
        self.step = 0  # optimizer steps
        self.epoch = 0
        self.batch_in_epoch = 0  # batches of the current epoch already consumed
        self.stopper = (
            EarlyStopping(config.monitor, config.mode, config.patience)
            if config.patience is not None
            else None
        )
        self.last_val: dict[str, float] = {}
        self.should_stop = False
        #: why training ended: "max_epochs", "max_steps", "early_stopping", or what the
        #: callback that set ``should_stop`` wrote here (None: a callback gave no reason)
        self.stop_reason: str | None = None
        self._saved_step: int | None = None
        self._saved_path: Path | None = None
        self._autocast_device = _param_device(self.module).type
        self._reset_window()

    # -- data order ---------------------------------------------------------------------------
    def _order(self, epoch: int) -> list[int]:
        n = len(self.train_set)
        if not self.config.shuffle:
            return list(range(n))
        gen = torch.Generator().manual_seed(self.config.seed * 1_000_003 + epoch)
        return torch.randperm(n, generator=gen).tolist()

    def _shard(self, indices: list[int]) -> tuple[list[int], bool]:
        """This rank's contiguous share of a global batch, and whether it is empty."""
        base, extra = divmod(len(indices), self.world_size)
        lo = self.rank * base + min(self.rank, extra)
        mine = indices[lo : lo + base + (self.rank < extra)]
        # a rank must still run forward/backward to join DDP's all-reduce: one example, weight 0
        return (mine, False) if mine else (indices[:1], True)

    def _index_batches(self, epoch: int) -> list[list[int]]:
        """The global batches of ``epoch`` as index lists (deterministic, so resume can skip)."""
        if self.batch_sampler is not None:
            return [list(b) for b in self.batch_sampler.batches(epoch)]
        order, bs = self._order(epoch), self.config.batch_size
        return [order[i : i + bs] for i in range(0, len(order), bs)]

    def _batches(self, epoch: int, skip: int) -> Iterator[tuple[Any, int, bool]]:
        """Yield (this rank's batch, examples in the global batch, whether its share is empty)."""
        for batch in self._index_batches(epoch)[skip:]:
            indices, empty = batch, False
            n_examples = len(indices)
            if self.world_size > 1:
                indices, empty = self._shard(indices)
            items = [self.train_set[i] for i in indices]
            yield (self.collate_fn(items) if self.collate_fn else items), n_examples, empty

    def batches_per_epoch(self) -> int:
        """Global batches per epoch (the same on every rank)."""
        if self.batch_sampler is not None:
            return len(self.batch_sampler.batches(0))
        return math.ceil(len(self.train_set) / self.config.batch_size)

    def steps_per_epoch(self) -> int:
        """Optimizer steps per epoch (the last step of an epoch may accumulate fewer batches)."""
        return math.ceil(self.batches_per_epoch() / self.config.grad_accum)

    def total_steps(self) -> int:
        """Optimizer steps of a full run (fewer if early stopping ends it)."""
        total = self.config.max_epochs * self.steps_per_epoch()
        return total if self.config.max_steps is None else min(total, self.config.max_steps)

    # -- callbacks, metrics --------------------------------------------------------------------
    def _call(self, hook: str, *args) -> None:
        for cb in self.callbacks:
            fn = getattr(cb, hook, None)
            if fn is not None:
                fn(self, *args) if hook != "on_after_backward" else fn(self)

    def _log(self, record: dict[str, Any]) -> None:
        if not self.is_main:
            return
        with open(self.out_dir / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def _reset_window(self) -> None:
        """Start a new averaging window for the logged loss and throughput."""
        self._win_loss, self._win_items, self._win_examples, self._win_time = 0.0, 0, 0, 0.0

    def _trim_metrics(self) -> None:
        """After a resume, drop metric lines written after the checkpoint by the lost run."""
        path = self.out_dir / "metrics.jsonl"
        if not path.exists():
            return
        kept = [
            ln for ln in path.read_text().splitlines() if ln and json.loads(ln)["step"] <= self.step
        ]
        atomic_write_text(path, "".join(ln + "\n" for ln in kept))

    # -- checkpoints ----------------------------------------------------------------------------
    def save(self) -> Path:
        """Checkpoint the current step (rank 0 writes, every rank waits); returns its folder."""
        if self._saved_step == self.step and self._saved_path is not None:
            return self._saved_path
        if self.is_main:
            state = {
                "epoch": self.epoch,
                "batch_in_epoch": self.batch_in_epoch,
                "stopper": self.stopper.state_dict() if self.stopper else None,
                "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
                "last_val": self.last_val,
                **self.extra_state,
            }
            path = save_checkpoint(self.ckpt_dir, self.step, self.module, self.optimizer, state,
                                   keep_last=self.config.keep_last)  # fmt: skip
        else:
            path = self.ckpt_dir / f"{PREFIX}{self.step:08d}"
        barrier()  # nobody runs ahead (or resumes) before the checkpoint is complete
        self._saved_path, self._saved_step = path, self.step
        return path

    def resume(self) -> bool:
        """Restore the newest good checkpoint; False when there is none.

        Under torchrun rank 0 picks the checkpoint and every rank loads that same folder.
        """
        ckpt, choice = None, (None, None)
        if self.is_main:
            try:
                ckpt = load_checkpoint(self.ckpt_dir)
                choice = (str(ckpt.path), None)
            except CheckpointError as err:
                if any(self.ckpt_dir.glob(f"{PREFIX}*")):
                    choice = (None, f"cannot resume from {self.ckpt_dir}: {err}")
        path, error = broadcast_object(choice)
        if error is not None:
            raise CheckpointError(error) from None
        if path is None:
            return False
        if ckpt is None:
            ckpt = load_checkpoint(Path(path))
        ckpt.restore(self.module, self.optimizer)
        self.step = ckpt.step
        self.epoch = ckpt.state["epoch"]
        self.batch_in_epoch = ckpt.state["batch_in_epoch"]
        self.last_val = ckpt.state.get("last_val", {})
        if self.stopper and ckpt.state.get("stopper"):
            self.stopper.load_state_dict(ckpt.state["stopper"])
        if self.scheduler is not None and ckpt.state.get("scheduler") is not None:
            self.scheduler.load_state_dict(ckpt.state["scheduler"])
        if self.is_main:
            self._trim_metrics()
            log.info("resumed from %s (step %d, epoch %d)", ckpt.path, self.step, self.epoch)
        return True

    # -- the loop -----------------------------------------------------------------------------
    def _validate(self) -> None:
        if self.val_fn is None:
            return
        was_training = self.module.training
        self.module.eval()
        with torch.no_grad():
            metrics = {k: float(v) for k, v in self.val_fn(self.module).items()}
        self.module.train(was_training)
        if self.world_size > 1:
            names = broadcast_object(list(metrics))
            if sorted(names) != sorted(metrics):
                raise ValueError(
                    f"expected val_fn to return the same metrics on every rank, got "
                    f"{sorted(metrics)} on rank {self.rank} and {sorted(names)} on rank 0"
                )
            values = torch.tensor([metrics[k] for k in names], dtype=torch.float64)
            metrics = dict(zip(names, all_reduce_mean(values).tolist(), strict=True))
        self.last_val = metrics
        self._log({"step": self.step, "epoch": self.epoch, **self.last_val})
        if self.stopper is not None:
            improved, stop = self.stopper.update(self.last_val)
            if improved and self.is_main:  # keep the best weights beside the checkpoints
                sd = {k: v.detach().contiguous().cpu() for k, v in self.module.state_dict().items()}
                blob = safetensors.torch.save(sd)
                atomic_write(self.out_dir / "best.safetensors", lambda f: f.write(blob))
            if stop and not self.should_stop:
                self.stop_reason = "early_stopping"
            self.should_stop = self.should_stop or stop

    def _global_loss(self, loss: torch.Tensor, n_local: int) -> tuple[float, int, float]:
        """(sum of loss over the global batch's items, their count, this rank's loss weight)."""
        stats = torch.tensor([float(loss.detach()) * n_local, float(n_local)], dtype=torch.float64)
        total, n_global = all_reduce_sum(stats).tolist()
        # DDP averages gradients over ranks: weighting rank r by W * n_r / N turns that average
        # into the gradient of the mean over all N items, the single-process gradient
        weight = self.world_size * n_local / n_global if n_global > 0 else 0.0
        return total, int(n_global), weight

    def _backward(self, batch: Any, empty: bool, will_step: bool) -> tuple[float, int]:
        """Forward and backward of one batch (scaled for accumulation and ranks)."""
        cfg = self.config
        ddp = isinstance(self.model, DistributedDataParallel)
        # accumulate locally; DDP all-reduces once, in the backward of the last batch
        sync = self.model.no_sync() if ddp and not will_step else nullcontext()
        with sync:
            with torch.autocast(self._autocast_device, dtype=torch.bfloat16, enabled=cfg.bf16):
                loss, n_items = self.loss_fn(self.model, batch)
            if self.world_size > 1:
                n_local = 0 if empty else int(n_items)
                loss_total, n_items, weight = self._global_loss(loss, n_local)
                (loss * weight / cfg.grad_accum).backward()
            else:
                n_items = int(n_items)
                loss_total = float(loss.detach()) * n_items
                (loss / cfg.grad_accum).backward()
        return loss_total, n_items

    def _update(self, mark: float) -> bool:
        """Clip, step, schedule, log, validate, checkpoint; True when training must stop."""
        cfg = self.config
        self._call("on_after_backward")
        clip_gradients(list(self.model.parameters()), cfg.clip_norm, cfg.clip_value)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.scheduler is not None:
            self.scheduler.step()
        self.step += 1
        self._win_time += time.perf_counter() - mark
        busy = max(self._win_time, 1e-9)
        logs = {
            "step": self.step,
            "epoch": self.epoch,
            "loss": self._win_loss / max(self._win_items, 1),
            "lr": self.optimizer.param_groups[0]["lr"],
            "examples_per_s": self._win_examples / busy,
            "items_per_s": self._win_items / busy,
        }
        if self.step % cfg.log_every == 0:
            self._log(logs)
            self._reset_window()
        self._call("on_step_end", logs)
        if cfg.eval_every and self.step % cfg.eval_every == 0:
            self._validate()
        if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
            self.save()
        if cfg.max_steps is not None and self.step >= cfg.max_steps and not self.should_stop:
            self.stop_reason = "max_steps"
            self.should_stop = True
        return self.should_stop

    def _run_epoch(self) -> bool:
        """The rest of the current epoch; True when it ran to its end (not stopped)."""
        cfg, per_epoch, accum = self.config, self.batches_per_epoch(), 0
        mark = time.perf_counter()
        for batch, n_examples, empty in self._batches(self.epoch, self.batch_in_epoch):
            will_step = accum + 1 >= cfg.grad_accum or self.batch_in_epoch + 1 == per_epoch
            loss_total, n_items = self._backward(batch, empty, will_step)
            self.batch_in_epoch += 1
            accum += 1
            self._win_loss += loss_total
            self._win_items += n_items
            self._win_examples += n_examples
            if not will_step:
                continue
            accum = 0
            if self._update(mark):
                return False
            mark = time.perf_counter()  # callbacks, validation, checkpoints are not counted
        return True

    def fit(self, resume: bool = False) -> dict[str, Any]:
        """Train; with ``resume`` continue from the newest good checkpoint if there is one."""
        cfg = self.config
        if self.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        if resume:
            self.resume()
        elif self.is_main and (self.out_dir / "metrics.jsonl").exists():
            (self.out_dir / "metrics.jsonl").unlink()
        if (
            cfg.tensorboard
            and self.is_main
            and not any(isinstance(cb, TensorBoardLogger) for cb in self.callbacks)
        ):
            self.callbacks.append(TensorBoardLogger(self.out_dir / "tensorboard", cfg.log_every))
        self._call("on_train_start")
        self.model.train()
        self._reset_window()
        while self.epoch < cfg.max_epochs and not self.should_stop:
            if self._run_epoch():
                self.epoch += 1
                self.batch_in_epoch = 0
                if not cfg.eval_every:
                    self._validate()
                self._call("on_epoch_end", {"epoch": self.epoch, **self.last_val})
                self.save()
        if not self.should_stop:
            self.stop_reason = "max_epochs"
        self.save()
        self._call("on_train_end")
        return {"step": self.step, "epoch": self.epoch, "val": self.last_val,
                "best": self.stopper.best if self.stopper else None,
                "stopped": self.stop_reason}  # fmt: skip
