"""A tagging run for the DDP-equivalence test.

Under ``torchrun --nproc_per_node=2 _ddp_script.py OUT`` it trains in two phases: 4 steps, then
a fresh model resumed from the checkpoint to the end. ``run_single(OUT)`` (imported by the test)
trains the same task uninterrupted in one process. With global batch 8 both must end with the
same float64 weights.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from seqattn.io import atomic_write_json
from seqattn.nn import GRU
from seqattn.training import (
    Trainer,
    TrainerConfig,
    cleanup,
    init_distributed,
    seed_everything,
)

N_TRAIN, N_VAL, T = 41, 12, 6  # 41 = 5 global batches of 8, then 1 (rank 1's share is empty)
CONFIG = dict(max_epochs=3, batch_size=8, grad_accum=2, checkpoint_every=2, log_every=1,
              seed=7, patience=10)  # fmt: skip


class Tagger(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = GRU(4, 8, batch_first=True)
        self.head = torch.nn.Linear(8, 3)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out)  # (B, T, 3)


def make_data(n: int, seed: int) -> list:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, T, 4, generator=gen, dtype=torch.float64)
    y = (x[..., 0] > 0).long() + (x[..., 1] > 0.5).long()
    lengths = torch.randint(1, T + 1, (n,), generator=gen)  # ranks hold different token counts
    return list(zip(x, y, lengths, strict=True))


def collate(items):
    return tuple(torch.stack(parts) for parts in zip(*items, strict=True))


def loss_fn(model, batch):
    x, y, lengths = batch
    mask = torch.arange(T) < lengths[:, None]  # (B, T)
    logits = model(x)
    return F.cross_entropy(logits[mask], y[mask]), int(mask.sum())


VAL = make_data(N_VAL, 321)


def val_fn(model):
    x, y, lengths = collate(VAL)
    mask = torch.arange(T) < lengths[:, None]
    logits = model(x)[mask]
    return {"val_loss": F.cross_entropy(logits, y[mask]).item(),
            "val_acc": (logits.argmax(-1) == y[mask]).double().mean().item()}  # fmt: skip


def build(model_seed: int, out: Path, **overrides) -> Trainer:
    seed_everything(model_seed)
    model = Tagger().double()
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    cfg = TrainerConfig(**{**CONFIG, **overrides})
    return Trainer(model, opt, loss_fn, make_data(N_TRAIN, 123), cfg, out, collate_fn=collate,
                   val_fn=val_fn)  # fmt: skip


def run_single(out: Path) -> None:
    build(0, out).fit()


def main() -> None:
    out = Path(sys.argv[1])
    torch.set_num_threads(1)
    info = init_distributed()
    report = {"rank": info.rank, "world_size": info.world_size, "backend": info.backend,
              "is_main": info.is_main}  # fmt: skip
    try:
        build(0, out / "bad", batch_size=9)
    except ValueError as err:
        report["batch_error"] = str(err)
    # phase 1: 4 steps; rank 1 gets a folder of its own, which must stay unwritten
    phase1 = out / "run" if info.is_main else out / f"rank{info.rank}-private"
    build(0, phase1, max_steps=4).fit()
    # phase 2: a differently initialised model, resumed from rank 0's checkpoint
    result = build(99, out / "run").fit(resume=True)
    report["step"] = result["step"]
    atomic_write_json(out / f"report-rank{info.rank}.json", report)
    cleanup()


if __name__ == "__main__":
    main()
