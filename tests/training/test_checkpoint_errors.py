"""Checkpoint writes on a full disk and checkpoint files that verify but do not load.

A full disk while saving is one :class:`CheckpointError` naming the folder and "no space
left"; no partial folder stays behind and the previous checkpoint still loads. A file whose
bytes match the manifest but is not safetensors (or JSON of the wrong shape) makes loading
fall back to the older checkpoint with a warning naming the file, as a corrupted one does.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging

import pytest
import torch
from safetensors import SafetensorError

from seqattn.io import atomic_write, atomic_write_text
from seqattn.training import CheckpointError, list_checkpoints, load_checkpoint, save_checkpoint
from seqattn.training import checkpoint as ckpt_mod

ENOSPC_SAFETENSORS = "Error while serializing: I/O error: No space left on device (os error 28)"


def _model():
    torch.manual_seed(0)
    return torch.nn.Linear(3, 2)


def _two_steps(directory):
    model = _model()
    opt = torch.optim.Adam(model.parameters())
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    save_checkpoint(directory, 1, model, opt, {"note": "one"})
    save_checkpoint(directory, 2, model, opt, {"note": "two"})
    return model, opt


def _leftovers(directory):
    return [p.name for p in directory.iterdir() if p.name.endswith(".tmp")]


def _fail_on(name, exc):
    """A stand-in for a writer that fails the way a full disk does."""

    def fail(*args, **kwargs):
        raise exc

    return name, fail


@pytest.mark.parametrize(
    "writer, exc",
    [
        ("save_file", SafetensorError(ENOSPC_SAFETENSORS)),  # what safetensors raises today
        ("save_file", OSError(errno.ENOSPC, "No space left on device")),
        ("atomic_write_text", OSError(errno.ENOSPC, "No space left on device")),  # the manifest
    ],
)
def test_disk_full_names_folder_cleans_up_keeps_previous(tmp_path, monkeypatch, writer, exc):
    directory = tmp_path / "checkpoints"
    model, opt = _two_steps(directory)
    monkeypatch.setattr(ckpt_mod, *_fail_on(writer, exc))
    with pytest.raises(CheckpointError, match="no space left on device") as info:
        save_checkpoint(directory, 3, model, opt)
    assert str(directory) in str(info.value)
    assert "\n" not in str(info.value)
    assert _leftovers(directory) == []
    assert [p.name for p in list_checkpoints(directory)] == ["step-00000001", "step-00000002"]
    assert (directory / "latest").read_text() == "step-00000002\n"
    assert load_checkpoint(directory).state == {"note": "two"}


def test_disk_full_writing_latest_keeps_the_complete_folder(tmp_path, monkeypatch):
    directory = tmp_path / "checkpoints"
    model, opt = _two_steps(directory)
    real = ckpt_mod.atomic_write_text

    def full_for_latest(path, text):
        if path.name == "latest":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, text)

    monkeypatch.setattr(ckpt_mod, "atomic_write_text", full_for_latest)
    with pytest.raises(CheckpointError, match=f"{directory}.*no space left"):
        save_checkpoint(directory, 3, model, opt)
    monkeypatch.undo()
    assert load_checkpoint(directory).step == 3  # found without ``latest``
    assert load_checkpoint(directory / "step-00000002").step == 2


def test_atomic_write_full_disk_names_the_file(tmp_path):
    target = tmp_path / "config.json"
    target.write_text("old")

    def full(f):
        f.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match="No space left on device: .*config.json") as info:
        atomic_write(target, full)
    assert info.value.errno == errno.ENOSPC
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json"]
    atomic_write_text(target, "new")  # an error that names a file already is left alone
    assert target.read_text() == "new"


def _rewrite_consistently(folder, name, data: bytes):
    """Replace one file and its manifest entry, as a tool that 'fixes' hashes would."""
    (folder / name).write_bytes(data)
    manifest = json.loads((folder / "MANIFEST.json").read_text())
    manifest["files"][name] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (folder / "MANIFEST.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    "name, data, needle",
    [
        ("model.safetensors", b"this is not a safetensors file at all", "not a safetensors"),
        ("rng.safetensors", b"\x08\x00\x00\x00\x00\x00\x00\x00{}garbage", "not a safetensors"),
        ("optimizer.safetensors", b"\xff" * 64, "not a safetensors"),
        ("state.json", b"[1, 2, 3]", "lacks what a checkpoint holds"),
        ("state.json", b"\xe9\x00 not json", "not JSON"),
        ("optimizer.json", b'{"state": 5}', "lacks what a checkpoint holds"),
    ],
)
def test_consistent_but_unloadable_newest_falls_back(tmp_path, caplog, name, data, needle):
    directory = tmp_path / "checkpoints"
    _two_steps(directory)
    newest = directory / "step-00000002"
    _rewrite_consistently(newest, name, data)
    with caplog.at_level(logging.WARNING, logger="seqattn.training"):
        ckpt = load_checkpoint(directory)
    assert ckpt.step == 1 and ckpt.state == {"note": "one"}
    warning = caplog.text
    assert "skipping checkpoint" in warning and "step-00000002" in warning and needle in warning
    with pytest.raises(CheckpointError, match=needle):
        load_checkpoint(newest)  # asked for by name: the error, naming the file's folder
    _rewrite_consistently(directory / "step-00000001", name, data)
    with pytest.raises(CheckpointError, match="no usable checkpoint") as info:
        load_checkpoint(directory)
    assert "step-00000001" in str(info.value) and "step-00000002" in str(info.value)


@pytest.mark.parametrize("name", ["/etc/hostname", "../step-00000001/model.safetensors", ".."])
def test_a_manifest_naming_a_file_outside_the_checkpoint_falls_back(tmp_path, caplog, name):
    directory = tmp_path / "checkpoints"
    _two_steps(directory)
    newest = directory / "step-00000002"
    manifest = json.loads((newest / "MANIFEST.json").read_text())
    manifest["files"][name] = {"bytes": 1, "sha256": "0" * 64}
    (newest / "MANIFEST.json").write_text(json.dumps(manifest))
    with caplog.at_level(logging.WARNING):
        assert load_checkpoint(directory).state == {"note": "one"}
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "expected plain file names" in warned and repr(name) in warned
    assert "bytes, expected" not in warned  # the outside file was never looked at
