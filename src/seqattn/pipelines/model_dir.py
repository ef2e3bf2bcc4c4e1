"""One model-directory format for every saved model (classifier, translator, captioner).

A model directory::

    manifest.json        format tag, version, kind, and the sha256 of every other file
    config.json          what the kind needs to rebuild the model (model config, labels...)
    model.safetensors    the weights (never a pickle)
    ...                  the kind's other files (vocabularies, tokenizers), JSON

:func:`write_model_dir` writes every file into a temporary folder beside the target, then
moves them in by rename, ``manifest.json`` last: a new directory appears whole (one rename of
the folder); an existing one (a training folder holding checkpoints and metrics too) has its
old manifest removed first, so an interrupted save is a directory without a manifest, never
files of two models vouched for by one.

:func:`open_model_dir` checks a directory before anything is built from it and names the file
of every problem, as ``expected X, got Y``: a missing file (:class:`MissingModelFile`, both a
``ValueError`` and a ``FileNotFoundError``; no directory at all is a ``FileNotFoundError``), a
file whose sha256 is not the manifest's, another format, version or kind, invalid JSON;
:meth:`ModelDir.load_weights` names the tensors that are missing, unexpected or of another
shape than the model built from ``config.json``.

Directories written before this format (each kind had its own ``format`` tag in ``config.json``,
described by a :class:`LegacyFormat`) still load: their ``config.json`` without the ``format``
and ``files`` entries is the same content.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from torch import nn

from seqattn.io import atomic_write, atomic_write_json, sha256_file

__all__ = [
    "FORMAT",
    "VERSION",
    "MANIFEST",
    "CONFIG",
    "WEIGHTS",
    "MissingModelFile",
    "LegacyFormat",
    "ModelDir",
    "write_model_dir",
    "open_model_dir",
]

FORMAT = "seqattn.model-dir"
VERSION = 1
MANIFEST, CONFIG, WEIGHTS = "manifest.json", "config.json", "model.safetensors"


class MissingModelFile(ValueError, FileNotFoundError):
    """A file (or the directory itself) that a model directory must have is not there."""


@dataclass(frozen=True)
class LegacyFormat:
    """The layout one kind had before this format: ``config.json`` with ``"format": tag``.

    Args:
        tag: the ``format`` value of that config.json (``"seqattn.translation/1"``).
        files: the other files it must have (beside config.json).
        hashed: config.json's ``files`` entry holds their sha256 (the translator's did not).
    """

    tag: str
    files: tuple[str, ...]
    hashed: bool = True


@dataclass(frozen=True)
class ModelDir:
    """A checked model directory: its folder, kind, version (0: a legacy layout) and config."""

    path: Path
    kind: str
    version: int
    config: dict[str, Any]

    def file(self, name: str) -> Path:
        return self.path / name

    def load_weights(self, model: nn.Module) -> nn.Module:
        """Load ``model.safetensors`` into ``model`` (built from the config), strictly."""
        path = self.file(WEIGHTS)
        try:
            state = safetensors.torch.load_file(str(path))
        except Exception as err:  # safetensors raises its own error types
            raise ValueError(f"expected safetensors weights in {path}, got: {err}") from None
        check_state(state, model.state_dict(), path)
        check_finite(state, path)
        model.load_state_dict(state, strict=True)
        return model


def check_state(
    got: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor], path: Path
) -> None:
    """ValueError naming ``path`` and the tensors when the names or shapes differ."""
    missing = sorted(set(expected) - set(got))
    unexpected = sorted(set(got) - set(expected))
    if missing or unexpected:
        raise ValueError(
            f"expected the tensors of the model built from {path.parent / CONFIG} in {path}, "
            f"got {len(missing)} missing {missing[:5]} and {len(unexpected)} unexpected "
            f"{unexpected[:5]}"
        )
    for name, tensor in expected.items():
        if tuple(got[name].shape) != tuple(tensor.shape):
            raise ValueError(
                f"expected {name} of shape {tuple(tensor.shape)} (the model built from "
                f"{path.parent / CONFIG}) in {path}, got {tuple(got[name].shape)}"
            )


def check_finite(state: Mapping[str, torch.Tensor], path: Path) -> None:
    """ValueError naming the first tensor of ``path`` holding NaN or Inf values."""
    for name, tensor in state.items():
        if tensor.is_floating_point() or tensor.is_complex():
            bad = int((~torch.isfinite(tensor)).sum())
            if bad:
                raise ValueError(
                    f"expected finite weights in {path}, got {bad} NaN/Inf value(s) of "
                    f"{tensor.numel()} in {name}"
                )


def check_file_name(name: Any, where: Path) -> str:
    """``name`` if it is a plain file name (no folder part, not absolute, not ``..``): the files
    a manifest vouches for stay inside its folder. ValueError naming ``where`` otherwise."""
    if (
        not isinstance(name, str)
        or name in ("", ".", "..")
        or Path(name).name != name
        or ("\\" in name or "\0" in name)
    ):
        raise ValueError(f"expected plain file names (inside the folder) in {where}, got {name!r}")
    return name


# -- writing ------------------------------------------------------------------------------------
Writer = Callable[[Path], Any]  # writes one file at the path it is given


def write_model_dir(
    out_dir: str | os.PathLike,
    kind: str,
    config: Mapping[str, Any],
    model: nn.Module,
    files: Mapping[str, Writer] | None = None,
) -> Path:
    """Write a model directory of ``kind``: config.json, model.safetensors, ``files``.

    Args:
        out_dir: the directory (created; an existing one keeps its other files).
        config: config.json's content (JSON-serialisable through :func:`seqattn.io.jsonable`).
        model: its ``state_dict`` goes to model.safetensors (contiguous CPU copies).
        files: file name -> a function writing that file at the path it is given.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
    try:
        state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
        blob = safetensors.torch.save(state)
        atomic_write(tmp / WEIGHTS, lambda f: f.write(blob))
        for name, write in (files or {}).items():
            write(tmp / name)
        atomic_write_json(tmp / CONFIG, dict(config))
        names = sorted(p.name for p in tmp.iterdir())
        manifest = {"format": FORMAT, "version": VERSION, "kind": kind,
                    "files": {name: sha256_file(tmp / name) for name in names}}  # fmt: skip
        atomic_write_json(tmp / MANIFEST, manifest)
        _move_in(tmp, out_dir, names)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def _move_in(tmp: Path, out_dir: Path, names: Sequence[str]) -> None:
    if not out_dir.exists():
        os.replace(tmp, out_dir)
        _fsync_dir(out_dir.parent)
        return
    if not out_dir.is_dir():
        raise ValueError(f"expected a directory to save the model in, got a file at {out_dir}")
    (out_dir / MANIFEST).unlink(missing_ok=True)  # from here until the end: no manifest
    _fsync_dir(out_dir)
    for name in [*names, MANIFEST]:
        os.replace(tmp / name, out_dir / name)
    _fsync_dir(out_dir)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- reading ------------------------------------------------------------------------------------
