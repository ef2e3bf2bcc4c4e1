"""Training and inference time of the modern recurrent layers against torch.nn.LSTM / GRU and
against their own sequential loops, and the state each keeps per token (issue 24, section 3).

Usage: OMP_NUM_THREADS=1 python benchmarks/modern_recurrent_speed.py
       [--steps 256 1024 4096 16384] [--loop-max 4096] [--batch 1] [--dim 64] [--heads 4]
       [--repeats 2] [--threads 1] [--json out.json]

For every layer and T, in one process (the ratios are what to read: the machine is shared):

- ``train``: forward + backward of ``y.square().mean()`` on one (B, T, D) float32 batch;
- ``infer``: the forward under ``torch.no_grad()``;

for the layer's fastest exact whole-sequence form (``chunked`` for the matrix-state layers and
Mamba, minGRU's ``fused`` scan, sLSTM's only form) and for its ``sequential`` loop (the
definition, the form ``step`` uses), beside ``torch.nn.LSTM(D, D)`` and ``torch.nn.GRU(D, D)``
at the same T. Each time is the best of ``--repeats`` after one warm-up at T = 64. The loops
are only run up to ``--loop-max`` (they take minutes beyond it on a CPU); the cells above are
left empty.

State per token: the bytes of the state tensors each layer returns after T tokens (its whole
recurrent state, or a softmax attention layer's full KV cache, and the StreamingLLM sink + window
cache), divided by T: O(1) state gives bytes/token falling as 1/T, a full KV cache a constant.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch
from torch import nn

from seqattn.nn import (
    MLSTM,
    SLSTM,
    SSD,
    CausalLinearAttention,
    DeltaNet,
    GatedLinearAttention,
    Mamba,
    MinGRU,
    MultiHeadAttention,
)


def _layers(dim: int, heads: int) -> dict[str, tuple[nn.Module, str | None, str | None]]:
    """name -> (layer, fast form, loop form); None: the layer's only form (no ``mode``)."""
    torch.manual_seed(0)
    return {
        "torch.nn.LSTM": (nn.LSTM(dim, dim, batch_first=True), None, None),
        "torch.nn.GRU": (nn.GRU(dim, dim, batch_first=True), None, None),
        "MinGRU": (MinGRU(dim, dim), "fused", "sequential"),
        "CausalLinearAttention": (CausalLinearAttention(dim, heads), "chunked", "sequential"),
        "SSD": (SSD(dim, heads, state_size=16), "chunked", "sequential"),
        "Mamba": (Mamba(dim, state_size=16), "chunked", "sequential"),
        "MLSTM": (MLSTM(dim, heads), "chunked", "sequential"),
        "SLSTM": (SLSTM(dim, dim, heads), None, None),
        "DeltaNet": (DeltaNet(dim, heads), "chunked", "sequential"),
        "GatedLinearAttention": (GatedLinearAttention(dim, heads), "chunked", "sequential"),
    }


def _call(layer: nn.Module, x: torch.Tensor, form: str | None):
    if form is None:
        return layer(x)
    if isinstance(layer, MinGRU):  # minGRU's form is an attribute, not a forward argument
        layer.mode = form
        return layer(x)
    return layer(x, mode=form)


