"""A small training run for the crash/resume test: python _train_script.py OUT [--resume]."""

import sys
import time

import torch

from seqattn.nn import GRU
from seqattn.training import Trainer, TrainerConfig, seed_everything


class Classifier(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = GRU(4, 16, batch_first=True)
        self.drop = torch.nn.Dropout(0.3)  # randomness that a resume must replay exactly
        self.head = torch.nn.Linear(16, 2)

    def forward(self, x):
        _, h = self.rnn(x)
        return self.head(self.drop(h[-1]))


class Slow:
    def __init__(self, delay):
        self.delay = delay

    def on_step_end(self, trainer, logs):
        time.sleep(self.delay)


def main():
    out, resume = sys.argv[1], "--resume" in sys.argv
    delay = float(sys.argv[sys.argv.index("--delay") + 1]) if "--delay" in sys.argv else 0.0
    torch.set_num_threads(1)
    seed_everything(0)
    gen = torch.Generator().manual_seed(123)
    x = torch.randn(96, 7, 4, generator=gen)
    y = (x[:, 0, 0] > 0).long()
    data = list(zip(x, y, strict=True))
    model = Classifier()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=20, gamma=0.7)

    def loss_fn(m, batch):
        xs, ys = batch
        return torch.nn.functional.cross_entropy(m(xs), ys), len(ys)

    def collate(items):
        return torch.stack([a for a, _ in items]), torch.stack([b for _, b in items])

    cfg = TrainerConfig(max_epochs=4, batch_size=8, checkpoint_every=3, log_every=1, seed=7)
    trainer = Trainer(model, opt, loss_fn, data, cfg, out, collate_fn=collate, scheduler=sched,
                      callbacks=[Slow(delay)])  # fmt: skip
    trainer.fit(resume=resume)


if __name__ == "__main__":
    main()
