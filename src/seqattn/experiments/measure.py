"""Timing and peak-memory measurement shared by experiments and benchmarks/.

Time: the median of repeated runs after warm-up (CUDA synchronised). Peak memory on CPU: a
fresh child process builds the inputs, resets its peak resident set size (Linux
``/proc/self/clear_refs``), runs the operation and reports the peak minus the RSS before it.
RSS sees every allocation (torch's CPU allocator is invisible to Python's tracemalloc); large
blocks are forced to come straight from mmap so that freed memory is returned at once.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np
import torch

__all__ = ["median_time", "peak_memory_child", "loglog_slope"]


def median_time(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in seconds."""
    cuda = torch.cuda.is_available()
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(max(1, repeats)):
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


_CHILD = r"""
import json, sys, torch
torch.set_num_threads({threads})

def status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])  # kB

setup = {setup!r}
run = {run!r}
env = {{}}
exec(setup, env)
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak RSS (VmHWM) to the current RSS
before = status("VmRSS")
exec(run, env)
after = status("VmHWM")
print(json.dumps({{"before_kib": before, "after_kib": after}}))
"""


def peak_memory_child(setup: str, run: str, timeout: float = 600.0) -> float:
    """Peak extra memory (MiB) of running ``run`` after ``setup``, in a fresh Python process.

    ``setup`` builds the inputs (not counted); ``run`` is the operation measured. Both are
    Python source executed in the same namespace. Returns the growth of the peak RSS, so a
    result below a few MiB is within noise.
    """
    code = _CHILD.format(threads=torch.get_num_threads(), setup=setup, run=run)
    # Large blocks straight from mmap: freed memory goes back to the OS at once, and memory
    # left free by earlier work is not silently reused, so the RSS peak follows the tensors.
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, env=env
    )
    if proc.returncode != 0:
        raise RuntimeError(f"memory probe failed ({proc.returncode}): {proc.stderr[-2000:]}")
    rec = json.loads(proc.stdout.strip().splitlines()[-1])
    return max(0.0, (rec["after_kib"] - rec["before_kib"]) / 1024.0)


def loglog_slope(xs, ys) -> float:
    """Least-squares slope of log y against log x (the exponent k of y ~ x^k)."""
    x, y = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    keep = (x > 0) & (y > 0) & np.isfinite(y)
    if keep.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(x[keep]), np.log(y[keep]), 1)[0])
