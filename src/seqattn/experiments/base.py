"""What every experiment shares: the registry entry, results files, versions, progress hook."""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import torch

from seqattn.io import atomic_write_json

T = TypeVar("T")
Progress = Callable[[Iterable[T], str, int], Iterable[T]]


def no_progress(items: Iterable[T], desc: str = "", total: int | None = None) -> Iterable[T]:
    """The library's default progress hook: none (the CLI passes a progress bar)."""
    return items


@dataclass(frozen=True)
class Experiment:
    """A runnable experiment: ``run(cfg, out_dir, progress) -> results dict``."""

    name: str
    summary: str
    config_cls: type
    run: Callable[..., dict[str, Any]]
    quick: Callable[[Any], Any]  # full config -> quick config
    table: Callable[[dict[str, Any]], str]  # results -> Markdown table


def versions() -> dict[str, str]:
    """Versions and machine facts recorded with every result."""
    import numpy

    import seqattn

    return {
        "seqattn": seqattn.__version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": str(os.cpu_count()),
        "torch_threads": str(torch.get_num_threads()),
        "cuda": torch.version.cuda or "none",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write_json_atomic(path: str | Path, payload: Any) -> Path:
    """Write JSON to ``path`` atomically (see :mod:`seqattn.io`)."""
    return atomic_write_json(path, payload)
