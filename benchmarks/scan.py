"""minGRU (each evaluation mode) against torch.nn.GRU: training-step and inference speed by T.

The claim under test (Feng et al. 2024): without the recurrent matmul, an RNN trains much faster
at long T. On a CPU the win is the element-wise recurrence; the parallel scan only pays with many
lanes (a GPU). For each T: the median time of a training step (forward + backward of a fixed
random projection of the outputs) and of an inference forward, for nn.GRU (cuDNN on a GPU) and
for MinGRU in each mode, with the same B, input and hidden sizes; ratio = GRU time / ours (> 1:
we are faster). Runs alternate between the models so a busy machine slows all of them alike.
Mode ``fused`` is the compiled CPU kernel (seqattn/csrc/mingru.cpp, ``auto``'s choice on a CPU);
when it cannot be built it runs the sequential Python path, and the output says so.

On a machine busy with other jobs, measure with one thread (``OMP_NUM_THREADS=1``): nn.GRU's
4096 small per-step matmuls with 2 threads on 2 busy cores spin-wait for a descheduled thread
(measured 10x slower, which would flatter minGRU).

    python benchmarks/scan.py                               # B=16, I=128, H=256, T=64..4096
    python benchmarks/scan.py --lengths 4096 16384 --device cuda --json out.json
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

from seqattn.nn import MinGRU, _mingru_fused


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _bench(fns: dict, repeats: int, device: str) -> dict[str, float]:
    """Median seconds of each fn, interleaved: one run of each per round, after one warm-up."""
    for fn in fns.values():
        fn()
    _sync(device)
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            _sync(device)
            t0 = time.perf_counter()
            fn()
            _sync(device)
            times[name].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lengths", nargs="+", type=int, default=[64, 256, 1024, 4096])
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--input", type=int, default=128)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--modes", nargs="+", default=["fused", "sequential", "chunked", "scan"])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--json", help="write the rows as JSON here")
    args = p.parse_args(argv)
    dev = args.device
    torch.manual_seed(0)
    gru = torch.nn.GRU(args.input, args.hidden, batch_first=True).to(dev)
    ours = {m: MinGRU(args.input, args.hidden, mode=m).to(dev) for m in args.modes}
    rows = []
    for T in args.lengths:
        x = torch.randn(args.batch, T, args.input, device=dev)
        w = torch.randn(args.batch, T, args.hidden, device=dev)

        def train(model, x=x, w=w):
            def step():
                model.zero_grad(set_to_none=True)
                out, _ = model(x)
                (out * w).sum().backward()

            return step

        def infer(model, x=x):
            def run():
                with torch.no_grad():
                    model(x)

            return run

        models = {"gru": gru, **{f"min-{m}": ours[m] for m in args.modes}}
        t_train = _bench({k: train(m) for k, m in models.items()}, args.repeats, dev)
        t_infer = _bench({k: infer(m) for k, m in models.items()}, args.repeats, dev)
        for m in args.modes:
            key = f"min-{m}"
            rows.append({
                "T": T, "mode": m,
                "train_ms": 1e3 * t_train[key], "gru_train_ms": 1e3 * t_train["gru"],
                "train_speedup": t_train["gru"] / t_train[key],
                "infer_ms": 1e3 * t_infer[key], "gru_infer_ms": 1e3 * t_infer["gru"],
                "infer_speedup": t_infer["gru"] / t_infer[key],
            })  # fmt: skip
            print(
                f"T={T:6d} {m:10s} train {1e3 * t_train[key]:9.1f} ms (GRU "
                f"{1e3 * t_train['gru']:9.1f}) x{t_train['gru'] / t_train[key]:5.2f} | infer "
                f"{1e3 * t_infer[key]:8.1f} ms (GRU {1e3 * t_infer['gru']:8.1f}) "
                f"x{t_infer['gru'] / t_infer[key]:5.2f}",
                file=sys.stderr,
            )
    fused_note = None
    if "fused" in args.modes and dev == "cpu" and _mingru_fused.load() is None:
        fused_note = f"extension unavailable ({_mingru_fused.unavailable_reason()})"
    facts = {
        "device": torch.cuda.get_device_name() if dev == "cuda" else platform.processor() or "cpu",
        "cpu_count": os.cpu_count(), "torch": torch.__version__,
        "threads": torch.get_num_threads(), "load_average": os.getloadavg(),
        "batch": args.batch, "input": args.input, "hidden": args.hidden,
        "command": " ".join([sys.executable, *sys.argv]),
        "fused": fused_note or "compiled kernel",
    }  # fmt: skip
    print(f"device {facts['device']}, torch {facts['torch']}, threads {facts['threads']}, "
          f"load {facts['load_average'][0]:.2f}; B={args.batch}, I={args.input}, "
          f"H={args.hidden}; speedup = nn.GRU time / MinGRU time")  # fmt: skip
    if fused_note:
        print(f"NOTE: mode 'fused' ran the sequential Python path: {fused_note}")
    print("\n| T | mode | train ms | nn.GRU train ms | speedup | infer ms | nn.GRU infer ms "
          "| speedup |\n|---:|---|---:|---:|---:|---:|---:|---:|")  # fmt: skip
    for r in rows:
        print(f"| {r['T']} | {r['mode']} | {r['train_ms']:.1f} | {r['gru_train_ms']:.1f} | "
              f"{r['train_speedup']:.2f}x | {r['infer_ms']:.1f} | {r['gru_infer_ms']:.1f} | "
              f"{r['infer_speedup']:.2f}x |")  # fmt: skip
    for m in args.modes:
        faster = [r["T"] for r in rows if r["mode"] == m and r["train_speedup"] > 1]
        print(f"\n{m}: training faster than nn.GRU from T = {min(faster) if faster else 'never'}"
              f" (of {args.lengths})")  # fmt: skip
    if args.json:
        with open(args.json, "w") as f:
            json.dump({**facts, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
