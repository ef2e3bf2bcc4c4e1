"""One entry point for every saved model: ``seqattn.load(dir)``.

A model directory says what it holds (``manifest.json``'s ``kind``, or the ``format`` tag of
``config.json`` in folders written before the shared format), so one call loads any of them:

=================  ===========================================  ================================
kind               class                                        use
=================  ===========================================  ================================
text-classifier    :class:`~seqattn.pipelines.ClassifierBundle`  ``.predict(texts)``,
                                                                ``.explain(texts, out_dir)``
translation        :class:`~seqattn.pipelines.TranslationModel`  ``.translate(texts, beam=5)``
captioner          :class:`~seqattn.pipelines.Captioner`         ``.caption(images)``
sequence-tagger    :class:`~seqattn.pipelines.TaggerBundle`      ``.predict(sentences)``
=================  ===========================================  ================================

Each has ``.save(dir)`` and ``Class.load(dir)``; the per-task classes stay the typed way in.

Example:
    >>> import seqattn
    >>> from pathlib import Path
    >>> fixtures = Path(seqattn.__file__).parents[2] / "tests" / "fixtures" / "model_dirs"
    >>> model = seqattn.load(fixtures / "current" / "classifier" / "model")  # doctest: +SKIP
    >>> model.predict(["a good film"])[0].label  # doctest: +SKIP
    'pos'
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from seqattn.pipelines import captioning, classification, tagging, translation
from seqattn.pipelines.model_dir import CONFIG, MANIFEST

__all__ = ["KINDS", "load_model", "model_kind"]

#: kind -> the class that loads it.
KINDS: dict[str, Any] = {
    classification.KIND: classification.ClassifierBundle,
    translation.KIND: translation.TranslationModel,
    captioning.KIND: captioning.Captioner,
    tagging.KIND: tagging.TaggerBundle,
}
_LEGACY = {
    classification.FORMAT: classification.KIND,
    translation.LEGACY_FORMAT: translation.KIND,
    captioning.MODEL_FORMAT: captioning.KIND,
}


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"expected valid JSON in {path}, got: {err}") from None


def model_kind(path: str | os.PathLike) -> str:
    """The kind of the model directory at ``path`` (a key of :data:`KINDS`).

    Raises:
        FileNotFoundError: no directory at ``path``.
        ValueError: a directory that is no seqattn model (what it holds is named).
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"expected a model directory, got no directory at {path}")
    if (path / MANIFEST).is_file():
        manifest = _json(path / MANIFEST)
        kind = manifest.get("kind") if isinstance(manifest, dict) else None
        if kind in KINDS:
            return kind
        raise ValueError(f"expected kind in {sorted(KINDS)} in {path / MANIFEST}, got {kind!r}")
    if (path / CONFIG).is_file():
        data = _json(path / CONFIG)
        tag = data.get("format") if isinstance(data, dict) else None
        if tag in _LEGACY:
            return _LEGACY[tag]
        raise ValueError(f"expected a seqattn model's {CONFIG} in {path}, got format {tag!r}")
    raise ValueError(
        f"expected a seqattn model directory ({MANIFEST} or {CONFIG}) at {path}, got "
        f"{sorted(p.name for p in path.iterdir())[:8]}"
    )


def load_model(path: str | os.PathLike) -> Any:
    """The model saved at ``path``, whatever its kind: a ClassifierBundle, TranslationModel,
    Captioner or TaggerBundle, checked as its class's ``load`` checks it (docs/reliability.md)."""
    return KINDS[model_kind(path)].load(path)
