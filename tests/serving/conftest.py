"""Fixtures of the seqattn.serving tests: tiny translators saved and exported once."""

from __future__ import annotations

from pathlib import Path

import pytest
from serving_models import make_translator


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """``exported(kind, subword="word") -> (model directory, ONNX folder)``, cached."""
    from seqattn.pipelines.export_translator import export_translator

    cache: dict[tuple[str, str], tuple[Path, Path]] = {}

    def get(kind: str, subword: str = "word") -> tuple[Path, Path]:
        if (kind, subword) not in cache:
            root = tmp_path_factory.mktemp(f"{kind}-{subword}")
            make_translator(kind, subword).save(root / "model")
            cache[kind, subword] = (root / "model", export_translator(root / "model"))
        return cache[kind, subword]

    return get
