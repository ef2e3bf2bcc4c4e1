"""Attention speed and memory: naive vs our efficient attention vs F.scaled_dot_product_attention.

For each n and B·H (head dim 64, float32): median time of a forward (no_grad) and of a
forward+backward, and the peak extra memory of each (a fresh child process per point on CPU;
the CUDA allocator's peak on GPU). Naive attention is skipped where its n × n matrices would
not fit (``--naive-max-gib``). Prints a Markdown table, fitted log-log slopes, and writes a
log-log plot with ``--plot``.

    python benchmarks/attention.py                       # n = 256 ... 16384, B·H = 8
    python benchmarks/attention.py --bh 8 64 --lengths 1024 4096 --json out.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys

import torch
import torch.nn.functional as F

from seqattn.experiments.measure import loglog_slope, median_time, peak_memory_child
from seqattn.functional import efficient_attention, scaled_dot_product_attention
from seqattn.viz import plot_panels

IMPLS = {
    "naive": "scaled_dot_product_attention(q, k, v, backend='reference')",
    "efficient": "efficient_attention(q, k, v)",  # the fused C++ kernel on CPU
    "python": "efficient_attention(q, k, v, block_size={block}, backend='reference')",
    "sdpa": "F.scaled_dot_product_attention(q, k, v)",
}


def setup_code(n: int, bh: int, dim: int, grad: bool, device: str) -> str:
    return (
        "import torch\nimport torch.nn.functional as F\n"
        "from seqattn.functional import efficient_attention, scaled_dot_product_attention\n"
        "torch.manual_seed(0)\n"
        f"q, k, v = (torch.randn(1, {bh}, {n}, {dim}, device='{device}', "
        f"requires_grad={grad}) for _ in range(3))\n"
    )


def naive_bytes(n: int, bh: int, grad: bool) -> float:
    """About how much naive attention allocates: scores, weights (and their gradients)."""
    return (6 if grad else 2) * bh * n * n * 4


def measure(impl: str, n: int, bh: int, args) -> dict:
    call = IMPLS[impl].format(block=args.block_size)
    row = {"impl": impl, "n": n, "bh": bh}
    for grad, label in ((False, "fwd"), (True, "fwd_bwd")):
        env: dict = {}
        exec(setup_code(n, bh, args.head_dim, grad, args.device), env)  # noqa: S102
        env.update(
            efficient_attention=efficient_attention,
            scaled_dot_product_attention=scaled_dot_product_attention,
            F=F,
        )
        fn = eval(f"lambda: {call}", env)  # noqa: S307 - our own expression

        def step(fn=fn, grad=grad):
            if grad:
                fn().sum().backward()
            else:
                with torch.no_grad():
                    fn()

        repeats = args.repeats if n <= 4096 else max(1, args.repeats // 2)
        row[f"{label}_ms"] = 1e3 * median_time(step, repeats=repeats)
        if args.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            step()
            torch.cuda.synchronize()
            row[f"{label}_peak_mib"] = (torch.cuda.max_memory_allocated() - base) / 2**20
        elif not args.no_memory:
            run = "fn().sum().backward()\n" if grad else "with torch.no_grad():\n    fn()\n"
            row[f"{label}_peak_mib"] = peak_memory_child(
                setup_code(n, bh, args.head_dim, grad, "cpu") + f"fn = lambda: {call}\n", run
            )
        del env
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lengths", nargs="+", type=int,
                   default=[256, 512, 1024, 2048, 4096, 8192, 16384])  # fmt: skip
    p.add_argument("--bh", nargs="+", type=int, default=[8], help="batch x heads")
    p.add_argument("--head-dim", type=int, default=64)
    p.add_argument("--block-size", type=int, default=128)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--naive-max-gib", type=float, default=12.0)
    p.add_argument("--no-memory", action="store_true")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--json", help="write the rows as JSON here")
    p.add_argument("--plot", help="write a log-log plot here (PNG/SVG)")
    args = p.parse_args(argv)
    name = torch.cuda.get_device_name() if args.device == "cuda" else platform.machine()
    print(
        f"device: {args.device} ({name}), torch {torch.__version__}, threads "
        f"{torch.get_num_threads()}; head dim {args.head_dim}, float32, block {args.block_size}"
    )
    print()
    print("| impl | B·H | n | fwd ms | fwd+bwd ms | fwd peak MiB | fwd+bwd peak MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    rows = []
    for bh in args.bh:
        for n in args.lengths:
            for impl in IMPLS:
                if impl == "naive" and naive_bytes(n, bh, True) > args.naive_max_gib * 2**30:
                    print(f"| naive | {bh} | {n} | (skipped: n×n does not fit) | | | |")
                    continue
                r = measure(impl, n, bh, args)
                rows.append(r)
                print(
                    f"| {impl} | {bh} | {n} | {r['fwd_ms']:.1f} | {r['fwd_bwd_ms']:.1f} | "
                    f"{r.get('fwd_peak_mib', float('nan')):.0f} | "
                    f"{r.get('fwd_bwd_peak_mib', float('nan')):.0f} |",
                    flush=True,
                )
    print()
    print("| impl | B·H | slope fwd time | slope fwd+bwd time | slope fwd+bwd memory |")
    print("|---|---:|---:|---:|---:|")
    slopes = {}
    for bh in args.bh:
        for impl in IMPLS:
            mine = [r for r in rows if r["impl"] == impl and r["bh"] == bh and r["n"] >= 1024]
            if len(mine) < 2:
                continue
            ns = [r["n"] for r in mine]
            s = {k: loglog_slope(ns, [r.get(k, float("nan")) for r in mine])
                 for k in ("fwd_ms", "fwd_bwd_ms", "fwd_bwd_peak_mib")}  # fmt: skip
            slopes[f"{impl}/{bh}"] = s
            print(f"| {impl} | {bh} | {s['fwd_ms']:.2f} | {s['fwd_bwd_ms']:.2f} | "
                  f"{s['fwd_bwd_peak_mib']:.2f} |")  # fmt: skip
    if args.plot:
        panels: dict = {"fwd+bwd time (ms)": {}, "fwd+bwd peak memory (MiB)": {}}
        for bh in args.bh:
            for impl in IMPLS:
                mine = [r for r in rows if r["impl"] == impl and r["bh"] == bh]
                if not mine:
                    continue
                ns = [r["n"] for r in mine]
                label = f"{impl}, B·H={bh}"
                panels["fwd+bwd time (ms)"][label] = (ns, [r["fwd_bwd_ms"] for r in mine])
                if "fwd_bwd_peak_mib" in mine[0]:
                    panels["fwd+bwd peak memory (MiB)"][label] = (
                        ns, [max(r["fwd_bwd_peak_mib"], 0.5) for r in mine],
                    )  # fmt: skip
        panels = {k: v for k, v in panels.items() if v}
        title = "Attention: time and memory against n (log-log)"
        plot_panels(panels, args.plot, xlabel="n", ylabel="", logy=True, logx=True,
                    sharey=False, title=title)  # fmt: skip
        print(f"\nplot: {args.plot}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": args.device, "torch": torch.__version__, "rows": rows,
                       "slopes": slopes}, f, indent=1)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
