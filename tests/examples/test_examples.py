"""Run every script in examples/ in a fresh process and check the numbers it prints."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_example(name: str, *args: str, cwd: Path | None = None) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        cwd=cwd,
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


def test_tanh_saturation_matches_the_chapter_table() -> None:
    out = run_example("tanh_saturation.py")
    for a, claimed in ((0.99, 0.02), (0.80, 0.36), (0.20, 0.96)):
        got = number(rf"tanh\(x\) = {a:.2f}: x = [\d.]+, tanh'\(x\) = ([\d.]+)", out)
        assert got == pytest.approx(1 - a * a, abs=1e-4)
        assert got == pytest.approx(claimed, abs=5e-3)
    assert number(r"20 steps at tanh = 0\.99: product of tanh' = ([\d.e+-]+)", out) < 1e-30


def test_gate_conventions_gru_reversed_and_forget_bias_two() -> None:
    out = run_example("gate_conventions.py")
    assert number(r"\(1-z\)\*n \+ z\*h\|   = ([\d.e+-]+)", out) < 1e-12
    assert number(r"\(1-z\)\*h \+ z\*n\|   = ([\d.e+-]+)", out) > 1e-2
    assert number(r"effective bias = ([\d.]+) \.\.", out) == 2.0
    assert number(r"forget gate at zero input = ([\d.]+)", out) == pytest.approx(0.881, abs=1e-3)


def test_jacobian_worked_example_and_rnn_step_layout() -> None:
    out = run_example("jacobian.py")
    assert "by autograd = [[2.0, 1.0], [6.0, 3.0]]" in out
    assert number(r"\|autograd - diag\(1-h\^2\) W_hh\|   = ([\d.e+-]+)", out) < 1e-12
    assert number(r"\|autograd - W_hh\^T diag\(1-h\^2\)\| = ([\d.e+-]+)", out) > 1e-3
    assert number(r"diag\(1-h\^2\) dL/dh: ([\d.e+-]+)", out) < 1e-12


def test_lstm_vs_linear_cost_lstm_is_slower() -> None:
    out = run_example("lstm_vs_linear_cost.py")
    lstm = number(r"LSTM forward pass: ([\d.]+) ms", out)
    linear = number(r"Linear forward pass: ([\d.]+) ms", out)
    assert lstm > linear > 0
    assert number(r"Speedup: ([\d.]+)x", out) == pytest.approx(lstm / linear, rel=0.05)


def test_two_layer_rnn_states_forgets_the_first_token_and_plots(tmp_path: Path) -> None:
    out = run_example("two_layer_rnn_states.py", str(tmp_path / "states.png"), cwd=tmp_path)
    for layer in ("layer 1", "layer 2"):
        pattern = rf"{layer}: spike memory ratio dist\[29\] / dist\[0\] = ([\d.e+-]+)"
        assert number(pattern, out) < 1e-4
    assert (tmp_path / "states.png").stat().st_size > 1000


def test_static_vs_contextual_bank() -> None:
    out = run_example("static_vs_contextual.py")
    assert number(r"static cosine \(river vs loan\) = ([\d.-]+)", out) == pytest.approx(1.0)
    assert number(r"contextual cosine \(river vs loan\) = ([\d.-]+)", out) < 0.999


def agreement_rows(out: str, regime: str) -> dict[int, dict[str, float]]:
    section = out.split(f"trained on {regime}")[1].split("trained on")[0]
    rows = re.findall(r"clause length +(\d+): (.+)", section)
    assert [int(n) for n, _ in rows] == [5, 10, 25, 50, 100], section
    table = {}
    for n, row in rows:
        table[int(n)] = {k.strip(): float(v) for k, v in re.findall(r"([a-z -]+?) ([\d.]+)", row)}
    return table


def test_subject_verb_agreement_attention_learns_what_last_state_cannot() -> None:
    out = run_example("subject_verb_agreement.py")
    assert len(re.findall(r"nearest noun 0\.000,", out)) == 5  # every test noun is an attractor
    short = agreement_rows(out, "short to long")
    long_only = agreement_rows(out, "long only")
    for length in (5, 10, 25, 50, 100):
        assert set(short[length]) == {"rnn last-state", "lstm last-state", "lstm attention"}
        assert min(short[length].values()) >= 0.95, short[length]
        assert long_only[length]["lstm attention"] >= 0.95, long_only[length]
    assert long_only[100]["lstm last-state"] <= 0.75, long_only[100]
    assert long_only[100]["rnn last-state"] <= 0.85, long_only[100]
