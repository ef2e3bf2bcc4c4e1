"""A generic training loop with callbacks, exact resume and JSONL metrics.

The trainer owns the data order (a permutation per epoch drawn from ``seed + epoch``), so a run
killed at any point and resumed from its last checkpoint replays exactly the same batches
with the same RNG states and ends with bit-identical weights (tested with SIGKILL).

    trainer = Trainer(model, optimizer, loss_fn, train_set, TrainerConfig(max_epochs=5),
                      out_dir="runs/x", collate_fn=collate, val_fn=evaluate)
    trainer.fit(resume=True)

``loss_fn(model, batch) -> (loss, n_items)``; ``val_fn(model) -> {"metric": value}``.
Callbacks implement any of ``on_train_start(trainer)``, ``on_after_backward(trainer)``,
``on_step_end(trainer, logs)``, ``on_epoch_end(trainer, logs)``, ``on_train_end(trainer)``;
:class:`~seqattn.diagnostics.GradientHealthMonitor` is one.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.torch
import torch
from torch import nn

from seqattn.io import atomic_write, atomic_write_text
from seqattn.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

__all__ = ["TrainerConfig", "Trainer", "EarlyStopping", "seed_everything"]

log = logging.getLogger("seqattn.training")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass(frozen=True)
class TrainerConfig:
    """Args:
    max_epochs: epochs to run. max_steps: stop after this many optimizer steps (None: no cap).
    batch_size: examples per batch. grad_accum: batches per optimizer step.
    clip_norm / clip_value: gradient clipping (torch's utilities) before each step.
    bf16: autocast the forward pass to bfloat16.
    seed: seeds the model init (call :func:`seed_everything` first) and the data order.
    checkpoint_every: optimizer steps between checkpoints (0: at the end of each epoch only).
    keep_last: checkpoints kept. eval_every: optimizer steps between validations (0: per epoch).
    monitor / mode / patience: early stopping on a validation metric (patience None: off).
    log_every: optimizer steps between metric lines. shuffle: reshuffle every epoch.
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


class EarlyStopping:
    """Stop when the monitored metric has not improved for ``patience`` evaluations."""

    def __init__(self, monitor: str, mode: str = "min", patience: int = 3) -> None:
        self.monitor, self.mode, self.patience = monitor, mode, patience
        self.best: float | None = None
        self.bad = 0

    def update(self, metrics: dict[str, float]) -> tuple[bool, bool]:
        """Return (improved, stop)."""
        if self.monitor not in metrics:
            raise KeyError(
                f"early stopping monitors {self.monitor!r}, but validation returned "
                f"{sorted(metrics)}"
            )
        value = float(metrics[self.monitor])
        better = self.best is None or (
            value < self.best if self.mode == "min" else value > self.best
        )
        if better:
            self.best, self.bad = value, 0
        else:
            self.bad += 1
        return better, self.bad >= self.patience

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "bad": self.bad}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.bad = state["best"], state["bad"]


