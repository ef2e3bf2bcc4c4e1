"""float32 drift against float64 of the modern recurrent layers at long T (issue 24, item 1).

Usage: OMP_NUM_THREADS=1 python benchmarks/modern_recurrent_drift.py [--steps 4096]

For each layer and form (sequential, chunked), the same weights and input run in float32 and in
float64; the table gives the max and relative-L2 error of the outputs and the final state.
"""

from __future__ import annotations

import argparse

import torch

from seqattn.nn.linear_attention import CausalLinearAttention
from seqattn.nn.ssd import SSD


def _flat(state):
    return list(state) if isinstance(state, tuple) else [state]


def drift(layer, x, mode):
    y64, s64 = layer.double()(x.double(), mode=mode)
    y32, s32 = layer.float()(x.float(), mode=mode)
    rel = float((y32.double() - y64).norm() / y64.norm())
    max_abs = float((y32.double() - y64).abs().max())
    st = max(
        float((a.double() - b).norm() / b.norm())
        for a, b in zip(_flat(s32), _flat(s64), strict=True)
    )
    return max_abs, rel, st


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=4096)
    args = parser.parse_args()
    torch.manual_seed(0)
    layers = {
        "CausalLinearAttention(64, 4)": CausalLinearAttention(64, num_heads=4),
        "SSD(64, 4, N=16)": SSD(64, num_heads=4, state_size=16),
    }
    x = torch.randn(2, args.steps, 64, dtype=torch.float64)
    print(f"T = {args.steps}, B = 2, D = 64, chunk_size = 64 (default)")
    print("| layer | form | max abs err (y) | rel L2 err (y) | rel L2 err (final state) |")
    print("|---|---|---|---|---|")
    with torch.no_grad():
        for name, layer in layers.items():
            for mode in ("sequential", "chunked"):
                a, r, s = drift(layer, x, mode)
                print(f"| {name} | {mode} | {a:.2e} | {r:.2e} | {s:.2e} |")


if __name__ == "__main__":
    main()
