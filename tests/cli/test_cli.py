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
    assert "expected an experiment from ['attention-complexity', 'attention-scores', " in (
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
    cmd = f"seqattn run vanishing-gradients --quick --seed 3 --out {tmp_path}"
    assert payload["command"] == cmd
    assert (tmp_path / "gradient_norms.png").stat().st_size > 10_000
    assert (tmp_path / "jacobian_products.png").stat().st_size > 10_000
    captured = capsys.readouterr()
    err = captured.err  # not a terminal: progress as plain lines, every phase
    assert "vanishing-gradients: started (" in err and "vanishing-gradients: done after" in err
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
    # Attention gives early tokens a direct gradient path: with attention pooling over the
    # LSTM's states, position 0 gets as much gradient as the last position.
    pos = {r["model"]: r for r in payload["results"]["position_table"]}
    assert pos["lstm_last"]["ratio_last_over_0"] > 1e10
    assert pos["lstm_attention"]["ratio_last_over_0"] < 10
    assert pos["transformer"]["grad_step0"] > 1e-4
    assert "| RNN | default |" in captured.out


def test_config_validation():
    with pytest.raises(ValueError, match="expected cells from"):
        Config(cells=("transformer",))
    with pytest.raises(ValueError, match="expected hidden_size to be a positive int, got 0"):
        Config(hidden_size=0)
    assert get("vanishing-gradients").quick(Config()).seeds == 5


def test_run_is_deterministic(tmp_path):
    cfg = Config(seeds=2, length=20, cells=("gru",), inits=("default",), jacobian=False,
                 position_models=("transformer",))  # fmt: skip
    a = run(cfg, tmp_path / "a")
    b = run(cfg, tmp_path / "b")
    assert a["table"] == b["table"] and a["position_table"] == b["position_table"]
    from seqattn.experiments.vanishing_gradients import tables

    cells, positions = tables(a)
    assert cells.cells() == [["GRU", "default", *cells.cells()[0][2:5], "-"]]  # no Jacobian
    assert cells.to_markdown().splitlines()[1] == "|---|---|---:|---:|---:|---:|"
    assert positions.cells()[0][0] == "self-attention encoder, loss at position T-1"


def test_attention_scores_tiny_run_learns(tmp_path):
    from seqattn.experiments.attention_scores import Config as ScoresConfig
    from seqattn.experiments.attention_scores import run as run_scores

    cfg = ScoresConfig(scores=("scaled_dot", "additive"), pairs=4, num_keys=8, num_values=8,
                       dim=16, steps=300, seeds=1, eval_examples=500)  # fmt: skip
    res = run_scores(cfg, tmp_path)
    rows = {r["score"]: r for r in res["table"]}
    assert rows["scaled_dot"]["score_params"] == 0
    assert rows["additive"]["score_params"] == 16 * 16 * 2 + 16 + 16  # W_q, W_k, b, v
    for r in rows.values():  # chance is 1/8
        assert r["accuracy_mean"] > 0.9, r
        assert r["weight_on_answer"] > 0.5, r
    assert (tmp_path / "attention_additive.png").exists()
    from seqattn.experiments.attention_scores import tables

    (table,) = tables(res)
    row = table.cells()[1]
    assert row[0] == "additive" and row[1] == f"{rows['additive']['accuracy_mean']:.3f} ± 0.000"
    assert row[4:] == ["544", str(rows["additive"]["total_params"])]


def test_attention_complexity_tiny_run(tmp_path):
    from seqattn.experiments.attention_complexity import Config as CxConfig
    from seqattn.experiments.attention_complexity import run as run_cx

    cfg = CxConfig(lengths=(256, 2048), batch=1, heads=2, head_dim=16, repeats=1,
                   methods=("naive", "efficient", "lstm"))  # fmt: skip
    res = run_cx(cfg, tmp_path)
    mem = {(r["method"], r["n"]): r["train_peak_mib"] for r in res["rows"]}
    # the n x n matrices of naive attention dominate at n = 2048; the blocked version stays small
    assert mem[("naive", 2048)] > 3 * mem[("efficient", 2048)]
    assert res["structure"]["lstm"]["sequential_steps"] == "n"
    assert (tmp_path / "memory_vs_n.png").exists()
    from seqattn.experiments.attention_complexity import tables

    measured, slopes = tables(res)
    assert [row[:2] for row in measured.cells()][:2] == [["naive", "256"], ["naive", "2048"]]
    assert [row[0] for row in slopes.cells()] == ["naive", "efficient", "lstm"]
    assert slopes.cells()[2][4:] == ["n", "n - 1"]  # sequential steps, max path of the LSTM


def test_run_dataset_shortcut_and_a_bad_data_file_is_a_message(tmp_path, capsys):
    bad = tmp_path / "reviews.csv"
    bad.write_text("body,stars\ngreat film,1\n", encoding="utf-8")  # no text/label columns
    code = main(["run", "sentiment", "--dataset", str(bad), "--out", str(tmp_path / "run"),
                 "--set", "epochs=1"])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("seqattn run sentiment: ") and "reviews.csv" in err
    assert "Traceback" not in err
    assert not (tmp_path / "run" / "results.json").exists()


def test_help_shows_each_options_default(capsys):
    """--help names each option's default: read from the config class for the train options
    (so the help cannot drift from what training uses), from argparse for the rest."""
    from seqattn.cli.main import build_parser
    from seqattn.pipelines.classification_config import TextClassifierConfig

    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "classify", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    cfg = TextClassifierConfig()
    assert f"--epochs EPOCHS training epochs (default: {cfg.epochs})" in text
    assert f"(default: {cfg.model.hidden_size})" in text
    assert "(default: none)" in text  # --max-vocab is unset by default
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "translate", "--help"])
    assert "(default: " in capsys.readouterr().out


def test_building_the_parser_imports_no_torch():
    import subprocess
    import sys

    code = (
        "import sys; from seqattn.cli.main import build_parser; build_parser(); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_progress_lines_say_started_how_far_and_done_or_stopped():
    import io

    from seqattn.cli.main import progress_lines

    out = io.StringIO()
    assert list(progress_lines(range(3), "train", 3, every_s=0.0, stream=out)) == [0, 1, 2]
    lines = out.getvalue().splitlines()
    assert lines[0] == "train: started (3 steps)" and lines[1].startswith("train: 1/3 (")
    assert lines[-1].startswith("train: done after 3/3 in ")
    out = io.StringIO()
    gen = progress_lines(range(10), "loop", None, stream=out)
    next(gen)
    gen.close()  # a budget ended the loop early
    assert out.getvalue().splitlines()[-1].startswith("loop: stopped after 1 in ")
