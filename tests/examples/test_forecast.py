"""examples/forecast_sunspots.py: the numbers it prints, against the naive floor."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("statsmodels", reason="needs statsmodels (the dev extra) for its sunspots data")

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "forecast_sunspots.py"


def test_forecasts_beat_persistence():
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True,
                          timeout=300, check=False, env={"OMP_NUM_THREADS": "1",
                                                         "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = done.stdout

    def rmse(name: str) -> float:
        found = re.search(rf"{name}.*?RMSE ([\d.]+)", out)
        assert found is not None, out
        return float(found.group(1))

    naive, linear, lstm = rmse("naive"), rmse("linear AR"), rmse("LSTM")
    assert naive == pytest.approx(30.44, abs=0.01)  # persistence: no randomness at all
    assert linear == pytest.approx(17.44, abs=0.01)  # least squares, deterministic
    assert linear < 0.7 * naive and lstm < 0.8 * naive
    assert "88 years, one step ahead" in out
