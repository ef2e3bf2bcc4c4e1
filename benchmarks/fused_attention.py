"""Fused C++ attention (seqattn.nn._attention_ext) vs F.sdpa vs the Python efficient_attention.

One process, best of --repeats, fwd and fwd+bwd, float32, B*H = --bh, head dim 64.
Usage: python benchmarks/fused_attention.py --lengths 256 1024 --threads 2 --repeats 3
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from seqattn.functional import efficient_attention
from seqattn.nn import _attention_ext as ext


def _best(fn, repeats):
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lengths", type=int, nargs="+", default=[256, 1024, 4096])
    ap.add_argument("--bh", type=int, default=8)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    assert ext.load() is not None, ext.unavailable_reason()
    fns = {"ours": ext.fused_attention, "sdpa": F.scaled_dot_product_attention,
           "python": efficient_attention}  # fmt: skip
    print("n    pass     ours_ms  sdpa_ms  python_ms  ours/sdpa  python/sdpa")
    for n in args.lengths:
        q, k, v = (torch.randn(1, args.bh, n, args.dim, requires_grad=True) for _ in range(3))
        for name, train in (("fwd", False), ("fwd+bwd", True)):
            ms = {}
            for key, fn in fns.items():

                def step(fn=fn, train=train, q=q, k=k, v=v):
                    with torch.set_grad_enabled(train):
                        out = fn(q, k, v)
                        if train:
                            out.sum().backward()

                ms[key] = 1e3 * _best(step, args.repeats)
            times = f"{ms['ours']:8.1f} {ms['sdpa']:8.1f} {ms['python']:9.1f}"
            ratios = f"{ms['ours'] / ms['sdpa']:9.2f}  {ms['python'] / ms['sdpa']:10.2f}"
            print(f"{n:<5}{name:<9}{times}  {ratios}")


if __name__ == "__main__":
    main()
