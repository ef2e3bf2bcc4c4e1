"""Build and load seqattn's C++ extensions (``seqattn/csrc/*.cpp``) on first use.

Each C++ source ships inside the package and is JIT-compiled with
:func:`torch.utils.cpp_extension.load` into torch's extension cache
(``$TORCH_EXTENSIONS_DIR``, default ``~/.cache/torch_extensions``) the first time a layer needs
it; later processes load the cached build. That needs a C++ compiler (``$CXX`` or ``c++``) and
``ninja`` (torch's JIT builder insists on it). When something is missing, or
``SEQATTN_NO_EXT=1`` is set, or the build fails, :func:`build_once` returns None once and for
all in this process and logs why; the callers then fall back to Python.

A layer of its own (torch and the standard library only) so that both ``functional`` (the
fused attention kernel) and ``nn`` (the recurrent and minGRU kernels) can build through it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import sysconfig
import threading
import time
from pathlib import Path

import torch

__all__ = ["build_once", "cache_name", "clear_stale_lock", "SLOW_LOAD_S", "STALE_LOCK_S"]

log = logging.getLogger(__name__)


def _flags() -> tuple[str, list[str]]:
    """Extension name and compiler flags for this CPU.

    The gate kernels use ATen's ``Vectorized`` (SLEEF exp from libtorch); AVX2/AVX-512 code
    is compiled only where torch itself runs at that level, and the level is part of the
    name so one cache directory can serve machines of different levels. ``-fopenmp`` where
    torch uses OpenMP, so that ``at::parallel_for`` in the kernels runs on torch's threads.
    """
    cap = torch.backends.cpu.get_cpu_capability()
    flags = ["-O3", "-fno-math-errno"]
    if torch.backends.openmp.is_available():
        # at::parallel_for is a header template: without -fopenmp (_OPENMP undefined) it runs
        # serially in the extension. Compile-only: the GOMP symbols bind to the libgomp torch
        # has already loaded (a dependency of libtorch_cpu), not to a second OpenMP runtime.
        flags.append("-fopenmp")
    level = "default"
    if cap == "AVX512":
        flags += ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mfma", "-mf16c"]
        flags += ["-DCPU_CAPABILITY=AVX512", "-DCPU_CAPABILITY_AVX512"]
        level = "avx512"
    elif cap == "AVX2":
        flags += ["-mavx2", "-mfma", "-mf16c", "-DCPU_CAPABILITY=AVX2", "-DCPU_CAPABILITY_AVX2"]
        level = "avx2"
    return f"seqattn_recurrent_{level}", flags


#: A cache load slower than this is announced (a load from the cache takes well under 1 s).
SLOW_LOAD_S = 3.0

#: A build lock older than this is stale (a build takes about 40 s of CPU, minutes when loaded).
STALE_LOCK_S = 900.0


def clear_stale_lock(name: str, logger: logging.Logger, max_age_s: float = STALE_LOCK_S) -> bool:
    """Remove the JIT build lock of extension ``name`` if it is older than ``max_age_s``, or
    older than the built library (the build it guarded finished).

    torch's builder guards a build with a ``lock`` file in the build directory and waits for
    it to go away, forever; a build killed half-way (a timeout, Ctrl-C, an out-of-memory kill)
    leaves it behind and every later process hangs. A process killed after linking but before
    releasing it leaves one beside a complete library: that one is stale at once (a new build
    takes a new lock, newer than the library). Returns whether a lock was removed.
    """
    try:
        from torch.utils.cpp_extension import _get_build_directory

        build = Path(_get_build_directory(name, verbose=False))
        lock = build / "lock"
        locked_at = lock.stat().st_mtime
    except (OSError, ImportError, AttributeError):
        return False  # no lock (the usual case), or a torch without the helper
    age = time.time() - locked_at
    library = build / f"{name}.so"
    finished = library.is_file() and library.stat().st_mtime > locked_at
    if age <= max_age_s and not finished:
        return False
    why = "its build finished" if finished else "a build was killed half-way"
    logger.warning("removing a stale build lock %s (%.0f s old: %s)", lock, age, why)
    lock.unlink(missing_ok=True)
    return True


def _why_not() -> str | None:
    if os.environ.get("SEQATTN_NO_EXT", "") not in ("", "0"):
        return "disabled by SEQATTN_NO_EXT"
    compiler = os.environ.get("CXX", "c++")
    if shutil.which(compiler) is None:
        return f"no C++ compiler ({compiler!r} not on PATH)"
    from torch.utils.cpp_extension import is_ninja_available

    if shutil.which("ninja") is None:
        # the `ninja` wheel (a dependency) lives in the virtualenv's bin, which is not on PATH
        # when the venv's python runs without activation (as `make test` does)
        try:
            import ninja

            os.environ["PATH"] = ninja.BIN_DIR + os.pathsep + os.environ.get("PATH", "")
        except ImportError:
            pass
    if not is_ninja_available():
        return "ninja not found (torch's JIT builder needs it: `pip install ninja`)"
    return None


def cache_name(base: str, source: Path, flags: list[str]) -> str:
    """``base`` + a digest of the source text, the flags, the torch version and the torch
    installation it compiles against.

    The build cache is keyed by content and installation, not by checkout: the source is staged
    at one path per name, so a reinstall or a second clone using the same environment reuses
    the build; another virtualenv (its own torch headers, so its own ninja command lines) gets
    its own name instead of rebuilding over this one's each time the two alternate; a changed
    source gets a new name (a process that has loaded the old build keeps working).

    The installation is keyed by the paths exactly as they appear on the compiler's command
    line (torch's include and library paths and Python's include, unresolved): the same
    virtualenv reached through a symlink (the docs' snippet test links ``.venv``) writes other
    command lines, and sharing one name made ninja rebuild silently each time the two met."""
    from torch.utils.cpp_extension import include_paths, library_paths

    digest = hashlib.sha256(source.read_bytes())
    paths = [*include_paths(), *library_paths(), sysconfig.get_paths()["include"]]
    digest.update("\0".join([*flags, torch.__version__, *paths]).encode())
    return f"{base}_{digest.hexdigest()[:12]}"


def _stage(name: str, source: Path) -> tuple[Path, bool]:
    """Copy ``source`` into the build directory of ``name`` (same bytes at the same path for
    every checkout, so ninja sees nothing changed); returns the copy and whether the library is
    already built there."""
    from torch.utils.cpp_extension import _get_build_directory

    build = Path(_get_build_directory(name, verbose=False))
    staged = build / source.name
    text = source.read_bytes()
    if not staged.is_file() or staged.read_bytes() != text:
        tmp = staged.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(text)
        os.replace(tmp, staged)  # atomic: a concurrent build never reads half a file
    return staged, (build / f"{name}.so").is_file()


def build_once(
    state: dict,
    lock,
    source: Path,
    prefix: str,
    what: str,
    fallback: str,
    logger: logging.Logger = log,
    expected_s: int = 40,
):
    """Build (or load from torch's cache) the extension ``source`` once per process.

    ``state`` and ``lock`` are the caller's; ``prefix`` replaces ``seqattn_recurrent_`` in the
    module name (one name per source and instruction set); ``what`` names the extension in the
    messages of ``logger`` (the caller's module logger), ``fallback`` says what runs without
    it; a compile (not a cache load) is announced at WARNING level with ``expected_s``.
    Returns the module, or None with the reason in ``state["reason"]``, logged once (a broken
    toolchain must not break the layers)."""
    if "done" in state:
        return state.get("module")
    with lock:
        if "done" in state:
            return state.get("module")
        reason = _why_not()  # SEQATTN_NO_EXT, compiler, ninja
        if reason is None and not source.is_file():
            reason = f"C++ source not found at {source}"
        module = None
        if reason is None:
            name, flags = _flags()
            name = cache_name(name.replace("seqattn_recurrent_", prefix), source, flags)
            start = time.perf_counter()
            try:
                from torch.utils.cpp_extension import load as _load

                clear_stale_lock(name, logger)
                staged, built = _stage(name, source)
                if not built:
                    logger.warning("seqattn: compiling the %s C++ extension (once per installed "
                                   "version, about %d s; later runs load it in well under a "
                                   "second)", what, expected_s)  # fmt: skip
                # a load that is slow anyway (ninja rebuilding a changed command line or
                # header, another process's build holding the lock) is announced too
                note = ("seqattn: the %s C++ extension is still loading after %.0f s (a "
                        "rebuild, or another process's build; about %d s)")  # fmt: skip
                slow = threading.Timer(SLOW_LOAD_S, logger.warning,
                                       (note, what, SLOW_LOAD_S, expected_s))  # fmt: skip
                slow.daemon = True
                if built:
                    slow.start()
                try:
                    module = _load(name, [str(staged)], extra_cflags=flags, verbose=False)
                finally:
                    slow.cancel()
            except Exception as err:
                reason = f"build failed: {type(err).__name__}: {str(err)[-500:]}"
            else:
                state["seconds"] = time.perf_counter() - start
                logger.info("seqattn %s extension %s ready in %.1f s", what, name,
                            state["seconds"])  # fmt: skip
        if module is None:
            logger.warning("seqattn %s: compiled extension unavailable (%s); %s", what, reason,
                           fallback)  # fmt: skip
        state.update(done=True, module=module, reason=reason)
        return module
