"""Chapter 3.1 Code Fragment 3.1.4: the cost of a sequential LSTM against a position-wise Linear.

Run: .venv/bin/python examples/lstm_vs_linear_cost.py   (a few seconds on a CPU)

Same shapes as the chapter (batch 32, 512 steps, 256 in, 256 hidden). The chapter printed
LSTM 12.8 ms, Linear 0.9 ms, 14.2x on an unnamed machine (100 repetitions, no warm-up). Here:
one warm-up call, then the median of REPS calls under no_grad, on whatever threads torch has
(set OMP_NUM_THREADS). Absolute times and the ratio depend on the machine and its load. On the
dev CPU (one thread, torch 2.13.0+cpu, 2026-12-03, cores shared with other jobs, so noisy) it
printed LSTM 203.9 ms, Linear 50.5 ms, 4.0x: the LSTM is slower, the chapter's 14.2x is not a
constant (the Linear is one large matmul, the LSTM 512 small dependent ones).
"""

import statistics
import time

import torch
from torch import nn

REPS = 3
CHAPTER = {"lstm_ms": 12.8, "linear_ms": 0.9, "speedup": 14.2}


def median_ms(fn, x: torch.Tensor) -> float:
    fn(x)  # warm-up
    times = []
    for _ in range(REPS):
        t0 = time.perf_counter()
        fn(x)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    torch.manual_seed(0)
    seq_len, batch, inp, hid = 512, 32, 256, 256
    x = torch.randn(batch, seq_len, inp)
    lstm, linear = nn.LSTM(inp, hid, batch_first=True), nn.Linear(inp, hid)
    with torch.no_grad():
        lstm_ms, linear_ms = median_ms(lstm, x), median_ms(linear, x)
    print(f"threads: {torch.get_num_threads()}")
    print(f"LSTM forward pass: {lstm_ms:.1f} ms   (chapter: {CHAPTER['lstm_ms']} ms)")
    print(f"Linear forward pass: {linear_ms:.1f} ms   (chapter: {CHAPTER['linear_ms']} ms)")
    print(f"Speedup: {lstm_ms / linear_ms:.1f}x   (chapter: {CHAPTER['speedup']}x)")


if __name__ == "__main__":
    main()
