"""``seqattn serve`` runs an exported ONNX translator folder beside its PyTorch directory:
the same hypotheses, scores and alignments through the JSON API."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="seqattn serve needs fastapi (pip install 'seqattn[serve]')")


def test_serve_answers_from_an_onnx_folder_as_from_pytorch(exported):
    from fastapi.testclient import TestClient

    from seqattn.serve import create_app

    model_dir, folder = exported("bahdanau")
    with TestClient(create_app(models=[model_dir, folder])) as client:
        models = {m["name"]: m for m in client.get("/api/models").json()["models"]}
        assert models["onnx"]["kind"] == "translation" and models["onnx"]["path"] == str(folder)
        answers = {}
        for name in (model_dir.parent.name, "onnx"):
            r = client.post("/api/translate", json={"model": name, "text": "ein hund schläft .",
                                                    "beam": 3})  # fmt: skip
            assert r.status_code == 200, r.text
            answers[name] = r.json()
    want, got = answers[model_dir.parent.name], answers["onnx"]
    assert got["source_tokens"] == want["source_tokens"]
    for w, g in zip(want["hypotheses"], got["hypotheses"], strict=True):
        assert (g["search"], g["text"], g["tokens"]) == (w["search"], w["text"], w["tokens"])
        assert g["score"] == pytest.approx(w["score"], abs=1e-4)
        np.testing.assert_allclose(g["attention"], w["attention"], atol=1e-4)
        assert g["heads"] is None
