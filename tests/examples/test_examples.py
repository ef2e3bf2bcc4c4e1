"""Run every script in examples/ in a fresh process and check the numbers it prints."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_example(name: str) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def number(pattern: str, text: str) -> float:
    found = re.search(pattern, text)
    assert found is not None, f"{pattern!r} not in output:\n{text}"
    return float(found.group(1))


def test_exploding_vanishing_prints_the_powers_and_a_decay() -> None:
    out = run_example("exploding_vanishing.py")
    assert number(r"0\.9\*\*100 = ([\d.e+-]+)", out) == pytest.approx(0.9**100, rel=1e-3)
    assert number(r"1\.1\*\*100 = ([\d.e+-]+)", out) == pytest.approx(1.1**100, rel=1e-3)
    first = number(r"step   0: grad norm ([\d.e+-]+)", out)
    last = number(r"step  99: grad norm ([\d.e+-]+)", out)
    assert 0 < first < 1e-6 * last
    assert number(r"decay ratio grad\[0\] / grad\[99\] = ([\d.e+-]+)", out) < 1e-6


def test_bahdanau_tiny_corrects_the_mini_softmax_and_matches_by_hand() -> None:
    out = run_example("bahdanau_tiny.py")
    found = re.search(r"softmax = \[([\d.]+), ([\d.]+), ([\d.]+)\]", out)
    assert found is not None, out
    assert [float(g) for g in found.groups()] == [0.778, 0.116, 0.105]
    assert number(r"manual recompute max \|diff\| = ([\d.e+-]+)", out) < 1e-12
    sums = re.findall(r"sum tensor\(([\d.]+)", out)
    assert len(sums) == 2 and all(float(s) == pytest.approx(1.0) for s in sums)
