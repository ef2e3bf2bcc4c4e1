"""Experiment ``attention-complexity``: the cost of attention against recurrence, measured.

The claims (Vaswani et al. 2017, Table 1): self-attention costs O(n²·d) time and, done
naively, O(n²) memory, but needs O(1) sequential steps and connects any two positions by a path
of length O(1); a recurrent layer costs O(n·d²) but needs O(n) sequential steps and a path of
length O(n). Exact attention does not need O(n²) memory (FlashAttention): only the time is
quadratic.

For n over a range of lengths this measures, forward and forward+backward: the median time and
the peak extra memory of naive attention (the n × n matrix), our O(n)-memory
:func:`~seqattn.functional.efficient_attention`, torch's ``F.scaled_dot_product_attention``,
an ``nn.LSTM`` of the same width, and banded (sliding-window) attention
:func:`~seqattn.functional.sliding_window_attention` with half-width ``window`` (each query sees
2w + 1 keys: O(n·w·d) time and O(n·w) memory, slope 1 in n); and fits the log-log slopes.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from seqattn.experiments.base import Experiment, Progress, no_progress
from seqattn.experiments.measure import loglog_slope, median_time, peak_memory_child
from seqattn.functional import (
    efficient_attention,
    scaled_dot_product_attention,
    sliding_window_attention,
)
from seqattn.viz import plot_panels
from seqattn.viz.table import Column, Table, render_markdown

METHODS = ("naive", "efficient", "sdpa", "lstm", "banded")
LABELS = {
    "naive": "naive attention (n×n matrix)",
    "efficient": "efficient attention (ours, O(n) memory)",
    "sdpa": "F.scaled_dot_product_attention",
    "lstm": "nn.LSTM (same width)",
    "banded": "sliding-window attention (ours, window w)",
}


@dataclass(frozen=True)
class Config:
    lengths: tuple[int, ...] = (256, 512, 1024, 2048, 4096)
    batch: int = 2
    heads: int = 4
    head_dim: int = 64
    methods: tuple[str, ...] = METHODS
    repeats: int = 3
    block_size: int = 128
    memory: bool = True
    naive_max_len: int = 8192  # the n × n matrices beyond this do not fit in 24 GB
    seed: int = 0
    window: int = 64  # banded attention's half-width w

    def __post_init__(self) -> None:
        if isinstance(self.window, bool) or not isinstance(self.window, int) or self.window < 0:
            raise ValueError(f"expected window to be an int >= 0, got {self.window!r}")
        self._check_methods()

    def _check_methods(self) -> None:
        unknown = set(self.methods) - set(METHODS)
        if unknown:
            raise ValueError(f"expected methods from {list(METHODS)}, got {sorted(unknown)}")
        if not self.lengths or min(self.lengths) < 1:
            raise ValueError(f"expected positive lengths, got {self.lengths}")


def quick(cfg: Config) -> Config:
    return dataclasses.replace(cfg, lengths=(128, 256, 512, 1024), repeats=2)


def _setup_code(method: str, n: int, cfg: Config, grad: bool) -> str:
    b, h, d = cfg.batch, cfg.heads, cfg.head_dim
    rg = "True" if grad else "False"
    if method == "lstm":
        return (
            f"torch.manual_seed({cfg.seed})\n"
            f"lstm = torch.nn.LSTM({h * d}, {h * d})\n"
            f"x = torch.randn({n}, {b}, {h * d}, requires_grad={rg})\n"
            "fn = lambda: lstm(x)[0]\n"
        )
    call = {
        "naive": "scaled_dot_product_attention(q, k, v, backend='reference')",
        "efficient": f"efficient_attention(q, k, v, block_size={cfg.block_size})",
        "sdpa": "F.scaled_dot_product_attention(q, k, v)",
        "banded": f"sliding_window_attention(q, k, v, {cfg.window})",
    }[method]
    return (
        "import torch.nn.functional as F\n"
        "from seqattn.functional import efficient_attention, scaled_dot_product_attention\n"
        "from seqattn.functional import sliding_window_attention\n"
        f"torch.manual_seed({cfg.seed})\n"
        # one call on small inputs first: loading a compiled kernel is not what is measured
        f"q, k, v = (torch.randn(1, 1, 64, {d}, requires_grad=True) for _ in range(3))\n"
        f"({call}).sum().backward()\n"
        f"q, k, v = (torch.randn({b}, {h}, {n}, {d}, requires_grad={rg}) for _ in range(3))\n"
        f"fn = lambda: {call}\n"
    )


def _run_code(grad: bool) -> str:
    return "fn().sum().backward()\n" if grad else "with torch.no_grad():\n    fn()\n"


def _measure(method: str, n: int, cfg: Config) -> dict[str, Any]:
    row: dict[str, Any] = {"method": method, "n": n}
    for grad, label in ((False, "forward"), (True, "train")):
        env: dict[str, Any] = {
            "torch": torch,
            "F": F,
            "efficient_attention": efficient_attention,
            "scaled_dot_product_attention": scaled_dot_product_attention,
            "sliding_window_attention": sliding_window_attention,
        }
        exec(_setup_code(method, n, cfg, grad), env)  # noqa: S102 - our own generated code
        fn = env["fn"]
        if grad:

            def step(fn=fn):
                fn().sum().backward()
        else:

            def step(fn=fn):
                with torch.no_grad():
                    fn()

        row[f"{label}_ms"] = 1e3 * median_time(step, repeats=cfg.repeats)
        if cfg.memory:
            row[f"{label}_peak_mib"] = peak_memory_child(
                "import torch\n" + _setup_code(method, n, cfg, grad), _run_code(grad)
            )
        del env
    return row


def run(cfg: Config, out_dir: str | Path, progress: Progress = no_progress) -> dict[str, Any]:
    out_dir = Path(out_dir)
    started = time.perf_counter()
    jobs = [
        (m, n)
        for m in cfg.methods
        for n in cfg.lengths
        if not (m == "naive" and n > cfg.naive_max_len)
    ]
    rows = [_measure(m, n, cfg) for m, n in progress(jobs, "attention-complexity", len(jobs))]
    slopes = {}
    for m in cfg.methods:
        mine = [r for r in rows if r["method"] == m]
        ns = [r["n"] for r in mine]
        slopes[m] = {
            key: loglog_slope(ns, [r[key] for r in mine])
            for key in ("forward_ms", "train_ms", "forward_peak_mib", "train_peak_mib")
            if mine and key in mine[0]
        }
    structure = {m: _structure(m) for m in cfg.methods}
    figures = _plots(rows, slopes, cfg, out_dir)
    return {
        "experiment": "attention-complexity",
        "shape": {
            "batch": cfg.batch,
            "heads": cfg.heads,
            "head_dim": cfg.head_dim,
            "lstm_width": cfg.heads * cfg.head_dim,
        },  # fmt: skip
        "rows": rows,
        "slopes": slopes,
        "structure": structure,
        "figures": figures,
        "seconds": time.perf_counter() - started,
    }


def _structure(method: str) -> dict[str, str]:
    """The structural costs of one layer of ``method`` (Vaswani et al. 2017, Table 1)."""
    return {
        "sequential_steps": "n" if method == "lstm" else "1",
        "max_path_length": {"lstm": "n - 1", "banded": "⌈(n - 1) / w⌉"}.get(method, "1"),
        "time_per_layer": {"lstm": "O(n·d²)", "banded": "O(n·w·d)"}.get(method, "O(n²·d)"),
        "memory": {"naive": "O(n²)", "lstm": "O(n·d)", "banded": "O(n·w)"}.get(method, "O(n·d)"),
    }


def _plots(rows, slopes, cfg: Config, out_dir: Path) -> list[str]:
    files = []
    panels_t, panels_m = {}, {}
    for m in cfg.methods:
        mine = [r for r in rows if r["method"] == m]
        if not mine:
            continue
        ns = [r["n"] for r in mine]
        for key, title in (("forward_ms", "forward"), ("train_ms", "forward + backward")):
            label = f"{LABELS[m]} (slope {slopes[m][key]:.2f})"
            panels_t.setdefault(title, {})[label] = (ns, [r[key] for r in mine])
        if cfg.memory:
            for key, title in (
                ("forward_peak_mib", "forward"),
                ("train_peak_mib", "forward + backward"),
            ):
                vals = [max(r[key], 0.5) for r in mine]  # log axis: floor at the noise level
                label = f"{LABELS[m]} (slope {slopes[m][key]:.2f})"
                panels_m.setdefault(title, {})[label] = (ns, vals)
    files.append(plot_panels(panels_t, out_dir / "time_vs_n.png", xlabel="sequence length n",
                             ylabel="median time (ms)", logy=True, logx=True,
                             title="Time against n (log-log)"))  # fmt: skip
    if panels_m:
        files.append(plot_panels(panels_m, out_dir / "memory_vs_n.png", xlabel="sequence length n",
                                 ylabel="peak extra memory (MiB)", logy=True, logx=True,
                                 title="Peak memory against n (log-log)"))  # fmt: skip
    return [str(f) for f in files]


def _slope_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per method: its fitted slopes beside its structural costs."""
    nan = math.nan
    return [
        {"method": m, "slope_forward_ms": s.get("forward_ms", nan),
         "slope_train_ms": s.get("train_ms", nan),
         "slope_train_peak_mib": s.get("train_peak_mib", nan), **results["structure"][m]}
        for m, s in results["slopes"].items()
    ]  # fmt: skip


