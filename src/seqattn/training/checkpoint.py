"""Checkpoints that lose nothing and execute nothing.

A checkpoint is a folder ``step-00001234/`` holding

* ``model.safetensors``: the model's state dict;
* ``optimizer.safetensors`` + ``optimizer.json``: the optimizer's tensors and the rest of its
  state (param groups, scalar entries);
* ``rng.safetensors`` + ``state.json``: torch's CPU (and CUDA) generator states, Python's and
  NumPy's, the trainer's counters, the config and anything the caller adds (vocabulary...);
* ``MANIFEST.json``, written last: the size and sha256 of every file.

Nothing is unpickled: tensors come from safetensors, the rest from JSON. The folder is written
under a temporary name, fsynced and renamed into place, and only then does ``latest`` point at
it and are older checkpoints pruned, so the previous good checkpoint survives a crash at any
moment. Loading checks the manifest; a truncated or corrupted checkpoint is reported by file
name and the newest good one is used instead.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import random
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from seqattn.io import atomic_write_text, jsonable, sha256_file

__all__ = [
    "CheckpointError",
    "Checkpoint",
    "save_checkpoint",
    "load_checkpoint",
    "list_checkpoints",
]

log = logging.getLogger("seqattn.training")
PREFIX = "step-"
FILES = ("model.safetensors", "optimizer.safetensors", "optimizer.json", "rng.safetensors",
         "state.json")  # fmt: skip


class CheckpointError(RuntimeError):
    """No usable checkpoint, or one could not be saved (a full disk): the message names the
    files or the folder and why."""


@dataclass
class Checkpoint:
    """What :func:`load_checkpoint` returns."""

    path: Path
    step: int
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any] | None
    rng: dict[str, Any]
    state: dict[str, Any]

    def restore(self, model: torch.nn.Module, optimizer=None, restore_rng: bool = True) -> None:
        """Load weights (strict), optimizer state and RNG states into live objects."""
        model.load_state_dict(self.model, strict=True)
        if optimizer is not None and self.optimizer is not None:
            optimizer.load_state_dict(self.optimizer)
        if restore_rng:
            set_rng_state(self.rng)


# -- RNG ---------------------------------------------------------------------------------------


def get_rng_state() -> dict[str, Any]:
    state = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": np.random.get_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _rng_to_files(state) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors = {"torch": state["torch"]}
    for i, s in enumerate(state.get("cuda", [])):
        tensors[f"cuda.{i}"] = s
    version, internal, gauss = state["python"]
    np_state = state["numpy"]
    meta = {
        "python": [version, list(internal), gauss],
        "numpy": [np_state[0], np_state[2], np_state[3], np_state[4]],
        "cuda_devices": len(state.get("cuda", [])),
    }
    tensors["numpy.keys"] = torch.from_numpy(np_state[1].astype(np.int64))
    return tensors, meta


def _rng_from_files(tensors, meta) -> dict[str, Any]:
    version, internal, gauss = meta["python"]
    kind, pos, has_gauss, cached = meta["numpy"]
    state = {
        "torch": tensors["torch"],
        "python": (version, tuple(internal), gauss),
        "numpy": (kind, tensors["numpy.keys"].numpy().astype(np.uint32), pos, has_gauss, cached),
    }
    if meta.get("cuda_devices"):
        state["cuda"] = [tensors[f"cuda.{i}"] for i in range(meta["cuda_devices"])]
    return state


# -- optimizer state ---------------------------------------------------------------------------


def _optimizer_to_files(sd: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors, state_meta = {}, {}
    for pid, entries in sd["state"].items():
        plain = {}
        for name, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{pid}.{name}"] = value.detach().contiguous().cpu()
            else:
                plain[name] = value
        state_meta[str(pid)] = {"plain": plain, "tensors": sorted(
            n for n, v in entries.items() if isinstance(v, torch.Tensor))}  # fmt: skip
    return tensors, {"param_groups": sd["param_groups"], "state": state_meta}


def _optimizer_from_files(tensors, meta) -> dict[str, Any]:
    state = {}
    for pid, entry in meta["state"].items():
        values = dict(entry["plain"])
        for name in entry["tensors"]:
            values[name] = tensors[f"{pid}.{name}"]
        state[int(pid)] = values
    return {"state": state, "param_groups": meta["param_groups"]}


# -- save / load ----------------------------------------------------------------------------------


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_folder(tmp: Path, step: int, model, optimizer, state) -> None:
    """Every file of a checkpoint into ``tmp``, fsynced, ``MANIFEST.json`` last."""
    model_sd = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(model_sd, str(tmp / "model.safetensors"))
    opt_tensors, opt_meta = ({}, None)
    if optimizer is not None:
        opt_tensors, opt_meta = _optimizer_to_files(optimizer.state_dict())
    save_file(opt_tensors, str(tmp / "optimizer.safetensors"))
    (tmp / "optimizer.json").write_text(json.dumps(opt_meta, default=jsonable))
    rng_tensors, rng_meta = _rng_to_files(get_rng_state())
    save_file(rng_tensors, str(tmp / "rng.safetensors"))
    payload = {"step": step, "rng": rng_meta, "state": state or {}}
    (tmp / "state.json").write_text(json.dumps(payload, default=jsonable, indent=1))
    manifest = {}
    for name in FILES:
        _fsync(tmp / name)
        size, digest = (tmp / name).stat().st_size, sha256_file(tmp / name)
        manifest[name] = {"bytes": size, "sha256": digest}
    atomic_write_text(tmp / "MANIFEST.json", json.dumps({"step": step, "files": manifest}))


def _write_error(directory: Path, err: BaseException) -> CheckpointError:
    """A failed write as one line naming the folder (safetensors reports ENOSPC as text)."""
    text = str(err)
    if getattr(err, "errno", None) == errno.ENOSPC or "No space left" in text:
        reason = "no space left on device"
    else:
        reason = getattr(err, "strerror", None) or text
    return CheckpointError(
        f"cannot save a checkpoint in {directory}: {reason} (nothing partial was left; "
        f"the earlier checkpoints are kept)"
    )


def save_checkpoint(
    directory: str | Path,
    step: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    state: dict[str, Any] | None = None,
    keep_last: int = 2,
) -> Path:
    """Write ``directory/step-{step}`` atomically, point ``latest`` at it, prune older ones.

    Args:
        state: JSON-serialisable extras (trainer counters, config, vocabulary, ...).
        keep_last: how many complete checkpoints to keep (>= 1).
    """
    if keep_last < 1:
        raise ValueError(f"expected keep_last >= 1, got {keep_last}")
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{PREFIX}{step:08d}.", suffix=".tmp", dir=directory))
    except OSError as err:
        raise _write_error(directory, err) from err
    final = directory / f"{PREFIX}{step:08d}"
    try:
        _write_folder(tmp, step, model, optimizer, state)
        if final.exists():  # re-saving the same step: replace it
            shutil.rmtree(final)
        os.replace(tmp, final)
        _fsync(directory)
    except BaseException as err:  # a full disk, Ctrl-C...: no partial folder stays behind
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(err, OSError | SafetensorError):
            raise _write_error(directory, err) from err
        raise
    try:
        atomic_write_text(directory / "latest", final.name + "\n")
    except OSError as err:  # the folder is complete; loading finds it without ``latest``
        raise _write_error(directory, err) from err
    for old in list_checkpoints(directory)[:-keep_last]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(directory: str | Path) -> list[Path]:
    """Checkpoint folders (complete or not), oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.is_dir() and p.name.startswith(PREFIX))