class Trainer:
    """Train ``model`` on ``train_set`` with ``loss_fn``; see the module docstring."""

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
    ) -> None:
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
        self._tb = None
        self._saved_step: int | None = None
        self._saved_path: Path | None = None

    # -- data order ---------------------------------------------------------------------------
    def _order(self, epoch: int) -> list[int]:
        n = len(self.train_set)
        if not self.config.shuffle:
            return list(range(n))
        gen = torch.Generator().manual_seed(self.config.seed * 1_000_003 + epoch)
        return torch.randperm(n, generator=gen).tolist()

    def _batches(self, epoch: int, skip: int):
        order, bs = self._order(epoch), self.config.batch_size
        for start in range(skip * bs, len(order), bs):
            items = [self.train_set[i] for i in order[start : start + bs]]
            yield self.collate_fn(items) if self.collate_fn else items

    def batches_per_epoch(self) -> int:
        return math.ceil(len(self.train_set) / self.config.batch_size)

    # -- callbacks, metrics --------------------------------------------------------------------
    def _call(self, hook: str, *args) -> None:
        for cb in self.callbacks:
            fn = getattr(cb, hook, None)
            if fn is not None:
                fn(self, *args) if hook != "on_after_backward" else fn(self)

    def _log(self, record: dict[str, Any]) -> None:
        with open(self.out_dir / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if self._tb is not None:
            for k, v in record.items():
                if isinstance(v, int | float) and k not in ("step", "epoch"):
                    self._tb.add_scalar(k, v, record["step"])

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
        if self._saved_step == self.step and self._saved_path is not None:
            return self._saved_path
        state = {
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "stopper": self.stopper.state_dict() if self.stopper else None,
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "last_val": self.last_val,
            **self.extra_state,
        }
        self._saved_path = save_checkpoint(self.ckpt_dir, self.step, self.model, self.optimizer,
                                           state, keep_last=self.config.keep_last)  # fmt: skip
        self._saved_step = self.step
        return self._saved_path

    def resume(self) -> bool:
        """Restore the newest good checkpoint; False when there is none."""
        try:
            ckpt = load_checkpoint(self.ckpt_dir)
        except CheckpointError as err:
            if not any(self.ckpt_dir.glob("step-*")):
                return False
            raise CheckpointError(f"cannot resume from {self.ckpt_dir}: {err}") from None
        ckpt.restore(self.model, self.optimizer)
        self.step = ckpt.step
        self.epoch = ckpt.state["epoch"]
        self.batch_in_epoch = ckpt.state["batch_in_epoch"]
        self.last_val = ckpt.state.get("last_val", {})
        if self.stopper and ckpt.state.get("stopper"):
            self.stopper.load_state_dict(ckpt.state["stopper"])
        if self.scheduler is not None and ckpt.state.get("scheduler") is not None:
            self.scheduler.load_state_dict(ckpt.state["scheduler"])
        self._trim_metrics()
        log.info("resumed from %s (step %d, epoch %d)", ckpt.path, self.step, self.epoch)
        return True

    # -- the loop -----------------------------------------------------------------------------
    def _validate(self) -> None:
        if self.val_fn is None:
            return
        was_training = self.model.training
        self.model.eval()
        with torch.no_grad():
            self.last_val = {k: float(v) for k, v in self.val_fn(self.model).items()}
        self.model.train(was_training)
        self._log({"step": self.step, "epoch": self.epoch, **self.last_val})
        if self.stopper is not None:
            improved, stop = self.stopper.update(self.last_val)
            if improved:  # keep the best weights beside the checkpoints
                sd = {k: v.detach().contiguous().cpu() for k, v in self.model.state_dict().items()}
                blob = safetensors.torch.save(sd)
                atomic_write(self.out_dir / "best.safetensors", lambda f: f.write(blob))
            self.should_stop = self.should_stop or stop

    def fit(self, resume: bool = False) -> dict[str, Any]:
        """Train; with ``resume`` continue from the newest good checkpoint if there is one."""
        cfg = self.config
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if resume:
            self.resume()
        elif (self.out_dir / "metrics.jsonl").exists():
            (self.out_dir / "metrics.jsonl").unlink()
        if cfg.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(self.out_dir / "tensorboard"))
            except ImportError:
                log.warning("tensorboard is not installed; metrics go to metrics.jsonl only")
        self._call("on_train_start")
        self.model.train()
        started, items_seen, loss_sum, loss_items = time.perf_counter(), 0, 0.0, 0
        per_epoch = self.batches_per_epoch()
        while self.epoch < cfg.max_epochs and not self.should_stop:
            accum = 0
            for batch in self._batches(self.epoch, self.batch_in_epoch):
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16):
                    loss, n_items = self.loss_fn(self.model, batch)
                (loss / cfg.grad_accum).backward()
                self.batch_in_epoch += 1
                accum += 1
                items_seen += int(n_items)
                loss_sum += float(loss.detach()) * int(n_items)
                loss_items += int(n_items)
                last_batch = self.batch_in_epoch == per_epoch
                if accum < cfg.grad_accum and not last_batch:
                    continue
                accum = 0
                self._call("on_after_backward")
                if cfg.clip_norm is not None:
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.clip_norm)
                if cfg.clip_value is not None:
                    torch.nn.utils.clip_grad_value_(self.model.parameters(), cfg.clip_value)
                self.optimizer.step()
                self.optimizer.zero_grad(set_to_none=True)
                if self.scheduler is not None:
                    self.scheduler.step()
                self.step += 1
                elapsed = max(time.perf_counter() - started, 1e-9)
                logs = {
                    "step": self.step,
                    "epoch": self.epoch,
                    "loss": loss_sum / max(loss_items, 1),
                    "lr": self.optimizer.param_groups[0]["lr"],
                    "items_per_s": items_seen / elapsed,
                }
                if self.step % cfg.log_every == 0:
                    self._log(logs)
                    loss_sum, loss_items = 0.0, 0
                self._call("on_step_end", logs)
                if cfg.eval_every and self.step % cfg.eval_every == 0:
                    self._validate()
                if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                    self.save()
                if (cfg.max_steps is not None and self.step >= cfg.max_steps) or self.should_stop:
                    self.should_stop = True
                    break
            else:
                self.epoch += 1
                self.batch_in_epoch = 0
                if not cfg.eval_every:
                    self._validate()
                self._call("on_epoch_end", {"epoch": self.epoch, **self.last_val})
                self.save()
        self.save()
        self._call("on_train_end")
        if self._tb is not None:
            self._tb.close()
        return {"step": self.step, "epoch": self.epoch, "val": self.last_val,
                "best": self.stopper.best if self.stopper else None}  # fmt: skip
