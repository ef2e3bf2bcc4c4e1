"""Hugging Face Hub interop: ``save_pretrained`` / ``from_pretrained`` / ``push_to_hub``.

A folder written by :func:`save_pretrained` IS the seqattn model directory
(:mod:`seqattn.pipelines.model_dir`: ``manifest.json`` with the sha256 of every file the model
needs) plus a generated ``README.md`` model card. The manifest does not list the card, so the
card never breaks the checked load; every listed file is still checked on
:func:`from_pretrained`.

Needs the ``hub`` extra (``pip install seqattn[hub]``); pushing needs a token and network.

Example:
    >>> import seqattn
    >>> from seqattn.pipelines import hub
    >>> model = seqattn.load("model")  # doctest: +SKIP
    >>> hub.save_pretrained(model, "shared", command="seqattn train classify ...")  # doctest: +SKIP
    >>> same = hub.from_pretrained("shared")  # or "user/repo" on the Hub  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from seqattn.pipelines.loading import load_model, model_kind
from seqattn.pipelines.model_dir import CONFIG

__all__ = ["CARD", "from_pretrained", "model_card", "push_to_hub", "save_pretrained"]

CARD = "README.md"
_PIPELINE = {
    "text-classifier": "text-classification",
    "translation": "translation",
    "captioner": "image-to-text",
    "sequence-tagger": "token-classification",
}


def _config(path: Path) -> dict[str, Any]:
    try:
        data = json.loads((path / CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _find(data: Any, key: str) -> Any:
    """The first value under ``key`` anywhere in nested dicts of ``data`` (None if absent)."""
    if isinstance(data, dict):
        if key in data:
            return data[key]
        for value in data.values():
            found = _find(value, key)
            if found is not None:
                return found
    return None


def model_card(
    path: str | os.PathLike,
    *,
    command: str | None = None,
    datasets: list[str] | None = None,
    metrics: dict[str, float] | None = None,
) -> str:
    """The README.md model card text for the model directory at ``path``: YAML front matter
    (library_name seqattn, tags, pipeline_tag, datasets and metrics when known) and a body
    (task, data, metrics with the sacreBLEU signature when config.json records one, the
    command that trained it, how to load it)."""
    path = Path(path)
    kind = model_kind(path)
    config = _config(path)
    metrics = dict(metrics or _find(config, "metrics") or {})
    datasets = list(datasets or ([_find(config, "dataset")] if _find(config, "dataset") else []))
    signature = _find(config, "sacrebleu_signature") or _find(config, "signature")
    command = command or _find(config, "command")
    meta: dict[str, Any] = {
        "library_name": "seqattn",
        "tags": ["seqattn", kind, "attention"],
        "pipeline_tag": _PIPELINE[kind],
    }
    if datasets:
        meta["datasets"] = [str(d) for d in datasets]
    if metrics:
        meta["metrics"] = sorted(metrics)
    front = "\n".join(f"{key}: {json.dumps(value)}" for key, value in meta.items())
    lines = [f"---\n{front}\n---\n", f"# seqattn {kind} model\n", f"Task: {_PIPELINE[kind]}.\n"]
    lines.append(f"Data: {', '.join(meta.get('datasets', [])) or 'not recorded'}.\n")
    if metrics:
        lines.append("## Metrics\n")
        lines += [f"- {name}: {value}" for name, value in sorted(metrics.items())]
        lines.append("")
    if signature:
        lines.append(f"sacreBLEU signature: `{signature}`\n")
    if command:
        lines.append(f"## Training command\n\n```text\n{command}\n```\n")
    lines.append(
        "## Loading\n\n```text\nfrom seqattn.pipelines import hub\n"
        'model = hub.from_pretrained("<this folder or hub id>")\n```\n'
    )
    return "\n".join(lines)


def save_pretrained(
    model: Any,
    out_dir: str | os.PathLike,
    *,
    command: str | None = None,
    datasets: list[str] | None = None,
    metrics: dict[str, float] | None = None,
) -> Path:
    """Save ``model`` (a ClassifierBundle, TranslationModel or Captioner) with its own
    ``.save`` (the checked model directory) and write the model card ``README.md`` beside it."""
    if not hasattr(model, "save"):
        raise TypeError(f"expected a seqattn saved-model class for model, got {type(model)}")
    out = Path(model.save(out_dir) or out_dir)
    card = model_card(out, command=command, datasets=datasets, metrics=metrics)
    (out / CARD).write_text(card, encoding="utf-8")
    return out


def from_pretrained(
    source: str | os.PathLike,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    token: str | None = None,
) -> Any:
    """Load a model from a local folder, or from a Hub id (downloaded with
    ``huggingface_hub.snapshot_download``), through the same checked :func:`load_model`."""
    path = Path(source)
    if not path.is_dir():
        from huggingface_hub import snapshot_download

        path = Path(
            snapshot_download(
                repo_id=str(source), revision=revision, cache_dir=cache_dir, token=token
            )
        )
    return load_model(path)


def push_to_hub(
    model: Any,
    repo_id: str,
    *,
    token: str | None = None,
    private: bool = False,
    commit_message: str = "Upload seqattn model",
    **card: Any,
) -> Any:
    """Save ``model`` with :func:`save_pretrained` to a temporary folder and upload it to the
    Hub repo ``repo_id`` (created if needed) with ``HfApi.upload_folder``. Needs a token with
    write access and network."""
    import tempfile

    from huggingface_hub import HfApi

    api = HfApi(token=token)
    with tempfile.TemporaryDirectory() as tmp:
        folder = save_pretrained(model, Path(tmp) / "model", **card)
        api.create_repo(repo_id, private=private, exist_ok=True)
        return api.upload_folder(
            repo_id=repo_id, folder_path=str(folder), commit_message=commit_message
        )