def _best_ms(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return 1e3 * best


def _time(layer, form, B, T, D, repeats) -> tuple[float, float]:
    """(train ms, infer ms) of ``form`` at T."""
    x = torch.randn(B, T, D)

    def train():
        layer.zero_grad(set_to_none=True)
        _call(layer, x, form)[0].square().mean().backward()

    def infer():
        with torch.no_grad():
            _call(layer, x, form)

    train(), infer()  # warm-up at this T (allocations, the fused kernel's first call)
    return _best_ms(train, repeats), _best_ms(infer, repeats)


def _state_bytes(state) -> int:
    if isinstance(state, torch.Tensor):
        return state.numel() * state.element_size()
    if isinstance(state, tuple | list):
        return sum(_state_bytes(s) for s in state)
    return 0  # ints (KVCache.seen, sink, window)


@torch.no_grad()
def state_sizes(dim: int, heads: int, steps: list[int], B: int = 1) -> list[dict]:
    """Bytes of the state each layer holds after T tokens (from the tensors it returns)."""
    rows = []
    mha = MultiHeadAttention(dim, heads, batch_first=True).eval()
    for name, (layer, form, _) in _layers(dim, heads).items():
        row = {"layer": name}
        for T in steps:
            out = _call(layer, torch.randn(B, T, dim), form)
            row[T] = _state_bytes(out[1])
        rows.append(row)
    caches = [("softmax attention, full KV cache", {}),
              ("softmax attention, sink 4 + window 1024", {"sink": 4, "window": 1024})]  # fmt: skip
    for name, kw in caches:
        row = {"layer": name}
        for T in steps:
            _, cache = mha.stream(torch.randn(B, T, dim), mha.init_state(B, **kw))
            row[T] = _state_bytes(cache)
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, nargs="+", default=[256, 1024, 4096, 16384])
    parser.add_argument("--loop-max", type=int, default=4096)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    B, D = args.batch, args.dim
    load0, started = os.getloadavg()[0], time.perf_counter()
    print(f"B = {B}, D = {D}, {args.heads} heads, float32, threads {args.threads}, "
          f"best of {args.repeats}; torch {torch.__version__}")  # fmt: skip
    results = []
    for name, (layer, fast, loop) in _layers(D, args.heads).items():
        for T in args.steps:
            row = {"layer": name, "form": fast or "only", "T": T}
            row["train_ms"], row["infer_ms"] = _time(layer, fast, B, T, D, args.repeats)
            if loop is not None and args.loop_max >= T:
                row["loop_train_ms"], row["loop_infer_ms"] = _time(
                    layer, loop, B, T, D, args.repeats
                )
            results.append(row)
            print(json.dumps(row), flush=True)
    base = {(r["layer"], r["T"]): r for r in results if r["layer"].startswith("torch.nn")}
    print("\n| layer (form) | T | train ms | infer ms | train / LSTM | train / GRU | "
          "infer / LSTM | loop train / fast | loop infer / fast |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        lstm, gru = base[("torch.nn.LSTM", r["T"])], base[("torch.nn.GRU", r["T"])]
        loop_t = r.get("loop_train_ms")
        loop_cells = (
            f"{loop_t / r['train_ms']:.1f} | {r['loop_infer_ms'] / r['infer_ms']:.1f}"
            if loop_t
            else "- | -"
        )
        print(f"| {r['layer']} ({r['form']}) | {r['T']} | {r['train_ms']:.1f} | "
              f"{r['infer_ms']:.1f} | {r['train_ms'] / lstm['train_ms']:.2f} | "
              f"{r['train_ms'] / gru['train_ms']:.2f} | {r['infer_ms'] / lstm['infer_ms']:.2f} | "
              f"{loop_cells} |")  # fmt: skip
    sizes = state_sizes(D, args.heads, args.steps, B)
    print("\nstate bytes per token (bytes of the state tensors after T tokens / T), B = 1:")
    print("| layer | state bytes at any T (recurrent) or at the largest T | "
          + " | ".join(f"bytes/token T={T}" for T in args.steps) + " |")  # fmt: skip
    print("|---|---|" + "---|" * len(args.steps))
    for s in sizes:
        per = " | ".join(f"{s[T] / T / B:.2f}" for T in args.steps)
        print(f"| {s['layer']} | {s[args.steps[-1]]:,} | {per} |")
    wall = time.perf_counter() - started
    print(f"\nload average {load0:.2f} -> {os.getloadavg()[0]:.2f}; {wall:.0f} s wall")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "timings": results, "state_bytes": sizes}, f)


if __name__ == "__main__":
    main()
