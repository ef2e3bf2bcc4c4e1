"""A roofline for every hot path: achieved GFLOP/s and GB/s against the machine's measured peaks.

Machine peaks (measured here, float32): the matmul peak is the best of 15 runs of a square
``torch.mm`` into a preallocated output (n = ``--peak-n``) and, on the CPU, of 15 of oneDNN's
linear (the kernel torch's LSTM and our fast recurrent path call), whichever is faster; the
copy bandwidth is the best of 15 ``dst.copy_(src)`` of ``--copy-mib`` MiB (bytes read + bytes
written). The ridge point is peak / bandwidth (FLOP per byte).

Each hot path runs one forward (no_grad) at the benchmark sizes; its work is counted, not
measured:

* FLOPs: the matmul FLOPs (RNN/LSTM/GRU: 2·T·B·G·hidden·(I + hidden), G = 1/4/3 gates; minGRU:
  its two input projections 2·T·B·I·2·hidden plus 5·T·B·hidden for the scan; attention:
  4·B·H·n·keys·Dh with keys = n, or 2w + 1 for the banded one);
* bytes: the compulsory traffic, every input, output and weight once (a lower bound: the
  recurrent layers re-read their weights every step, from cache at these sizes).

Arithmetic intensity AI = FLOPs / bytes; a path is compute-bound when AI > ridge, memory-bound
otherwise; "of roof" is the achieved GFLOP/s over the attainable min(peak, AI · bandwidth).

    python benchmarks/roofline.py
    python benchmarks/roofline.py --paths lstm attention-sdpa --json roofline.json
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch
import torch.nn.functional as F

import seqattn.nn as snn
from seqattn.functional import efficient_attention, sliding_window_attention

GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _times(fn, repeats: int, device: str) -> list[float]:
    """Wall seconds of ``repeats`` runs of ``fn`` after one warm-up."""
    fn()
    out = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        out.append(time.perf_counter() - start)
    return out


def machine_peaks(args) -> dict:
    """Matmul GFLOP/s (best of 15) and copy GB/s (best of 15) on ``args.device``."""
    n, dev = args.peak_n, args.device
    a, b = torch.randn(n, n, device=dev), torch.randn(n, n, device=dev)
    c = torch.empty(n, n, device=dev)
    mm = min(_times(lambda: torch.mm(a, b, out=c), 15, dev))
    if dev == "cpu" and hasattr(torch.ops.mkldnn, "_linear_pointwise"):  # oneDNN (torch's LSTM)
        linear = torch.ops.mkldnn._linear_pointwise
        mm = min(mm, *_times(lambda: linear(a, b, None, "none", [], ""), 15, dev))
    count = args.copy_mib * 2**20 // 4
    src, dst = torch.randn(count, device=dev), torch.empty(count, device=dev)
    copy = min(_times(lambda: dst.copy_(src), 15, dev))
    return {"matmul_gflops": 2 * n**3 / mm / 1e9, "copy_gbs": 2 * count * 4 / copy / 1e9}


def _recurrent(mode: str, impl: str, args):
    t, b, i, h = args.rnn_steps, args.rnn_batch, args.rnn_input, args.rnn_hidden
    torch.manual_seed(0)
    layer = getattr(torch.nn, mode)(i, h) if impl == "torch" else getattr(snn, mode)(i, h)
    layer = layer.to(args.device)
    x = torch.randn(t, b, i, device=args.device)
    g = GATES[mode]
    flops = 2.0 * t * b * g * h * (i + h)
    nbytes = 4.0 * (t * b * i + t * b * h + g * h * (i + h + 2))
    return (lambda: layer(x)), flops, nbytes, f"T={t} B={b} I={i} hidden={h}"


def _mingru(args):
    t, b, i, h = args.scan_steps, args.scan_batch, args.rnn_input, args.rnn_hidden
    torch.manual_seed(0)
    layer = snn.MinGRU(i, h, mode="fused").to(args.device)
    x = torch.randn(b, t, i, device=args.device)
    flops = 2.0 * t * b * i * 2 * h + 5.0 * t * b * h
    nbytes = 4.0 * (t * b * i + t * b * h + 2 * h * (i + 1))
    return (lambda: layer(x)), flops, nbytes, f"T={t} B={b} I={i} hidden={h}"


def _attention(impl: str, args):
    n, bh, d, w = args.attn_len, args.attn_bh, args.head_dim, args.window
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, bh, n, d, device=args.device) for _ in range(3))
    fns = {
        "sdpa": lambda: F.scaled_dot_product_attention(q, k, v),
        "ours": lambda: efficient_attention(q, k, v, block_size=128),
        "banded": lambda: sliding_window_attention(q, k, v, w),
    }
    keys = 2 * w + 1 if impl == "banded" else n
    size = f"B·H={bh} n={n} Dh={d}" + (f" w={w}" if impl == "banded" else "")
    return fns[impl], 4.0 * bh * n * keys * d, 4.0 * 4 * bh * n * d, size


PATHS = {
    "rnn-ours": lambda a: _recurrent("RNN", "ours", a),
    "rnn-torch": lambda a: _recurrent("RNN", "torch", a),
    "lstm-ours": lambda a: _recurrent("LSTM", "ours", a),
    "lstm-torch": lambda a: _recurrent("LSTM", "torch", a),
    "gru-ours": lambda a: _recurrent("GRU", "ours", a),
    "gru-torch": lambda a: _recurrent("GRU", "torch", a),
    "mingru-fused": _mingru,
    "attention-ours": lambda a: _attention("ours", a),
    "attention-sdpa": lambda a: _attention("sdpa", a),
    "attention-banded": lambda a: _attention("banded", a),
}


def roofline_row(name: str, peaks: dict, args) -> dict:
    fn, flops, nbytes, size = PATHS[name](args)
    with torch.no_grad():
        seconds = sorted(_times(fn, args.repeats, args.device))[args.repeats // 2]
    peak, bw = peaks["matmul_gflops"], peaks["copy_gbs"]
    ai = flops / nbytes
    gflops, gbs = flops / seconds / 1e9, nbytes / seconds / 1e9
    roof = min(peak, ai * bw)
    bound = "compute" if ai > peak / bw else "memory"
    return {"path": name, "size": size, "ms": 1e3 * seconds, "gflop": flops / 1e9,
            "mb": nbytes / 1e6, "ai": ai, "gflops": gflops, "gbs": gbs,
            "pct_peak": 100 * gflops / peak, "pct_bw": 100 * gbs / bw, "bound": bound,
            "pct_roof": 100 * gflops / roof}  # fmt: skip


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--paths", nargs="+", default=list(PATHS), choices=list(PATHS))
    p.add_argument("--repeats", type=int, default=5, help="median of this many runs per path")
    p.add_argument("--peak-n", type=int, default=2048)
    p.add_argument("--copy-mib", type=int, default=256)
    p.add_argument("--rnn-steps", type=int, default=256)
    p.add_argument("--rnn-batch", type=int, default=32)
    p.add_argument("--rnn-input", type=int, default=128)
    p.add_argument("--rnn-hidden", type=int, default=256)
    p.add_argument("--scan-steps", type=int, default=1024)
    p.add_argument("--scan-batch", type=int, default=16)
    p.add_argument("--attn-len", type=int, default=2048)
    p.add_argument("--attn-bh", type=int, default=8)
    p.add_argument("--head-dim", type=int, default=64)
    p.add_argument("--window", type=int, default=64)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--json", help="write the peaks and rows as JSON here")
    args = p.parse_args(argv)
    name = torch.cuda.get_device_name() if args.device == "cuda" else platform.machine()
    peaks = machine_peaks(args)
    ridge = peaks["matmul_gflops"] / peaks["copy_gbs"]
    print(f"device: {args.device} ({name}), torch {torch.__version__}, threads "
          f"{torch.get_num_threads()}, float32, forward (no_grad)")  # fmt: skip
    print(f"matmul peak {peaks['matmul_gflops']:.1f} GFLOP/s (best of 15, n={args.peak_n}); "
          f"copy {peaks['copy_gbs']:.1f} GB/s (best of 15, {args.copy_mib} MiB); "
          f"ridge {ridge:.1f} FLOP/B\n")  # fmt: skip
    print(
        "| path | size | ms | GFLOP | MB | FLOP/B | GFLOP/s | GB/s | % peak | % bw | bound "
        "| % of roof |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    rows = []
    for path in args.paths:
        r = roofline_row(path, peaks, args)
        rows.append(r)
        print(f"| {path} | {r['size']} | {r['ms']:.2f} | {r['gflop']:.3f} | {r['mb']:.1f} | "
              f"{r['ai']:.1f} | {r['gflops']:.1f} | {r['gbs']:.2f} | {r['pct_peak']:.0f} | "
              f"{r['pct_bw']:.1f} | {r['bound']} | {r['pct_roof']:.0f} |", flush=True)  # fmt: skip
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"peaks": peaks, "ridge": ridge, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
