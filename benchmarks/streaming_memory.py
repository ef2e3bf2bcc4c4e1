"""Peak memory of a long stream through the streaming state API (issue 24, section 2).

A stream of N random tokens (batch 1, float32, no grad) goes through

* ``lstm-step``: a 2-layer LSTM(16, 32), one ``step(x_t, state)`` per token;
* ``lstm-chunk``: the same LSTM, ``forward(chunk, state)`` on chunks of ``--chunk`` tokens
  (the batched step loop that makes 1M tokens affordable in Python);
* ``sink-window-step``: MultiHeadAttention(16, 4) as causal self-attention with StreamingLLM's
  cache (``--sink`` first + ``--window`` last tokens), one ``step`` per token;
* ``sink-window-chunk``: the same, ``stream(chunk, cache)`` on chunks;
* ``full-cache-step``: the same attention keeping every token (the O(N) contrast; slow at
  large N since each step copies the whole cache).

Each (mode, N) runs in a fresh child process, which reports its peak RSS
(``resource.getrusage(...).ru_maxrss``), the RSS peak before the stream (imports, model,
one warm-up step), the state's size in bytes at the end, and the wall time of the stream.
A bounded state gives the same peak at every N. Prints a Markdown table.

    python benchmarks/streaming_memory.py       # N = 10k, 100k, 1M (step modes to --step-max)
    python benchmarks/streaming_memory.py --modes lstm-chunk --lengths 10000 100000
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time

import torch

from seqattn.nn import LSTM, MultiHeadAttention

MODES = ("lstm-step", "lstm-chunk", "sink-window-step", "sink-window-chunk", "full-cache-step")
WIDTH = 16


def _state_bytes(state) -> int:
    items = state if isinstance(state, tuple) else (state,)
    return sum(s.numel() * s.element_size() for s in items if isinstance(s, torch.Tensor))


def _rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def child(mode: str, steps: int, chunk: int, sink: int, window: int) -> dict:
    """Run one stream in this process; returns the measurements."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    cache = {"sink": sink, "window": window} if mode.startswith("sink") else {}
    layer = (
        LSTM(WIDTH, 32, num_layers=2) if mode.startswith("lstm") else MultiHeadAttention(WIDTH, 4)
    )
    state = layer.init_state(1, **cache)
    per_call = 1 if mode.endswith("step") else chunk
    if mode.endswith("step"):
        call = layer.step
    else:
        call = layer.stream if isinstance(layer, MultiHeadAttention) else layer
    # batch 1, time-major: step takes (1, D), the chunked forms (chunk, 1, D)
    shape = (1, WIDTH) if per_call == 1 else (per_call, 1, WIDTH)
    inputs = torch.randn(64, *shape)  # recycled: the stream's input costs no memory
    with torch.no_grad():
        call(inputs[0], layer.init_state(1, **cache))  # warm-up
        before = _rss_kib()
        start = time.perf_counter()
        for i in range(steps // per_call):
            _, state = call(inputs[i % 64], state)
        seconds = time.perf_counter() - start
    return {
        "mode": mode, "steps": steps, "chunk": per_call, "seconds": seconds,
        "rss_before_mib": before / 1024, "peak_rss_mib": _rss_kib() / 1024,
        "state_bytes": _state_bytes(state),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    p.add_argument("--lengths", nargs="+", type=int, default=[10_000, 100_000, 1_000_000])
    p.add_argument("--chunk", type=int, default=64)
    p.add_argument("--sink", type=int, default=4)
    p.add_argument("--window", type=int, default=252)
    p.add_argument("--step-max", type=int, default=100_000,
                   help="longest stream of the one-step-per-token modes")  # fmt: skip
    p.add_argument("--full-cache-max", type=int, default=10_000,
                   help="longest stream of full-cache-step (a step copies the cache)")  # fmt: skip
    p.add_argument("--json", help="also write the rows here")
    p.add_argument("--child", nargs=2, metavar=("MODE", "N"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        row = child(args.child[0], int(args.child[1]), args.chunk, args.sink, args.window)
        print(json.dumps(row))
        return
    rows = []
    for mode in args.modes:
        for n in args.lengths:
            if n > (args.full_cache_max if mode == "full-cache-step" else args.step_max) and (
                mode.endswith("step")
            ):
                continue
            cmd = [sys.executable, __file__, "--child", mode, str(n), "--chunk", str(args.chunk),
                   "--sink", str(args.sink), "--window", str(args.window)]  # fmt: skip
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
            print(f"# {mode} N={n}: {rows[-1]['seconds']:.1f} s", file=sys.stderr, flush=True)
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, 1 thread")
    print("| mode | N | chunk | peak RSS (MiB) | RSS before the stream | state (bytes) | time (s) "
          "| tokens/s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['mode']} | {r['steps']:,} | {r['chunk']} | {r['peak_rss_mib']:.1f} | "
              f"{r['rss_before_mib']:.1f} | {r['state_bytes']:,} | {r['seconds']:.1f} | "
              f"{r['steps'] / r['seconds']:,.0f} |")  # fmt: skip
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