def read_json(path: Path, what: str) -> Any:
    """The JSON in ``path``; MissingModelFile / ValueError naming the file and ``what`` it is."""
    if not path.is_file():
        raise MissingModelFile(
            f"expected {path.name} ({what}) in the model directory {path.parent}, got no such file"
        )
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"expected valid JSON in {path} ({what}), got: {err}") from None


def open_model_dir(
    path: str | os.PathLike,
    kind: str,
    files: Sequence[str] = (),
    legacy: LegacyFormat | None = None,
) -> ModelDir:
    """Check the model directory at ``path`` and read its config.json.

    Args:
        kind: the kind expected (``"captioner"``); another kind is an error.
        files: the files the kind needs besides config.json and model.safetensors.
        legacy: the kind's layout before this format, accepted when there is no manifest.

    Raises:
        FileNotFoundError: no directory at ``path`` (as the loaders always raised).
        MissingModelFile: a file missing (named).
        ValueError: another format, version or kind; invalid JSON; a sha256 mismatch (named).
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"expected a {kind} model directory, got no directory at {path}")
    if (path / MANIFEST).is_file():
        return _open_current(path, kind, (CONFIG, WEIGHTS, *files))
    if legacy is not None and (path / CONFIG).is_file():
        return _open_legacy(path, kind, legacy)
    also = f", or a {CONFIG} of format {legacy.tag!r}" if legacy is not None else ""
    raise MissingModelFile(
        f"expected a {kind} directory (with {MANIFEST}{also}) at {path}, got neither"
    )


def _open_current(path: Path, kind: str, required: Sequence[str]) -> ModelDir:
    manifest_path = path / MANIFEST
    manifest = read_json(manifest_path, "the manifest")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        got = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise ValueError(f"expected format {FORMAT!r} in {manifest_path}, got {got!r}")
    version = manifest.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= VERSION:
        raise ValueError(
            f"expected a version from 1 to {VERSION} in {manifest_path} (a newer seqattn wrote "
            f"it?), got {version!r}"
        )
    if manifest.get("kind") != kind:
        raise ValueError(
            f"expected a {kind!r} model directory, got kind {manifest.get('kind')!r} in "
            f"{manifest_path}"
        )
    hashes = manifest.get("files")
    if not isinstance(hashes, dict):
        raise ValueError(f"expected a 'files' mapping in {manifest_path}, got {hashes!r}")
    for name in hashes:
        check_file_name(name, manifest_path)
    unlisted = [name for name in required if name not in hashes]
    if unlisted:
        raise ValueError(f"expected {unlisted} among the files of {manifest_path}, got none")
    for name in hashes:
        if not (path / name).is_file():
            raise MissingModelFile(
                f"expected {name} in the model directory {path}, got no such file"
            )
    config = _read_config(path)
    _check_hashes(path, hashes, MANIFEST)
    return ModelDir(path, kind, version, config)


def _open_legacy(path: Path, kind: str, legacy: LegacyFormat) -> ModelDir:
    cfg_path = path / CONFIG
    config = _read_config(path)
    if config.get("format") != legacy.tag:
        raise ValueError(f"expected format {legacy.tag!r} in {cfg_path}, got "
                         f"{config.get('format')!r}")  # fmt: skip
    for name in legacy.files:
        if not (path / name).is_file():
            raise MissingModelFile(
                f"expected {name} in the model directory {path}, got no such file"
            )
    if legacy.hashed:
        hashes = config.get("files")
        if not isinstance(hashes, dict):
            raise ValueError(f"expected a 'files' entry in {cfg_path}, got {hashes!r}")
        _check_hashes(path, {name: hashes.get(name) for name in legacy.files}, CONFIG)
    rest = {k: v for k, v in config.items() if k not in ("format", "files")}
    return ModelDir(path, kind, 0, rest)


def _read_config(path: Path) -> dict[str, Any]:
    config = read_json(path / CONFIG, "the model description")
    if not isinstance(config, dict):
        raise ValueError(f"expected a JSON object in {path / CONFIG}, got "
                         f"{type(config).__name__}")  # fmt: skip
    return config


def _check_hashes(path: Path, hashes: Mapping[str, Any], where: str) -> None:
    for name, digest in hashes.items():
        if sha256_file(path / name) != digest:
            raise ValueError(
                f"expected {path / name} to match the sha256 recorded in {where}, got a "
                f"different file (an interrupted save, or files from another model)"
            )
