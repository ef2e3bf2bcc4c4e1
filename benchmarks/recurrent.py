"""Speed of our RNN/LSTM/GRU against torch.nn, side by side in one process.

For each layer and sequence length: an inference forward (no_grad) and a training step
(forward + backward of ``out.sum()``), for ours (``--backend``, default ``fast``) and for
torch.nn with the same weights. Ours and torch's runs alternate, repeat by repeat, so a burst
of load from other jobs on a shared machine hits both; the table gives medians and the ratio
ours / torch (> 1: we are slower). Also: achieved GFLOP/s of the matmuls (input projection and
recurrent GEMMs; backward counted as twice the forward) against the machine's measured matmul
throughput (a square float32 matmul, same threads), the load average before and after, wall
and CPU time.

    python benchmarks/recurrent.py                  # B=32, I=128, H=256, T=64/256/1024
    python benchmarks/recurrent.py --threads 1 --lengths 64 --repeats 3 --json out.json
    python benchmarks/recurrent.py --backend reference   # the Python loop instead
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

import seqattn.nn as snn
from seqattn.nn.recurrent import _extension

GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}


def _sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _interleaved(fns: dict, repeats: int, device, stat=statistics.median) -> dict:
    """Seconds of each function (``stat`` of the repeats, the median unless told); one warm-up
    each, then the functions take turns."""
    for f in fns.values():
        f()
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            _sync(device)
            start = time.perf_counter()
            f()
            _sync(device)
            times[k].append(time.perf_counter() - start)
    return {k: stat(v) for k, v in times.items()}


def matmul_peak(device, n: int = 1024, repeats: int = 15) -> dict:
    """GFLOP/s of a square float32 matmul: torch.mm (MKL on this CPU build) and, on the CPU,
    oneDNN (``mkldnn::_linear_pointwise``, which torch's LSTM and our fast path use).

    The best of the repeats, not the median: a peak is what the machine can do, and the
    median of 7 moved between 207 and 369 GFLOP/s across five back-to-back runs on the dev
    machine (each oneDNN call also page-faults in a fresh 4 MB output; torch.mm writes into
    one preallocated)."""
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    c = torch.empty(n, n, device=device)
    fns = {"mm": lambda: torch.mm(a, b, out=c)}
    if device.type == "cpu" and hasattr(torch.ops.mkldnn, "_linear_pointwise"):
        fns["onednn"] = lambda: torch.ops.mkldnn._linear_pointwise(a, b, None, "none", [], "")
    t = _interleaved(fns, repeats, device, stat=min)
    return {k: 2 * n**3 / v / 1e9 for k, v in t.items()}


def flops(mode: str, steps: int, args) -> float:
    """Matmul FLOPs of one forward: input projection plus the recurrent GEMMs."""
    g = GATES[mode] * args.hidden_size
    return 2.0 * steps * args.batch * g * (args.input_size + args.hidden_size)


def bench(mode: str, steps: int, args, device) -> dict:
    torch.manual_seed(0)
    ref = getattr(torch.nn, mode)(args.input_size, args.hidden_size).to(device)
    ours = getattr(snn, mode)(args.input_size, args.hidden_size, backend=args.backend)
    ours = ours.to(device)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(steps, args.batch, args.input_size, device=device)
    repeats = max(3, args.repeats * 256 // max(steps, 256))

    def infer(m):
        def f():
            with torch.no_grad():
                m(x)

        return f

    def train(m):
        def f():
            m.zero_grad(set_to_none=True)
            out, _ = m(x)
            out.sum().backward()

        return f

    fwd = flops(mode, steps, args)
    row = {"layer": mode, "T": steps, "repeats": repeats}
    for kind, make, work in (("inference", infer, fwd), ("train_step", train, 3 * fwd)):
        t = _interleaved({"ours": make(ours), "torch": make(ref)}, repeats, device)
        row[f"{kind}_ours_ms"] = 1e3 * t["ours"]
        row[f"{kind}_torch_ms"] = 1e3 * t["torch"]
        row[f"{kind}_ratio"] = t["ours"] / t["torch"]
        row[f"{kind}_ours_gflops"] = work / t["ours"] / 1e9
        row[f"{kind}_torch_gflops"] = work / t["torch"] / 1e9
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layers", nargs="+", default=["RNN", "LSTM", "GRU"])
    p.add_argument("--lengths", nargs="+", type=int, default=[64, 256, 1024])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--input-size", type=int, default=128)
    p.add_argument("--hidden-size", type=int, default=256)
    p.add_argument("--repeats", type=int, default=9, help="repeats at T<=256 (fewer above)")
    p.add_argument("--backend", default="fast", choices=["fast", "reference", "native", "auto"])
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--json", help="also write the rows as JSON here")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    load_before = os.getloadavg()
    ext = _extension.load() if device.type == "cpu" else None
    ext_note = "compiled" if ext is not None else f"Python ({_extension.unavailable_reason()})"
    peaks = matmul_peak(device)
    peak = max(peaks.values())
    print(
        f"device: {device.type} ({name or platform.machine()}), {os.cpu_count()} CPUs, "
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
        f"python {sys.version.split()[0]}; B={args.batch}, I={args.input_size}, "
        f"H={args.hidden_size}, float32, medians of interleaved runs; ours: backend "
        f"{args.backend!r}, engine {ext_note}; matmul peak {peak:.0f} GFLOP/s (1024^2 "
        f"float32; " + ", ".join(f"{k} {v:.0f}" for k, v in peaks.items()) + "); "
        f"load average before {load_before[0]:.2f}"
    )
    print()
    print("| layer | T | infer ours ms | infer torch ms | ratio | train ours ms | "
          "train torch ms | ratio | GFLOP/s train ours / torch (% of peak) |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows = []
    for mode in args.layers:
        for steps in args.lengths:
            r = bench(mode, steps, args, device)
            rows.append(r)
            go, gt = r["train_step_ours_gflops"], r["train_step_torch_gflops"]
            print(
                f"| {mode} | {steps} | {r['inference_ours_ms']:.1f} | "
                f"{r['inference_torch_ms']:.1f} | {r['inference_ratio']:.2f}x | "
                f"{r['train_step_ours_ms']:.1f} | {r['train_step_torch_ms']:.1f} | "
                f"{r['train_step_ratio']:.2f}x | {go:.0f} / {gt:.0f} "
                f"({100 * go / peak:.0f}% / {100 * gt / peak:.0f}%) |",
                flush=True,
            )
    load_after = os.getloadavg()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    print()
    print(
        f"load average after {load_after[0]:.2f}; wall {wall:.0f} s, CPU {cpu:.0f} s (this process)"
    )
    if args.json:
        facts = {
            "device": str(device),
            "name": name,
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "backend": args.backend,
            "engine": ext_note,
            "matmul_peak_gflops": peaks,
            "load_before": load_before,
            "load_after": load_after,
            "wall_s": wall,
            "cpu_s": cpu,
            "rows": rows,
        }
        with open(args.json, "w") as f:
            json.dump(facts, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
