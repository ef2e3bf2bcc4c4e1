"""End-to-end training throughput of `seqattn demo` (the sentiment probe), by recurrent backend.

Trains the demo's models (quick-scale probe, T = 100) for a fixed number of epochs with the
recurrent layers on each backend (``reference``: the readable Python loop, ``fast``: the fused
path, ``native``: torch's own kernel with our parameters) and reports examples/s and the ratio to
``native`` (the torch.nn speed). The same seed gives the same batches for every backend.

    python benchmarks/demo.py
    python benchmarks/demo.py --models lstm:last lstm:attention --epochs 2 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import torch

from seqattn.experiments import sentiment
from seqattn.models import ClassifierConfig, SequenceClassifier


def _throughput(task, spec: str, backend: str, epochs: int, cfg, limit: int = 0) -> float:
    enc, head = sentiment.parse_model(spec)
    torch.manual_seed(0)
    model = SequenceClassifier(ClassifierConfig(
        vocab_size=task.vocab_size, num_classes=2, embed_dim=cfg.embed_dim,
        hidden_size=cfg.hidden_size, encoder=enc, head=head, dropout=cfg.dropout,
        max_length=task.max_length,
    ))  # fmt: skip
    rnn = getattr(model.encoder, "rnn", None)
    if rnn is not None and hasattr(rnn, "backend"):
        rnn.backend = backend
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(0)
    seen, t0 = 0, time.perf_counter()
    model.train()
    for _ in range(epochs):
        for i, (_, x, lengths, y) in enumerate(sentiment._batches(task.train, cfg.batch_size, gen)):
            if limit and i >= limit:
                break
            loss = torch.nn.functional.cross_entropy(model(x, lengths).logits, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            seen += len(y)
    return seen / (time.perf_counter() - t0)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--models", nargs="+", default=["lstm:last", "lstm:concat", "lstm:mean", "lstm:attention"]
    )
    p.add_argument("--backends", nargs="+", default=["native", "fast", "reference"])
    p.add_argument("--length", type=int, default=100)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="cpu", help="cpu only (the demo's machine)")
    p.add_argument("--json", help="write the rows as JSON here")
    args = p.parse_args(argv)
    if args.device != "cpu":
        raise SystemExit(f"expected --device cpu (the demo trains on the CPU), got {args.device}")
    cfg = sentiment.quick(sentiment.Config())
    task = sentiment._probe_task(cfg, args.length)
    rows = []
    for spec in args.models:
        rates = {b: [] for b in args.backends}
        for b in args.backends:  # warm-up: the fast path's one-time extension build, caches
            _throughput(task, spec, b, 1, cfg, limit=2)
        for _ in range(args.repeats):  # interleaved: a burst of load hits every backend alike
            for b in args.backends:
                rates[b].append(_throughput(task, spec, b, args.epochs, cfg))
        med = {b: statistics.median(v) for b, v in rates.items()}
        ref = med.get("native")
        for b in args.backends:
            rows.append({"model": spec, "backend": b, "examples_per_s": med[b],
                         "vs_native": med[b] / ref if ref else None})  # fmt: skip
    facts = {
        "device": platform.processor() or "cpu", "cpu_count": os.cpu_count(),
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "load_average": os.getloadavg(), "T": args.length, "train_size": len(task.train),
        "command": " ".join([sys.executable, *sys.argv]),
    }  # fmt: skip
    print(f"device {facts['device']}, torch {facts['torch']}, threads {facts['threads']}, load "
          f"{facts['load_average'][0]:.2f}; probe T={args.length}, {len(task.train)} training "
          f"examples, batch {cfg.batch_size}, E={cfg.embed_dim}, H={cfg.hidden_size}")  # fmt: skip
    print("\n| model | backend | examples/s | vs native |\n|---|---|---:|---:|")
    for r in rows:
        vs = "-" if r["vs_native"] is None else f"{r['vs_native']:.2f}x"
        print(f"| {r['model']} | {r['backend']} | {r['examples_per_s']:.0f} | {vs} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({**facts, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
