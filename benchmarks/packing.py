"""Packed vs padded recurrent training on batches whose lengths vary widely.

The seeds claim 20-40% faster training with packing. Packing (torch.nn's PackedSequence) runs
each step only on the sequences still going, so its saving is the batch's padding fraction;
length bucketing (batches of similar lengths, seqattn.data.BucketBatchSampler) removes most of
that padding before it is ever computed. For an LSTM over batches drawn from an IMDB-like length
distribution (log-normal, median ~175 tokens, capped at --max-len), this measures the median
training-step time of: nn.LSTM on padded batches (full T), nn.LSTM on packed batches, our LSTM
with ``lengths=`` (each --backend), and each of those on length-bucketed batches.

    python benchmarks/packing.py                    # B=32, I=128, H=256, 12 batches
    python benchmarks/packing.py --json out.json --backends fast reference
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
from torch.nn.utils.rnn import pack_padded_sequence

import seqattn.nn as snn
from seqattn.data import BucketBatchSampler, padding_fraction


def _lengths(n: int, max_len: int, seed: int) -> list[int]:
    g = torch.Generator().manual_seed(seed)
    raw = torch.exp(torch.randn(n, generator=g) * 0.75 + 5.16)  # log-normal, median ~174
    return raw.round().clamp(5, max_len).long().tolist()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--batches", type=int, default=12)
    p.add_argument("--input", type=int, default=128)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--max-len", type=int, default=400)
    p.add_argument("--backends", nargs="+", default=["fast"])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", help="write the rows as JSON here")
    args = p.parse_args(argv)
    dev, B = args.device, args.batch
    n = B * args.batches
    lengths = _lengths(n, args.max_len, seed=0)
    random_batches = [list(range(i, i + B)) for i in range(0, n, B)]
    bucketed = BucketBatchSampler(lengths, B, pool_batches=args.batches, seed=0).batches(0)
    torch.manual_seed(0)
    ref = torch.nn.LSTM(args.input, args.hidden, batch_first=True).to(dev)
    ours = snn.LSTM(args.input, args.hidden, batch_first=True).to(dev)
    ours.load_state_dict(ref.state_dict())
    xs = torch.randn(n, args.max_len, args.input, device=dev)

    def batch(idx):
        lens = torch.tensor([lengths[i] for i in idx])
        T = int(lens.max())
        return xs[idx, :T], lens

    def epoch(kind, backend, batches):
        def run():
            for idx in batches:
                x, lens = batch(idx)
                if kind == "torch-padded":
                    out, _ = ref(x)
                    loss = out.sum()  # every step, padded ones included, is computed
                elif kind == "torch-packed":
                    packed = pack_padded_sequence(x, lens, batch_first=True, enforce_sorted=False)
                    out, _ = ref(packed)
                    loss = out.data.sum()
                else:
                    ours.backend = backend
                    out, _ = ours(x, lengths=lens)
                    loss = out.sum()
                loss.backward()

        return run

    kinds = [("torch-padded", None), ("torch-packed", None)]
    kinds += [(f"ours-lengths[{b}]", b) for b in args.backends]
    fns = {}
    for order, batches in (("random", random_batches), ("bucketed", bucketed)):
        for kind, backend in kinds:
            fns[(kind, order)] = epoch(kind, backend, batches)
    for fn in fns.values():  # warm-up (and the extension's first build)
        fn()
    times = {k: [] for k in fns}
    for _ in range(args.repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    base = med[("torch-padded", "random")]
    pad = {
        "random": padding_fraction(lengths, random_batches),
        "bucketed": padding_fraction(lengths, bucketed),
    }
    rows = [
        {"model": kind, "batches": order, "ms_per_batch": 1e3 * med[(kind, order)] / args.batches,
         "vs_torch_padded_random": base / med[(kind, order)], "padding_fraction": pad[order]}
        for kind, _ in kinds for order in ("random", "bucketed")
    ]  # fmt: skip
    facts = {
        "device": platform.processor() or "cpu", "cpu_count": os.cpu_count(),
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "load_average": os.getloadavg(), "batch": B, "input": args.input,
        "hidden": args.hidden, "max_len": args.max_len, "batches": args.batches,
        "median_length": statistics.median(lengths),
        "command": " ".join([sys.executable, *sys.argv]),
    }  # fmt: skip
    print(f"device {facts['device']}, torch {facts['torch']}, threads {facts['threads']}, load "
          f"{facts['load_average'][0]:.2f}; LSTM B={B}, I={args.input}, H={args.hidden}, "
          f"lengths median {facts['median_length']} (5..{args.max_len}); speedup = nn.LSTM "
          f"padded random-batch time / this time")  # fmt: skip
    print("\n| model | batches | padding | ms / training step | speedup |")
    print("|---|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['batches']} | {100 * r['padding_fraction']:.0f}% | "
              f"{r['ms_per_batch']:.1f} | {r['vs_torch_padded_random']:.2f}x |")  # fmt: skip
    if args.json:
        with open(args.json, "w") as f:
            json.dump({**facts, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
