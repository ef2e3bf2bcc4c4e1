"""The `memn2n` experiment's bAbI 10k path: a task whose file is missing is skipped and named
(a temp data dir built here), finished tasks are saved and reused with ``resume``, and a quick
10k run on the real data (skips when the data dir is absent)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from seqattn.data.datasets import babi_file, load_babi
from seqattn.experiments import memn2n as E

ROOMS = ("kitchen", "garden", "hallway", "office", "bathroom")
PEOPLE = ("Mary", "John", "Sandra", "Daniel")


def _task1_lines(n: int) -> str:
    """``n`` two-sentence task-1 stories in the bAbI file format."""
    lines = []
    for i in range(n):
        a, b = PEOPLE[i % 4], PEOPLE[(i + 1) % 4]
        ra, rb = ROOMS[i % 5], ROOMS[(i + 2) % 5]
        lines += [f"1 {a} went to the {ra}.", f"2 {b} moved to the {rb}.",
                  f"3 Where is {a}? \t{ra}\t1"]  # fmt: skip
    return "\n".join(lines) + "\n"


def _babi_dir(tmp_path: Path, files: dict[tuple[int, str], str]) -> Path:
    """A data dir holding the given (task, split) files of bAbI ``en-10k``."""
    for (task, split), text in files.items():
        path = tmp_path / "babi" / babi_file(task, split, "10k")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def _tiny(root: Path, **kw) -> E.Config:
    return E.Config(size="10k", data_dir=str(root), repeats=1, epochs=1, ls_max_epochs=1,
                    attention_views=1, **kw)  # fmt: skip


def test_a_task_without_its_training_file_is_skipped_and_named(tmp_path, caplog):
    # task 2 has its test file but no training file (as task 3 in the shared en-10k copy)
    root = _babi_dir(tmp_path / "data", {(1, "train"): _task1_lines(40),
                                         (1, "test"): _task1_lines(10),
                                         (2, "test"): _task1_lines(10)})  # fmt: skip
    missing = root / "babi" / babi_file(2, "train", "10k")
    with caplog.at_level(logging.WARNING, logger="seqattn"):
        res = E.run(_tiny(root, tasks="1-2"), tmp_path / "run")
    assert res["tasks_run"] == [1] and [r["task"] for r in res["table"]] == [1]
    assert res["skipped_tasks"] == [{"task": 2, "file": str(missing)}]
    assert res["task"].startswith("bAbI 10k tasks 1: ")
    assert res["task"].endswith(f"; task 2 skipped, no file {missing}")
    assert f"task 2 skipped: {missing} is missing" in caplog.text
    (table,) = E.tables(res)
    assert f"task 2 skipped, no file {missing}" in table.title
    # nothing to run at all is an error that names every missing file
    with pytest.raises(ValueError, match=rf"expected the bAbI files .*{missing.name}"):
        E.run(_tiny(root, tasks="2"), tmp_path / "run2")


def test_finished_tasks_are_saved_and_reused_with_resume(tmp_path):
    root = _babi_dir(tmp_path / "data", {(1, "train"): _task1_lines(40),
                                         (1, "test"): _task1_lines(10)})  # fmt: skip
    out = tmp_path / "run"
    first = E.run(_tiny(root, tasks="1"), out)
    saved = out / "groups" / "task1.json"
    assert saved.is_file() and first["resumed_tasks"] == []
    # a task saved before the paper column was filled in gets the column as it is now
    blob = json.loads(saved.read_text())
    blob["result"]["rows"][0]["paper_pe_ls_rn"] = None
    saved.write_text(json.dumps(blob))
    again = E.run(_tiny(root, tasks="1", resume=True, workers=2), out)
    assert again["resumed_tasks"] == [1]
    assert again["table"][0]["paper_pe_ls_rn"] == E.PAPER_10K_PE_LS_RN[1]
    assert again["table"][0]["test_error"] == first["table"][0]["test_error"]
    assert again["metrics"] == first["metrics"]
    # another setting that shapes training: trained again, not reused
    other = E.run(_tiny(root, tasks="1", resume=True, seed=1), out)
    assert other["resumed_tasks"] == []


def test_the_10k_paper_column_reproduces_its_summary():
    errs = E.PAPER_10K_PE_LS_RN
    assert sorted(errs) == list(range(1, 21))
    assert round(sum(errs.values()) / 20, 1) == E.PAPER_10K_MEAN
    assert sum(e > E.FAIL_THRESHOLD for e in errs.values()) == E.PAPER_10K_FAILED


@pytest.mark.data
def test_quick_10k_run_reads_en_10k(data_dir, tmp_path):
    folder = data_dir / "babi" / "tasks_1-20_v1-2" / "en-10k"
    if not folder.is_dir():
        pytest.skip(f"bAbI en-10k folder absent: {folder}")
    assert len(load_babi(1, "train", "10k", data_dir)) == 10_000
    cfg = E.Config(tasks="1,3", size="10k", repeats=1, epochs=2, ls_max_epochs=1,
                   max_train=300, max_test=100, data_dir=str(data_dir),
                   attention_views=1)  # fmt: skip
    res = E.run(cfg, tmp_path)
    has_qa3 = (data_dir / "babi" / babi_file(3, "train", "10k")).is_file()
    assert res["tasks_run"] == ([1, 3] if has_qa3 else [1])
    assert [s["task"] for s in res["skipped_tasks"]] == ([] if has_qa3 else [3])
    row = res["table"][0]
    assert row["task"] == 1 and row["paper_pe_ls_rn"] == E.PAPER_10K_PE_LS_RN[1]
    assert row["complete"] and 0.0 <= row["test_error"] <= 100.0
