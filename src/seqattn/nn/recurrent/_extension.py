"""Build and load the compiled fast path (``seqattn/csrc/recurrent.cpp``) on first use.

The build machinery (compiler and ninja checks, the cache name, the stale-lock cleanup, the
one-off announcement) is :mod:`seqattn._extension`, shared with the minGRU and attention
kernels. When the extension is unavailable, or ``SEQATTN_NO_EXT=1`` is set, :func:`load`
returns None once and for all in this process and logs why; the layers then fall back to
Python (see :mod:`.fast`).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from seqattn._extension import (  # noqa: F401  (re-exported: tests and callers use them here)
    SLOW_LOAD_S,
    STALE_LOCK_S,
    _flags,
    _stage,
    _why_not,
    build_once,
    cache_name,
    clear_stale_lock,
)

__all__ = ["load", "unavailable_reason", "build_seconds"]

log = logging.getLogger(__name__)

_SOURCE = Path(__file__).resolve().parents[2] / "csrc" / "recurrent.cpp"
_lock = threading.Lock()
_state: dict = {}


def load():
    """The compiled module (``forward``/``backward``), or None with the reason logged once."""
    fallback = "backend 'auto' runs the reference loop, 'fast' its Python engine"
    return build_once(_state, _lock, _SOURCE, "seqattn_recurrent_", "recurrent", fallback, log)


def unavailable_reason() -> str | None:
    """Why the extension is not in use (None when it is loaded), after :func:`load`."""
    load()
    return _state.get("reason")


def build_seconds() -> float | None:
    """Seconds :func:`load` took in this process (compile on first use, else a cache load)."""
    load()
    return _state.get("seconds")
