"""The fused C++ attention kernel against F.scaled_dot_product_attention (issue 21, item 1).

One process, the two side by side at each n: the median of ``--repeats`` timed calls after one
warm-up, forward (no_grad) and forward+backward, for ``efficient_attention`` (backend "auto":
the fused kernel), ``F.scaled_dot_product_attention`` and, up to ``--python-max``, the PyTorch
reference (``backend="reference"``). Also GFLOP/s (forward 4·BH·n²·D, backward 2.5x that,
half of both under ``--causal``) and its share of the peak of the kernel's own tile GEMM,
measured in the same process (``gemm_gflops``: 256³ and 512³ float32 GEMMs on every thread,
the better of the two; ``torch.mm`` at 4096² is printed beside it: on an AMD CPU, MKL may run
a narrower code path than oneDNN), and with ``--memory`` the peak extra RSS of each in a fresh
child process (seqattn.experiments.measure.peak_memory_child).

Usage: python benchmarks/fused_attention.py --lengths 512 1024 4096 --threads 2 --repeats 5
       [--causal] [--dtype bfloat16] [--bh 8] [--dim 64] [--memory] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch
import torch.nn.functional as F

from seqattn.experiments.measure import peak_memory_child
from seqattn.functional import _fused, efficient_attention

CALLS = {
    "ours": "efficient_attention(q, k, v, is_causal={causal})",
    "sdpa": "F.scaled_dot_product_attention(q, k, v, is_causal={causal})",
    "python": "efficient_attention(q, k, v, is_causal={causal}, backend='reference')",
}


def _median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def mm_peak_gflops() -> float:
    a, b = torch.randn(4096, 4096), torch.randn(4096, 4096)
    return 2 * 4096**3 / 1e9 / (min(_median_ms(lambda: a @ b, 1) for _ in range(3)) / 1e3)


def _setup(n, bh, dim, dtype, grad, call) -> str:
    """Inputs, and one call on small ones so that loading the kernels is not counted."""
    return (
        "import torch\nimport torch.nn.functional as F\n"
        "from seqattn.functional import efficient_attention\ntorch.manual_seed(0)\n"
        f"q, k, v = (torch.randn(1, 2, 64, {dim}, dtype=torch.{dtype}, requires_grad=True) "
        "for _ in range(3))\n"
        f"{call}.sum().backward()\n"
        f"q, k, v = (torch.randn(1, {bh}, {n}, {dim}, dtype=torch.{dtype}, "
        f"requires_grad={grad}) for _ in range(3))\n"
        f"fn = lambda: {call}\n"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lengths", type=int, nargs="+", default=[512, 1024, 2048, 4096])
    ap.add_argument("--bh", type=int, default=8)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--causal", action="store_true")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    ap.add_argument("--python-max", type=int, default=4096, help="largest n for the reference")
    ap.add_argument("--memory", action="store_true", help="peak RSS per call (child processes)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    assert _fused.load() is not None, _fused.unavailable_reason()
    ext = _fused.load()
    peak = max(ext.gemm_gflops(256, 60), ext.gemm_gflops(512, 10))  # the better of two sizes
    mm_peak = mm_peak_gflops()
    load0 = os.getloadavg()[0]
    print(f"torch {torch.__version__}, threads {args.threads}, B·H {args.bh}, head dim "
          f"{args.dim}, {args.dtype}, causal {args.causal}, median of {args.repeats}; "
          f"tile-GEMM peak {peak:.0f} GFLOP/s (torch.mm {mm_peak:.0f}); "
          f"load {load0:.2f}")  # fmt: skip
    head = "n      pass     ours_ms   sdpa_ms  python_ms  ours/sdpa  ours_GF/s  %peak  sdpa_GF/s"
    print(head + ("  ours_MiB  sdpa_MiB" if args.memory else ""))
    rows = []
    dtype = getattr(torch, args.dtype)
    for n in args.lengths:
        flops_fwd = 4 * args.bh * n * n * args.dim / (2 if args.causal else 1)
        for label, grad in (("fwd", False), ("fwd+bwd", True)):
            q, k, v = (torch.randn(1, args.bh, n, args.dim, dtype=dtype, requires_grad=grad)
                       for _ in range(3))  # fmt: skip
            env = {"q": q, "k": k, "v": v, "F": F, "efficient_attention": efficient_attention}
            row = {"n": n, "pass": label}
            for name, call in CALLS.items():
                if name == "python" and n > args.python_max:
                    continue
                fn = eval(f"lambda: {call.format(causal=args.causal)}", env)  # noqa: S307

                def step(fn=fn, grad=grad):
                    with torch.set_grad_enabled(grad):
                        out = fn()
                        if grad:
                            out.sum().backward()

                row[f"{name}_ms"] = _median_ms(step, args.repeats)
                if args.memory and name != "python":
                    run = "fn().sum().backward()\n" if grad else "with torch.no_grad():\n    fn()\n"
                    setup = _setup(n, args.bh, args.dim, args.dtype, grad,
                                   call.format(causal=args.causal))  # fmt: skip
                    row[f"{name}_mib"] = peak_memory_child(setup, run)
            flops = flops_fwd * (3.5 if grad else 1.0)
            row["ours_gflops"] = flops / 1e9 / (row["ours_ms"] / 1e3)
            row["sdpa_gflops"] = flops / 1e9 / (row["sdpa_ms"] / 1e3)
            rows.append(row)
            py = f"{row['python_ms']:9.1f}" if "python_ms" in row else "        -"
            share = 100 * row["ours_gflops"] / peak
            line = (f"{n:<7}{label:<9}{row['ours_ms']:8.1f}  {row['sdpa_ms']:8.1f}  {py}  "
                    f"{row['ours_ms'] / row['sdpa_ms']:9.2f}  {row['ours_gflops']:9.0f}  "
                    f"{share:5.0f}  {row['sdpa_gflops']:9.0f}")  # fmt: skip
            if args.memory:
                line += f"  {row['ours_mib']:8.0f}  {row['sdpa_mib']:8.0f}"
            print(line, flush=True)
    print(f"load average {load0:.2f} -> {os.getloadavg()[0]:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "args": vars(args),
                    "gemm_peak_gflops": peak,
                    "torch_mm_gflops": mm_peak,
                    "rows": rows,
                },
                f,
                indent=1,
            )


if __name__ == "__main__":
    main()