def tables(results: dict[str, Any]) -> list[Table | str]:
    """The measurements (method x n), then the log-log slopes with the structural costs."""
    measured = Table([
        Column("method"),
        Column("n"),
        Column("forward_ms", "forward ms", ".1f"),
        Column("train_ms", "fwd+bwd ms", ".1f"),
        Column("forward_peak_mib", "fwd peak MiB", ".0f", align="right"),  # memory=False: empty
        Column("train_peak_mib", "fwd+bwd peak MiB", ".0f", align="right"),
    ], results["rows"], name="rows")  # fmt: skip
    slopes = Table([
        Column("method"),
        Column("slope_forward_ms", "slope time fwd", ".2f"),
        Column("slope_train_ms", "slope time fwd+bwd", ".2f"),
        Column("slope_train_peak_mib", "slope memory fwd+bwd", ".2f"),
        Column("sequential_steps", "sequential steps"),
        Column("max_path_length", "max path"),
    ], _slope_rows(results), name="slopes")  # fmt: skip
    return [measured, slopes]


def table_text(results: dict[str, Any]) -> str:
    """The tables as Markdown (the name callers used before ``tables``)."""
    return render_markdown(tables(results))


EXPERIMENT = Experiment(
    name="attention-complexity",
    summary="Time and peak memory vs n: naive, efficient, torch SDPA, banded attention, an LSTM.",
    config_cls=Config,
    run=run,
    quick=quick,
    tables=tables,
)