def _verify(path: Path) -> None:
    manifest_path = path / "MANIFEST.json"
    if not manifest_path.is_file():
        raise CheckpointError(f"{manifest_path}: missing (the checkpoint was never completed)")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{manifest_path}: unreadable ({err})") from None
    for name, info in manifest["files"].items():
        if not isinstance(name, str) or name in ("", ".", "..") or Path(name).name != name:
            raise CheckpointError(  # names stay inside the checkpoint folder
                f"{manifest_path}: expected plain file names inside {path}, got {name!r}"
            )
        file = path / name
        if not file.is_file():
            raise CheckpointError(f"{file}: missing")
        size = file.stat().st_size
        if size != info["bytes"]:
            raise CheckpointError(
                f"{file}: truncated or altered ({size} bytes, expected {info['bytes']})"
            )
        if sha256_file(file) != info["sha256"]:
            raise CheckpointError(f"{file}: corrupted (sha256 does not match the manifest)")


def _tensors(file: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(file))
    except SafetensorError as err:  # bytes the manifest vouches for, but not safetensors
        raise CheckpointError(f"{file}: not a safetensors file ({err})") from None


def _json(file: Path) -> Any:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{file}: not JSON ({err})") from None


def _read(path: Path) -> Checkpoint:
    _verify(path)
    payload = _json(path / "state.json")
    opt_meta = _json(path / "optimizer.json")
    try:
        optimizer = None
        if opt_meta is not None:
            optimizer = _optimizer_from_files(_tensors(path / "optimizer.safetensors"), opt_meta)
        return Checkpoint(
            path=path,
            step=int(payload["step"]),
            model=_tensors(path / "model.safetensors"),
            optimizer=optimizer,
            rng=_rng_from_files(_tensors(path / "rng.safetensors"), payload["rng"]),
            state=payload["state"],
        )
    except (KeyError, TypeError, ValueError, AttributeError) as err:  # JSON of the wrong shape
        raise CheckpointError(
            f"{path}: state.json or optimizer.json lacks what a checkpoint holds "
            f"({type(err).__name__}: {err})"
        ) from None


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Load a checkpoint folder, or the newest good checkpoint of a run folder.

    Given a run folder, tries its checkpoints newest first (not only the one ``latest`` names: a
    process killed between renaming a complete checkpoint into place and updating ``latest``
    has still saved it); each that fails verification is logged by file name. Raises
    :class:`CheckpointError` naming every failure when none is usable.
    """
    path = Path(path)
    if path.name.startswith(PREFIX):
        return _read(path)
    candidates = list(reversed(list_checkpoints(path)))
    if not candidates:
        raise CheckpointError(f"no checkpoint in {path} (expected folders named {PREFIX}NNNNNNNN)")
    failures = []
    for cand in candidates:
        try:
            ckpt = _read(cand)
        except (CheckpointError, OSError, ValueError, KeyError, TypeError) as err:
            log.warning("skipping checkpoint %s: %s", cand, err)
            failures.append(f"{cand.name}: {err}")
            continue
        if failures:
            log.warning("using the last good checkpoint %s", cand)
        return ckpt
    raise CheckpointError("no usable checkpoint in " + str(path) + ":\n  " + "\n  ".join(failures))
