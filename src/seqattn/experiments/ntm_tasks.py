"""Pieces of the ``ntm-recall`` experiment: the tasks' data, the memory initialisations of
Collier & Beel (2018), scoring in bits, and one training run.

Memory initialisations (the NTM's memory contents at t = 0, the same for every sequence):

* ``constant``: every cell 1e-6 (:class:`~seqattn.nn.memory.NTMCell`'s own start state);
* ``learned``: tanh of a trained (M, W) matrix, started as the Glorot-uniform weight of a
  1 -> M*W linear layer (the "learned bias" scheme of Collier & Beel 2018);
* ``random``: a fixed draw from N(0, 0.5^2) truncated to +-1, not trained.

The controller and head weights of one seed are the same under every initialisation, so the
ablation changes the memory's start and nothing else.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from seqattn.data.synthetic.ntm_tasks import associative_recall_batch, priority_sort_batch
from seqattn.experiments.ntm_copy import CopyLSTM, lstm_matching
from seqattn.functional.ntm import memory_read
from seqattn.models.ntm import NTM, NTMConfig
from seqattn.nn.memory.ntm import NTMCell, NTMState
from seqattn.training.loop import LoopState, TrainLoop

__all__ = ["MEMORY_INITS", "TASKS", "MemoryInitCell", "build_model", "scores", "train_run"]

TASKS = ("associative-recall", "priority-sort")
MEMORY_INITS = ("constant", "learned", "random")
_LN2 = math.log(2.0)


class MemoryInitCell(NTMCell):
    """An :class:`NTMCell` (same weights as ``base``) whose memory starts ``learned`` or
    ``random`` instead of constant (see the module docstring)."""

    def __init__(self, base: NTMCell, memory_init: str, generator: torch.Generator) -> None:
        if memory_init not in ("learned", "random"):
            raise ValueError(f"expected memory_init 'learned' or 'random', got {memory_init!r}")
        super().__init__(
            base.input_size, base.controller_size, base.memory_slots, base.memory_width,
            read_heads=base.read_heads, write_heads=base.write_heads,
            shift_range=base.shift_size // 2, eps=base.eps,
        )  # fmt: skip
        self.load_state_dict(base.state_dict())
        self.memory_init_kind = memory_init
        shape = (base.memory_slots, base.memory_width)
        if memory_init == "learned":
            bound = math.sqrt(6.0 / (1 + shape[0] * shape[1]))
            start = (torch.rand(shape, generator=generator) * 2 - 1) * bound
            self.memory_start = nn.Parameter(start)
        else:
            start = torch.randn(shape, generator=generator) * 0.5
            while bool((start.abs() > 1).any()):  # truncate: redraw what falls outside +-1
                far = start.abs() > 1
                start[far] = torch.randn(int(far.sum()), generator=generator) * 0.5
            self.register_buffer("memory_start", start)

    def initial_state(
        self, batch_size: int, device=None, dtype: torch.dtype | None = None
    ) -> NTMState:
        state = super().initial_state(batch_size, device, dtype)
        start = self.memory_start if self.memory_init_kind == "random" else self.memory_start.tanh()
        memory = start.to(state.memory.dtype).expand(batch_size, -1, -1)
        reads = memory_read(memory, state.read_weights).flatten(1)
        return state._replace(memory=memory, reads=reads)


def task_sizes(cfg: Any) -> tuple[int, int]:
    """(input channels, output bits) of ``cfg.task``."""
    width = cfg.recall_width if cfg.task == "associative-recall" else cfg.sort_width
    return width + 2, width


def batch(cfg: Any, size: int, g: torch.Generator, items: int | None = None):
    """One batch of ``cfg.task`` (``items``: the recall episode's item count)."""
    if cfg.task == "associative-recall":
        return associative_recall_batch(size, items, cfg.item_length, cfg.recall_width, g)
    return priority_sort_batch(size, cfg.sort_length, cfg.sort_outputs, cfg.sort_width, g)


def training_batches(cfg: Any, g: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Training batches for ever; recall draws the item count from ``g`` before each batch."""
    while True:
        items = None
        if cfg.task == "associative-recall":
            items = int(torch.randint(cfg.min_items, cfg.max_items + 1, (), generator=g))
        yield batch(cfg, cfg.batch_size, g, items)


def build_model(cfg: Any, kind: str, seed: int) -> nn.Module:
    """``kind`` "lstm" (one layer, about the NTM's parameter count) or "ntm-<memory init>"."""
    n_in, n_out = task_sizes(cfg)
    torch.manual_seed(seed)
    ntm = NTM(NTMConfig(
        input_size=n_in, output_size=n_out, controller_size=cfg.controller_size,
        memory_slots=cfg.memory_slots, memory_width=cfg.memory_width,
        read_heads=cfg.read_heads, write_heads=cfg.write_heads,
    ))  # fmt: skip
    if kind == "lstm":
        n_params = sum(p.numel() for p in ntm.parameters())
        return CopyLSTM(n_in, lstm_matching(n_params, n_in, n_out), n_out)
    init = kind.removeprefix("ntm-")
    if init != "constant":
        ntm.cell = MemoryInitCell(ntm.cell, init, torch.Generator().manual_seed(5_000 + seed))
    return ntm


def answer_logits(model: nn.Module, x: torch.Tensor, n_answer: int, cell=None) -> torch.Tensor:
    """The model's logits on the last ``n_answer`` steps, (n_answer, B, bits); ``cell`` is a
    compiled NTM cell to step with instead of ``model.cell``."""
    if not isinstance(model, NTM):
        return model(x)[-n_answer:]
    step = model.cell if cell is None else cell
    state, outs = model.cell.initial_state(x.shape[1], x.device, x.dtype), []
    for x_t in x[:-n_answer].unbind(0):
        state = step(x_t, state)[1]  # the question: only the state matters
    for x_t in x[-n_answer:].unbind(0):
        out, state = step(x_t, state)
        outs.append(out)
    return model.output(torch.stack(outs))


@torch.no_grad()
def scores(model: nn.Module, batches) -> dict[str, float]:
    """Per sequence: ``cost_bits``, the binary cross-entropy of the answer summed over its bits
    in bits (the paper's "cost per sequence"), and ``wrong_bits``, thresholded outputs that
    differ from the target."""
    cost, wrong, n = 0.0, 0.0, 0
    for x, y in batches:
        logits = answer_logits(model, x, y.shape[0])
        cost += float(F.binary_cross_entropy_with_logits(logits, y, reduction="sum")) / _LN2
        wrong += float(((logits > 0) != (y > 0.5)).sum())
        n += y.shape[1]
    return {"cost_bits": cost / n, "wrong_bits": wrong / n}


class Curve:
    """An ``after_step`` callback: held-out scores every ``eval_every`` sequences, and the first
    number of sequences at which the held-out cost is at most ``threshold_bits``."""

    def __init__(self, cfg: Any, model: nn.Module, held_out) -> None:
        self.cfg, self.model, self.held_out = cfg, model, held_out
        self.seen, self.next_eval, self.reached = 0, cfg.eval_every, None
        self.points: list[dict[str, float]] = []

    def __call__(self, state: LoopState, batch) -> None:
        self.seen += self.cfg.batch_size
        if self.seen < self.next_eval and self.seen < self.cfg.sequences:
            return
        self.next_eval += self.cfg.eval_every
        point = {"seen": self.seen, **scores(self.model, self.held_out)}
        self.points.append(point)
        if self.reached is None and point["cost_bits"] <= self.cfg.threshold_bits:
            self.reached = self.seen


def _optimizer(cfg: Any, model: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.RMSprop(
        model.parameters(), lr=cfg.lr, alpha=cfg.rms_decay, momentum=cfg.momentum
    )


def train_run(cfg: Any, kind: str, seed: int, held_out) -> tuple[dict, nn.Module]:
    """Train one model for ``cfg.sequences`` sequences (RMSProp, values clipped; an update with
    a non-finite loss is skipped and counted). Returns the run's record and the model."""
    model = build_model(cfg, kind, seed)
    cell = None  # the LSTM baseline runs eager
    if cfg.compile and isinstance(model, NTM):
        cell = torch.compile(model.cell, dynamic=False)
    curve = Curve(cfg, model, held_out)

    def loss_fn(b) -> torch.Tensor:
        x, y = b
        return F.binary_cross_entropy_with_logits(answer_logits(model, x, y.shape[0], cell), y)

    loop = TrainLoop(
        model.parameters(), _optimizer(cfg, model), clip_value=cfg.clip_value,
        stop_on_nonfinite=True, max_steps=math.ceil(cfg.sequences / cfg.batch_size),
        after_step=[curve], record_losses=False,
    )  # fmt: skip
    data = training_batches(cfg, torch.Generator().manual_seed(1_000 + seed))
    skipped, started, cpu0 = 0, time.perf_counter(), time.process_time()
    while loop.run(data, loss_fn).stopped_by == "nonfinite":
        skipped += 1  # counted, not hidden
    record = {
        "model": kind, "seed": seed, "params": sum(p.numel() for p in model.parameters()),
        "sequences": curve.seen, "updates": loop.state.step,
        "final_cost_bits": curve.points[-1]["cost_bits"],
        "final_wrong_bits": curve.points[-1]["wrong_bits"],
        "reached_threshold_at": curve.reached, "nonfinite_losses": skipped,
        "wall_s": time.perf_counter() - started, "cpu_s": time.process_time() - cpu0,
        "curve": curve.points,
    }  # fmt: skip
    return record, model
