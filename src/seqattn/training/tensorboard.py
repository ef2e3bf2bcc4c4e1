"""TensorBoard tracking for the :class:`~seqattn.training.Trainer` and every :class:`TrainLoop`.

:class:`TensorBoardLogger` is a trainer callback. Every ``every`` optimizer steps it writes the
training loss, learning rate and throughput, the total gradient norm and the norm of each
layer's gradients (measured by :class:`~seqattn.diagnostics.GradientHealthMonitor`, before
clipping); at each evaluation the validation metrics and, when it has an attention probe,
attention heat maps as images. Tags: ``train/loss``, ``train/lr``, ``grad_norm/total``,
``grad_norm/<layer>``, ``val/<metric>``, ``attention/<i>``.

>>> import torch
>>> from seqattn.training import Trainer, TrainerConfig
>>> model = torch.nn.Linear(3, 1)
>>> data = [(torch.randn(3), torch.randn(1)) for _ in range(16)]
>>> def loss_fn(m, batch):
...     x = torch.stack([a for a, _ in batch]); y = torch.stack([b for _, b in batch])
...     return ((m(x) - y) ** 2).mean(), len(batch)
>>> import tempfile; out = tempfile.mkdtemp()
>>> tb = TensorBoardLogger(out + "/tb", every=1)
>>> _ = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), loss_fn, data,
...             TrainerConfig(max_epochs=1, batch_size=8), out, callbacks=[tb]).fit()
>>> sorted(tb.tags)[:3]
['grad_norm/(model)', 'grad_norm/total', 'train/examples_per_s']

:func:`tracking` makes a logger the ambient one: while it is active, every :class:`TrainLoop`
run (the loop all experiments train through) writes its loss, learning rate and gradient norm
under its own prefix (``<desc>-<n>/loss``), which is how ``seqattn run --tensorboard DIR``
tracks experiments that train many models.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = ["TensorBoardLogger", "active_logger", "layer_norms", "tracking"]

_ACTIVE: contextvars.ContextVar[TensorBoardLogger | None] = contextvars.ContextVar(
    "seqattn_tensorboard", default=None
)


def layer_norms(model: nn.Module) -> dict[str, float]:
    """The L2 norm of each layer's gradients (parameters grouped by their module path; a
    parameter of the model itself is ``(model)``), from a :class:`GradientHealthMonitor`
    report, plus ``total``. Reads the gradients; changes nothing."""
    from seqattn.diagnostics import GradientHealthMonitor

    report = GradientHealthMonitor(model, low=0.0, high=math.inf).check()
    squares: dict[str, float] = {}
    for name, value in report.norms.items():
        layer = name.rpartition(".")[0] or "(model)"
        squares[layer] = squares.get(layer, 0.0) + value * value
    out = {layer: math.sqrt(v) for layer, v in squares.items()}
    out["total"] = report.total_norm
    return out


class TensorBoardLogger:
    """Write a training's scalars, gradient norms and attention images to ``log_dir``.

    Args:
        log_dir: the event-file folder (``tensorboard --logdir`` it).
        every: write the step scalars and gradient norms every this many optimizer steps.
        attention: ``attention(model) -> [image, ...]``, (H, W, 3) arrays in [0, 1] written
            at each evaluation (e.g. :func:`seqattn.viz.attention_image` of a few validation
            examples' attention); the pipelines set one through :meth:`use_attention_probe`
            unless one is given.

    Needs the ``tensorboard`` package (the ``tensorboard`` extra); without it, the first
    write raises ImportError naming the extra.
    """

    def __init__(
        self,
        log_dir: str | Path,
        every: int = 10,
        attention: Callable[[nn.Module], Sequence[Any]] | None = None,
    ) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"expected every as an int >= 1, got {every!r}")
        self.log_dir, self.every, self.attention = Path(log_dir), every, attention
        self.tags: set[str] = set()
        self._writer: Any = None
        self._val_seen: dict[str, float] | None = None
        self._loops: dict[int, str] = {}

    # -- writing ---------------------------------------------------------------------------
    @property
    def writer(self) -> Any:
        if self._writer is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as err:
                raise ImportError(
                    "expected the tensorboard package for TensorBoard logging "
                    "(pip install 'seqattn[tensorboard]'), got: " + str(err)
                ) from None
            self._writer = SummaryWriter(str(self.log_dir))
        return self._writer

    def scalars(self, prefix: str, values: dict[str, Any], step: int) -> None:
        """``prefix/name`` for each finite number of ``values``."""
        for name, value in values.items():
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if number and math.isfinite(value):
                tag = f"{prefix}/{name}"
                self.writer.add_scalar(tag, float(value), step)
                self.tags.add(tag)

    def images(self, images: Sequence[Any], step: int) -> None:
        """Each (H, W, 3) or (H, W, 4) image array (values in [0, 1]) as ``attention/<i>``."""
        for i, image in enumerate(images):
            tag = f"attention/{i}"
            self.writer.add_image(tag, image[..., :3], step, dataformats="HWC")
            self.tags.add(tag)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    # -- Trainer hooks ---------------------------------------------------------------------
    def use_attention_probe(self, probe: Callable[[nn.Module], Sequence[Any]]) -> None:
        """Set the attention probe unless the user gave one (the pipelines call this)."""
        if self.attention is None:
            self.attention = probe

    def on_train_start(self, trainer: Any) -> None:
        self.writer  # noqa: B018 (open it now: a missing package fails before any training)
        self._val_seen = trainer.last_val or None  # a resumed run's last evaluation is logged

    def on_after_backward(self, trainer: Any) -> None:
        if (trainer.step + 1) % self.every == 0:  # the step this backward belongs to
            self.scalars("grad_norm", layer_norms(trainer.module), trainer.step + 1)

    def on_step_end(self, trainer: Any, logs: dict[str, Any]) -> None:
        if trainer.step % self.every == 0:
            values = {k: v for k, v in logs.items() if k not in ("step", "epoch")}
            self.scalars("train", values, trainer.step)
        self._evaluation(trainer)

    def on_epoch_end(self, trainer: Any, logs: dict[str, Any]) -> None:
        self._evaluation(trainer)

    def on_train_end(self, trainer: Any) -> None:
        self._evaluation(trainer)
        self.close()

    def _evaluation(self, trainer: Any) -> None:
        """Log an evaluation once, when the trainer has a new one."""
        val = trainer.last_val
        if not val or val is self._val_seen:
            return
        self._val_seen = val
        self.scalars("val", {k.removeprefix("val_"): v for k, v in val.items()}, trainer.step)
        if self.attention is not None:
            model = trainer.module
            was_training = model.training
            try:
                with torch.no_grad():
                    views = list(self.attention(model))
            finally:
                model.train(was_training)
            self.images(views, trainer.step)

    # -- TrainLoop (ambient) ---------------------------------------------------------------
    def loop_step(self, loop: Any) -> None:
        """Called by :class:`TrainLoop` after each step while this logger is active."""
        state = loop.state
        if state.step % self.every:
            return
        prefix = self._loops.get(id(loop))
        if prefix is None:
            prefix = f"{loop.desc or 'train'}-{len(self._loops)}"
            self._loops[id(loop)] = prefix
        values = {"loss": state.last_loss, "lr": loop.optimizer.param_groups[0]["lr"]}
        if state.last_norm is not None:
            values["grad_norm"] = state.last_norm
        self.scalars(prefix, values, state.step)


def active_logger() -> TensorBoardLogger | None:
    """The logger :func:`tracking` made active in this context, or None."""
    return _ACTIVE.get()


@contextlib.contextmanager
def tracking(logger: TensorBoardLogger | None) -> Iterator[TensorBoardLogger | None]:
    """Make ``logger`` the ambient one for every :class:`TrainLoop` run inside (None: none);
    it is closed on exit."""
    token = _ACTIVE.set(logger)
    try:
        yield logger
    finally:
        _ACTIVE.reset(token)
        if logger is not None:
            logger.close()
