"""Every experiment's ``--quick`` results.json, captured and compared across a refactor.

    # before the change: capture
    python benchmarks/quick_parity.py run --out runs/parity/before
    # after it
    python benchmarks/quick_parity.py run --out runs/parity/after
    python benchmarks/quick_parity.py compare runs/parity/before runs/parity/after

``run`` starts each experiment with ``seqattn run NAME --quick`` in a fresh process, one torch
thread (so that reductions are ordered the same way in both captures), data from
``SEQATTN_DATA_DIR``. ``compare`` walks both results.json trees and reports every number that
differs, skipping what cannot repeat: wall times and speeds (keys naming seconds, ms, time,
speed or throughput), versions, the command line, and file paths under the run folder.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

# Keys whose values are measurements of time (or derived from it) or of the machine.
VOLATILE = ("seconds", "second", "_ms", "ms_", "time", "speed", "throughput", "per_s", "gflop",
            "tokens_per", "wall", "cpu_min", "elapsed", "date", "mib", "rss", "cpu")  # fmt: skip
SKIP_TOP = ("versions", "command")


def _volatile(key: str) -> bool:
    k = key.lower()
    return k == "ms" or any(v in k for v in VOLATILE)


def _experiments() -> list[str]:
    from seqattn.experiments import EXPERIMENTS

    return sorted(EXPERIMENTS)


def run(out: Path, names: list[str], timeout: float) -> int:
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    exe = Path(sys.executable).with_name("seqattn")
    failed = 0
    for name in names:
        started = time.time()
        cmd = [str(exe), "run", name, "--quick", "--out", str(out / name)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
            code, err = proc.returncode, proc.stderr[-400:]
        except subprocess.TimeoutExpired:
            code, err = -1, f"timed out after {timeout:.0f} s"
        failed += code != 0
        print(f"{name:<24} rc={code} {time.time() - started:7.1f} s {err.strip()[:200]}",
              flush=True)  # fmt: skip
    return 1 if failed else 0


def _walk(a, b, path: str, diffs: list[str], rel_tol: float) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if _volatile(str(key)):
                continue
            if key not in a or key not in b:
                diffs.append(f"{path}.{key}: only in {'after' if key in b else 'before'}")
                continue
            _walk(a[key], b[key], f"{path}.{key}", diffs, rel_tol)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            diffs.append(f"{path}: length {len(a)} != {len(b)}")
            return
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _walk(x, y, f"{path}[{i}]", diffs, rel_tol)
    elif isinstance(a, bool) or isinstance(b, bool):
        if a != b:
            diffs.append(f"{path}: {a!r} != {b!r}")
    elif isinstance(a, int | float) and isinstance(b, int | float):
        if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
            return
        if not math.isclose(a, b, rel_tol=rel_tol, abs_tol=0.0) and a != b:
            diffs.append(f"{path}: {a!r} != {b!r}")
    elif isinstance(a, str) and isinstance(b, str):
        # paths under the run folders differ by the folder name only
        if a != b and Path(a).name != Path(b).name:
            diffs.append(f"{path}: {a[:60]!r} != {b[:60]!r}")
    elif a != b:
        diffs.append(f"{path}: {str(a)[:60]!r} != {str(b)[:60]!r}")


def compare(before: Path, after: Path, rel_tol: float) -> int:
    bad = 0
    for res in sorted(before.glob("*/results.json")):
        name = res.parent.name
        other = after / name / "results.json"
        if not other.exists():
            print(f"{name:<24} MISSING in {after}")
            bad += 1
            continue
        a, b = json.loads(res.read_text()), json.loads(other.read_text())
        for key in SKIP_TOP:
            a.pop(key, None), b.pop(key, None)
        diffs: list[str] = []
        _walk(a, b, name, diffs, rel_tol)
        print(f"{name:<24} {'identical' if not diffs else f'{len(diffs)} differences'}")
        for d in diffs[:20]:
            print(f"    {d}")
        bad += bool(diffs)
    return 1 if bad else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="capture every experiment's --quick results.json")
    r.add_argument("--out", required=True, type=Path)
    r.add_argument("--only", nargs="*", help="these experiments only")
    r.add_argument("--timeout", type=float, default=1800.0)
    c = sub.add_parser("compare", help="compare two captures")
    c.add_argument("before", type=Path)
    c.add_argument("after", type=Path)
    c.add_argument("--rel-tol", type=float, default=0.0, help="0: bit-identical numbers")
    args = parser.parse_args()
    if args.cmd == "run":
        return run(args.out, args.only or _experiments(), args.timeout)
    return compare(args.before, args.after, args.rel_tol)


if __name__ == "__main__":
    sys.exit(main())
