"""Speed of our from-scratch RNN/LSTM/GRU against torch.nn, side by side in one process.

For each layer and sequence length: the median time of an inference forward (no_grad) and of a
training step (forward + backward), for ours and for torch.nn with the same weights, and the
ratio ours / torch (> 1: we are slower). Prints a Markdown table with the device facts.

    python benchmarks/recurrent.py                 # B=32, I=128, H=256, T=64/256/1024
    python benchmarks/recurrent.py --lengths 64 --repeats 3 --json out.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time

import torch

import seqattn.nn as snn


def _time(fn, repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench(mode: str, steps: int, args, device) -> dict:
    torch.manual_seed(0)
    ref = getattr(torch.nn, mode)(args.input_size, args.hidden_size).to(device)
    ours = getattr(snn, mode)(args.input_size, args.hidden_size).to(device)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(steps, args.batch, args.input_size, device=device)
    repeats = max(3, args.repeats * 256 // max(steps, 256)) if args.repeats else 3

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

    row = {"layer": mode, "T": steps}
    for kind, make in (("inference", infer), ("train_step", train)):
        t_ours = _time(make(ours), repeats)
        t_ref = _time(make(ref), repeats)
        row[f"{kind}_ours_ms"] = 1e3 * t_ours
        row[f"{kind}_torch_ms"] = 1e3 * t_ref
        row[f"{kind}_ratio"] = t_ours / t_ref
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layers", nargs="+", default=["RNN", "LSTM", "GRU"])
    p.add_argument("--lengths", nargs="+", type=int, default=[64, 256, 1024])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--input-size", type=int, default=128)
    p.add_argument("--hidden-size", type=int, default=256)
    p.add_argument("--repeats", type=int, default=7, help="repeats at T<=256 (fewer above)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--json", help="also write the rows as JSON here")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    print(
        f"device: {device.type} ({name or platform.machine()}), torch {torch.__version__}, "
        f"threads {torch.get_num_threads()}, python {sys.version.split()[0]}; "
        f"B={args.batch}, I={args.input_size}, H={args.hidden_size}, float32, median times"
    )
    print()
    print("| layer | T | infer ours ms | infer torch ms | ratio | train ours ms | "
          "train torch ms | ratio |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    rows = []
    for mode in args.layers:
        for steps in args.lengths:
            r = bench(mode, steps, args, device)
            rows.append(r)
            print(
                f"| {mode} | {steps} | {r['inference_ours_ms']:.1f} | "
                f"{r['inference_torch_ms']:.1f} | {r['inference_ratio']:.2f}x | "
                f"{r['train_step_ours_ms']:.1f} | {r['train_step_torch_ms']:.1f} | "
                f"{r['train_step_ratio']:.2f}x |",
                flush=True,
            )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": str(device), "torch": torch.__version__, "rows": rows}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
