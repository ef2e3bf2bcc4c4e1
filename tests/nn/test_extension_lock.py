"""A build lock left by a killed build must not hang every later process."""

from __future__ import annotations

import logging
import os
import time

from seqattn.nn.recurrent import _extension


def test_stale_build_lock_is_removed_and_a_fresh_one_kept(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    log = logging.getLogger("test.extension")
    assert not _extension.clear_stale_lock("seqattn_lock_probe", log)  # no lock at all
    lock = tmp_path / "seqattn_lock_probe" / "lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.touch()
    assert not _extension.clear_stale_lock("seqattn_lock_probe", log)  # a build in progress
    assert lock.exists()
    old = time.time() - 2 * _extension.STALE_LOCK_S
    os.utime(lock, (old, old))
    with caplog.at_level(logging.WARNING, logger="test.extension"):
        assert _extension.clear_stale_lock("seqattn_lock_probe", log)
    assert not lock.exists()
    assert "stale build lock" in caplog.text
