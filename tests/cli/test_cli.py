"""The seqattn command and the vanishing-gradients experiment, end to end (quick scale)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from seqattn.cli.main import main
from seqattn.experiments import get
from seqattn.experiments.vanishing_gradients import Config, run


def test_help_and_list(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    assert "run" in capsys.readouterr().out
    assert main(["run", "--list"]) == 0
    assert "vanishing-gradients" in capsys.readouterr().out


def test_unknown_experiment(capsys):
    assert main(["run", "no-such-thing"]) == 2
    assert "expected an experiment from ['vanishing-gradients'], got 'no-such-thing'" in (
        capsys.readouterr().err
    )


def test_console_script_entry_point():
    out = subprocess.run(
        [sys.executable, "-m", "seqattn.cli.main", "run", "--list"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "vanishing-gradients" in out.stdout


def test_vanishing_gradients_quick_run_writes_results(tmp_path, capsys):
    assert (
        main(["run", "vanishing-gradients", "--quick", "--seed", "3", "--out", str(tmp_path)]) == 0
    )
    payload = json.loads((tmp_path / "results.json").read_text())
    assert payload["config"]["seeds"] == 5 and payload["config"]["seed"] == 3
    assert payload["versions"]["torch"].startswith("2.")
    assert (tmp_path / "gradient_norms.png").stat().st_size > 10_000
    assert (tmp_path / "jacobian_products.png").stat().st_size > 10_000
    rows = {(r["cell"], r["init"]): r for r in payload["results"]["table"]}
    assert len(rows) == 12
    # The classic claim, as measured: a vanilla RNN's gradient at step 0 is many orders of
    # magnitude below step 99, and the state dynamics contract (λ < 0).
    rnn = rows[("rnn", "default")]
    assert rnn["input_ratio_last_over_0"] > 1e5
    assert rnn["lyapunov_mean"] < 0
    # Forget-gate bias 1 and identity init keep far more gradient than the default LSTM.
    assert rows[("lstm_fb1", "identity")]["input_ratio_last_over_0"] < 1e3
    assert (
        rows[("lstm_fb1", "default")]["input_ratio_last_over_0"]
        < 1e-6 * rows[("lstm", "default")]["input_ratio_last_over_0"]
    )
    assert "| RNN | default |" in capsys.readouterr().out


def test_config_validation():
    with pytest.raises(ValueError, match="expected cells from"):
        Config(cells=("transformer",))
    with pytest.raises(ValueError, match="expected hidden_size to be a positive int, got 0"):
        Config(hidden_size=0)
    assert get("vanishing-gradients").quick(Config()).seeds == 5


def test_run_is_deterministic(tmp_path):
    cfg = Config(seeds=2, length=20, cells=("gru",), inits=("default",), jacobian=False)
    a = run(cfg, tmp_path / "a")
    b = run(cfg, tmp_path / "b")
    assert a["table"] == b["table"]
