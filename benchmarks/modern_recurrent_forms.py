"""Time of each form (sequential, chunked, ...) of the modern recurrent layers (issue 24, item 1).

Usage: OMP_NUM_THREADS=1 python benchmarks/modern_recurrent_forms.py [--steps 1024 4096]
       [--repeats 3] [--threads 1]

Forward + backward of one batch (B = 2, D = 64, 4 heads, float32), best of ``--repeats``, for
every form each layer has; the point is which form to use when, not absolute speed (the CPU is
shared and the numbers are noisy).
"""

from __future__ import annotations

import argparse
import time

import torch

from seqattn.nn.delta import DeltaNet, GatedLinearAttention
from seqattn.nn.linear_attention import CausalLinearAttention
from seqattn.nn.mamba import Mamba
from seqattn.nn.ssd import SSD
from seqattn.nn.xlstm import MLSTM, SLSTM


def best_ms(layer, x, mode, repeats):
    kw = {} if mode == "recurrent" else {"mode": mode}
    best = float("inf")
    for _ in range(repeats):
        layer.zero_grad(set_to_none=True)
        start = time.perf_counter()
        y, state = layer(x, **kw)
        y.square().mean().backward()
        best = min(best, time.perf_counter() - start)
    return 1e3 * best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, nargs="+", default=[1024, 4096])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    both = ("sequential", "chunked")
    layers = {
        "CausalLinearAttention": (CausalLinearAttention(64, num_heads=4), both),
        "SSD": (SSD(64, num_heads=4, state_size=16), both),
        "Mamba": (Mamba(64, state_size=16), (*both, "scan")),
        "MLSTM": (MLSTM(64, num_heads=4), (*both, "parallel")),
        "SLSTM": (SLSTM(64, 64, num_heads=4), ("recurrent",)),
        "DeltaNet": (DeltaNet(64, num_heads=4), both),
        "GatedLinearAttention": (GatedLinearAttention(64, num_heads=4), both),
    }
    print(f"B = 2, D = 64, float32, fwd+bwd, best of {args.repeats}, threads {args.threads}")
    print("| layer | form | " + " | ".join(f"T={T} ms" for T in args.steps) + " |")
    print("|---|---|" + "---|" * len(args.steps))
    for name, (layer, modes) in layers.items():
        for mode in modes:
            cells = []
            for T in args.steps:
                x = torch.randn(2, T, 64, requires_grad=True)
                cells.append(f"{best_ms(layer, x, mode, args.repeats):.0f}")
            print(f"| {name} | {mode} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
