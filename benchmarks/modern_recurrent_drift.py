"""float32 drift against float64 of the modern recurrent layers at long T (issue 24, item 1).

Usage: OMP_NUM_THREADS=1 python benchmarks/modern_recurrent_drift.py [--steps 4096]
       [--layers NAME ...] [--parallel]

For each layer and form (sequential, chunked; Mamba's prefix scan; mLSTM's O(T^2) parallel form
with --parallel, 4.5 GB peak RSS at T = 4096; sLSTM has only its recurrent form), the same weights
and input run in float32 and in float64; the table gives the max and relative-L2 error of the
outputs and the final state (the largest over the state's tensors).
"""

from __future__ import annotations

import argparse

import torch

from seqattn.nn.delta import DeltaNet, GatedLinearAttention
from seqattn.nn.linear_attention import CausalLinearAttention
from seqattn.nn.mamba import Mamba
from seqattn.nn.ssd import SSD
from seqattn.nn.xlstm import MLSTM, SLSTM


def _flat(state):
    return list(state) if isinstance(state, tuple) else [state]


def drift(layer, x, mode):
    kw = {} if mode == "recurrent" else {"mode": mode}
    y64, s64 = layer.double()(x.double(), **kw)
    y32, s32 = layer.float()(x.float(), **kw)
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
    parser.add_argument("--layers", nargs="*", help="names of the rows to run (default: all)")
    parser.add_argument("--parallel", action="store_true", help="also mLSTM's parallel form")
    args = parser.parse_args()
    torch.manual_seed(0)
    both = ("sequential", "chunked")
    layers = {
        "CausalLinearAttention(64, 4)": (CausalLinearAttention(64, num_heads=4), both),
        "SSD(64, 4, N=16)": (SSD(64, num_heads=4, state_size=16), both),
    }
    x = torch.randn(2, args.steps, 64, dtype=torch.float64)
    torch.manual_seed(1)  # the first two rows keep their draws; the rest do not depend on T
    layers |= {
        "Mamba(64, N=16)": (Mamba(64, state_size=16), (*both, "scan")),
        "MLSTM(64, 4)": (MLSTM(64, num_heads=4), both + ("parallel",) * args.parallel),
        "SLSTM(64, 64, 4)": (SLSTM(64, 64, num_heads=4), ("recurrent",)),
        "DeltaNet(64, 4)": (DeltaNet(64, num_heads=4), both),
        "GatedLinearAttention(64, 4)": (GatedLinearAttention(64, num_heads=4), both),
    }
    print(f"T = {args.steps}, B = 2, D = 64, chunk_size = 64 (default)")
    print("| layer | form | max abs err (y) | rel L2 err (y) | rel L2 err (final state) |")
    print("|---|---|---|---|---|")
    with torch.no_grad():
        for name, (layer, modes) in layers.items():
            if args.layers and name.split("(")[0] not in args.layers:
                continue
            for mode in modes:
                a, r, s = drift(layer, x, mode)
                print(f"| {name} | {mode} | {a:.2e} | {r:.2e} | {s:.2e} |")


if __name__ == "__main__":
    main()
