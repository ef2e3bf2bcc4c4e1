"""Training of the ``memn2n`` experiment: ``cfg.repeats`` independent MemN2N models as one batched
ensemble, each with its own initialisation, data order, noise, linear-start switch and learning
rate (Sukhbaatar et al. 2015, section 4.2; the authors' Matlab code for the details).

Shapes: R models (``repeats``), N questions, M memory slots, J words per sentence.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from seqattn.data.babi_tensors import Vectorized, noisy_time
from seqattn.experiments.base import Progress, no_progress
from seqattn.models.memn2n import MemN2N, MemN2NConfig
from seqattn.training.ensemble_sgd import EnsembleSGD
from seqattn.training.loop import TrainLoop

if TYPE_CHECKING:
    from seqattn.experiments.memn2n import Config

__all__ = ["evaluate", "train_ensemble"]


@torch.no_grad()
def evaluate(model: MemN2N, data: Vectorized, linear: torch.Tensor | bool = False, chunk=500):
    """Per-model mean loss (R,), error (R,) and predictions (R, N) on ``data``."""
    losses, preds = [], []
    for s in range(0, len(data), chunk):
        sl = slice(s, s + chunk)
        slots = int(data.mask[sl].sum(-1).max())
        stories, mask = data.stories[sl, :slots], data.mask[sl, :slots]
        out = model(stories, data.query[sl], mask, linear=linear)
        target = data.answer[sl].expand(out.logits.shape[0], -1)
        losses.append(F.cross_entropy(out.logits.transpose(1, 2), target, reduction="none"))
        preds.append(out.logits.argmax(-1))
    loss, pred = torch.cat(losses, 1), torch.cat(preds, 1)
    return loss.mean(1), (pred != data.answer).float().mean(1), pred


class _Phases:
    """Each model's linear-start phase and epoch counts: LS until its validation loss has not
    fallen for ``ls_patience`` epochs (or ``ls_max_epochs``), then the softmax epochs."""

    def __init__(self, cfg: Config) -> None:
        r = cfg.repeats
        self.cfg, self.epochs = cfg, cfg.resolved("epochs")
        self.linear = torch.full((r,), cfg.linear_start)
        self.ls_epochs = torch.zeros(r, dtype=torch.long)
        self.soft_epochs = torch.zeros(r, dtype=torch.long)
        self.best_ls = torch.full((r,), math.inf)
        self.bad = torch.zeros(r, dtype=torch.long)

    def lr(self) -> tuple[torch.Tensor, torch.Tensor]:
        """This epoch's (R,) learning rates (0 for a finished model), and which are finished."""
        cfg, done = self.cfg, self.soft_epochs >= self.epochs
        base = cfg.ls_lr if cfg.linear_start else cfg.lr
        ep = self.soft_epochs + 1  # 1-based epoch of the current phase
        decay = cfg.resolved("lr_decay_every")
        lr = torch.where(self.linear, cfg.ls_lr, base * 0.5 ** (ep // decay).double()).float()
        return lr.masked_fill(done, 0.0), done

    def update(self, epoch: int, lr, done, vloss, verr) -> list[dict[str, Any]]:
        """Count one epoch per unfinished model; returns their records."""
        records = []
        for i in range(len(done)):
            if done[i]:
                continue
            if self.linear[i]:
                self.ls_epochs[i] += 1
                if vloss[i] < self.best_ls[i]:
                    self.best_ls[i], self.bad[i] = vloss[i], 0
                else:
                    self.bad[i] += 1
                if (
                    self.bad[i] >= self.cfg.ls_patience
                    or self.ls_epochs[i] >= self.cfg.ls_max_epochs
                ):
                    self.linear[i] = False  # the validation loss stopped falling: softmax back
            else:
                self.soft_epochs[i] += 1
            records.append({"epoch": epoch, "model": i, "linear": bool(self.linear[i]),
                            "lr": float(lr[i]), "val_loss": float(vloss[i]),
                            "val_error": float(verr[i])})  # fmt: skip
        return records


def _batches(cfg: Config, train: Vectorized, perm: torch.Tensor, gen: torch.Generator):
    """One epoch: each model its own batch of ``perm`` (R, N), empty slots trimmed, noise drawn."""
    bsz = cfg.batch_size
    for step in range(max(1, len(train) // bsz)):
        idx = perm[:, step * bsz : (step + 1) * bsz]  # (R, bsz)
        # slots past the batch's longest story are empty for every example: trim them
        slots = int(train.mask[idx].sum(-1).max())
        mask = train.mask[idx][..., :slots]
        t = noisy_time(mask, cfg.random_noise, gen, slots) if cfg.temporal else None
        yield idx, train.stories[idx][..., :slots, :], mask, t


def train_ensemble(
    cfg: Config, train: Vectorized, val: Vectorized, vocab_size: int, seed: int,
    progress: Progress = no_progress, desc: str = "", deadline: float = math.inf,
    pe_width: int = 0,
) -> tuple[MemN2N, list[dict[str, Any]], dict[str, Any]]:  # fmt: skip
    """Train ``cfg.repeats`` independent models at once; returns the model, per-epoch
    records and per-model facts (LS epochs, epochs trained, final validation loss and error).
    The memory has as many slots as ``train.stories``; ``pe_width`` is J of the
    ``"pe-authors"`` encoding (default: the longest sentence or question + 1). Training stops
    when ``time.time()`` passes ``deadline`` (the loop's deadline; a cut epoch is not counted).

    The steps run through :class:`TrainLoop` (one run per epoch) with :class:`EnsembleSGD`:
    the loss summed over the batch, each model's gradient clipped to its own norm.
    """
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    pe_width = pe_width or max(train.stories.shape[-1], train.query.shape[-1]) + cfg.temporal
    model = MemN2N(MemN2NConfig(
        vocab_size=vocab_size, embed_dim=cfg.resolved("embed_dim"), hops=cfg.hops,
        memory_size=train.stories.shape[1], encoding=cfg.encoding, temporal=cfg.temporal,
        num_models=cfg.repeats, pe_width=pe_width if cfg.encoding == "pe-authors" else 0,
        attend_empty=cfg.attend_empty,
    ))  # fmt: skip
    phases = _Phases(cfg)
    opt = EnsembleSGD(model.parameters(), lr=phases.lr()[0], clip_norm=cfg.clip_norm)
    loop = TrainLoop(model.parameters(), opt, deadline=deadline, record_losses=False)

    def loss_fn(batch) -> torch.Tensor:
        idx, stories, mask, t = batch
        out = model(stories, train.query[idx], mask, t, linear=phases.linear)
        return F.cross_entropy(
            out.logits.reshape(-1, vocab_size), train.answer[idx].reshape(-1), reduction="sum"
        )  # summed over the batch (and the independent models), as the authors' code

    records: list[dict[str, Any]] = []
    total = phases.epochs + (cfg.ls_max_epochs if cfg.linear_start else 0)
    for epoch in progress(range(1, total + 1), desc, total):
        opt.lr, done = phases.lr()
        if bool(done.all()):
            break
        perm = torch.rand(cfg.repeats, len(train), generator=gen).argsort(-1)
        if loop.run(_batches(cfg, train, perm, gen), loss_fn).stopped_by == "deadline":
            break
        vloss, verr, _ = evaluate(model, val, phases.linear)
        records += phases.update(epoch, opt.lr, done, vloss, verr)
    vloss, verr, _ = evaluate(model, val, phases.linear)  # a model stopped by the budget in LS
    facts = {"linear": phases.linear.tolist(), "ls_epochs": phases.ls_epochs.tolist(),
             "epochs": (phases.ls_epochs + phases.soft_epochs).tolist(),
             "val_loss": vloss.tolist(), "val_error": verr.tolist(),
             "complete": bool((phases.soft_epochs >= phases.epochs).all())}  # fmt: skip
    return model, records, facts
