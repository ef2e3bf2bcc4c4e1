"""The run lifecycle from Python (no argv), and the shared experiment toolkit."""

import json
import math

import pytest
import torch

from seqattn.experiments import EXPERIMENTS, RunRecord, run_experiment
from seqattn.experiments.toolkit import attention_view, mean_std, seeds, torch_threads, worker_map


def test_run_experiment_from_python_writes_the_run_folder(tmp_path):
    before = torch.get_num_threads()
    record = run_experiment(
        "attention-scores", out_dir=tmp_path / "run", quick=True,
        overrides={"steps": 20, "seeds": 1, "eval_examples": 64, "scores": ["dot"]},
    )  # fmt: skip
    assert isinstance(record, RunRecord)
    assert torch.get_num_threads() == before
    for name in ("config.yaml", "results.json", "metrics.jsonl", "report.html"):
        assert (tmp_path / "run" / name).is_file(), name
    payload = json.loads(record.results_path.read_text())
    assert payload["quick"] is True and payload["config"]["steps"] == 20
    assert payload["results"] == json.loads(json.dumps(record.results))
    # the recorded command reproduces the run from its saved config
    assert "--config" in payload["command"] and "attention-scores" in payload["command"]
    assert "<table" in record.report_path.read_text()
    assert record.table.startswith(EXPERIMENTS["attention-scores"].table(record.results)[:20])


def test_run_experiment_rejects_bad_input(tmp_path):
    from seqattn.config import ConfigError

    with pytest.raises(ValueError, match="expected an experiment"):
        run_experiment("no-such-experiment", out_dir=tmp_path)
    with pytest.raises(ConfigError):
        run_experiment("clipping", out_dir=tmp_path, overrides={"no_such_key": 1})
    with pytest.raises(TypeError, match="expected a Config"):
        run_experiment("clipping", cfg=object(), out_dir=tmp_path)


def test_mean_std_matches_statistics():
    assert mean_std([1.0, 2.0, 4.0]) == pytest.approx((7 / 3, 1.5275252316519468))
    assert mean_std([3.0]) == (3.0, 0.0)
    m, s = mean_std([1.0, math.nan])
    assert math.isnan(m) and math.isnan(s)
    with pytest.raises(ValueError, match="at least one"):
        mean_std([])
    assert seeds(5, 3) == [5, 6, 7]
    with pytest.raises(ValueError, match="repeat count"):
        seeds(0, 0)


def test_torch_threads_restores_the_callers_count():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError), torch_threads(1):
        assert torch.get_num_threads() == 1
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before


def _square_with_threads(x):
    return x * x, torch.get_num_threads()


def test_worker_map_in_process_and_spawned():
    torch.set_num_threads(2)
    try:
        serial = worker_map(_square_with_threads, [(1,), (2,), (3,)], workers=1, threads=1)
        assert serial == [(1, 1), (4, 1), (9, 1)] and torch.get_num_threads() == 2
        spawned = worker_map(_square_with_threads, [(4,), (5,)], workers=2, threads=1)
        assert spawned == [(16, 1), (25, 1)] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)
    with pytest.raises(ValueError, match="workers"):
        worker_map(_square_with_threads, [(1,)], workers=0)


def test_attention_view_is_checked_and_json_ready():
    view = attention_view(torch.tensor([[0.5, 0.5]]), keys=["a", "b"], queries=["q"], title="t")
    assert view == {"weights": [[0.5, 0.5]], "keys": ["a", "b"], "queries": ["q"], "title": "t"}
    with pytest.raises(ValueError, match="key labels"):
        attention_view([[0.5, 0.5]], keys=["a"])
