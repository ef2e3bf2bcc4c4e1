"""The output-folder lock: one writer, a clear error naming the other, stale locks reclaimed."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from seqattn.lock import LOCK_NAME, FolderLockedError, folder_lock

HOLD = (
    "import sys, time\nfrom seqattn.lock import folder_lock\n"
    "with folder_lock(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(30)\n"
)


def test_second_process_fails_naming_the_first(tmp_path):
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE,
                         text=True)  # fmt: skip
    try:
        assert p.stdout.readline().strip() == "held"
        with pytest.raises(FolderLockedError, match=f"pid {p.pid}"), folder_lock(tmp_path):
            pass
    finally:
        p.kill()
        p.wait(timeout=10)


def test_stale_lock_of_a_dead_pid_is_reclaimed(tmp_path, caplog):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    info = {"pid": dead.pid, "host": socket.gethostname(), "command": "x"}
    (tmp_path / LOCK_NAME).write_text(json.dumps(info))
    with folder_lock(tmp_path):
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
    assert "stale" in caplog.text
    assert not (tmp_path / LOCK_NAME).exists()


def test_released_on_exception(tmp_path):
    with pytest.raises(KeyError), folder_lock(tmp_path):
        raise KeyError("boom")
    assert not (tmp_path / LOCK_NAME).exists()
    with folder_lock(tmp_path):
        pass


def test_run_experiment_refuses_a_locked_folder(tmp_path):
    from seqattn.experiments.runner import run_experiment

    with folder_lock(tmp_path), pytest.raises(FolderLockedError, match=f"pid {os.getpid()}"):
        run_experiment("clipping", quick=True, out_dir=tmp_path)
    assert not (tmp_path / "config.yaml").exists()
