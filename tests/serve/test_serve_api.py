"""The JSON API of ``seqattn serve``: answers equal the pipelines', limits give clear 4xx."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="seqattn serve needs the serve extra (fastapi, uvicorn)")
import torch

from seqattn.pipelines import Captioner, ClassifierBundle, TranslationModel
from seqattn.serve.models import _scenes
from seqattn.viz.attention import _shade

FIXTURES = Path(__file__).parents[1] / "fixtures" / "model_dirs" / "current"


def _expected(kind: str) -> dict:
    return json.loads((FIXTURES / kind / "expected.json").read_text())


def test_models_lists_every_kind_and_the_views_colour(client):
    res = client.get("/api/models").json()
    kinds = {m["name"]: m["kind"] for m in res["models"]}
    assert kinds == {"classifier": "text-classifier", "translator": "translation",
                     "captioner": "captioner", "transformer": "translation",
                     "saliency": "text-classifier"}  # fmt: skip
    assert res["shade_rgb"] == [214, 39, 40]  # the colour of viz.attention._shade
    assert _shade(1.0, 1.0) == "background:rgba(214,39,40,1.000)"
    by_name = {m["name"]: m for m in res["models"]}
    assert by_name["classifier"]["labels"] == ["neg", "pos"]
    assert by_name["classifier"]["method"] == "attention"
    assert len(by_name["captioner"]["scenes"]) >= 1


def test_classify_equals_the_saved_predictions_and_shades_as_viz(client):
    exp = _expected("classifier")
    res = client.post("/api/classify", json={"model": "classifier", "texts": exp["texts"]})
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["method"] == "attention"
    for got, want in zip(body["predictions"], exp["predictions"], strict=True):
        assert got["label"] == want["label"] and got["tokens"] == want["tokens"]
        assert got["probs"] == pytest.approx(want["probs"], abs=1e-6)
        assert got["weights"] == pytest.approx(want["attention"], abs=1e-6)
        top = max(got["weights"])
        assert got["shades"] == [_shade(w, top) for w in got["weights"]]


def test_classify_saliency_for_a_head_without_attention(client, model_dirs):
    """A mean-pooling head has no attention: the API shades gradient x input, as explain."""
    body = client.post("/api/classify", json={"model": "saliency", "texts": ["a good film"]})
    body = body.json()
    want = ClassifierBundle.load(model_dirs["saliency"]).saliency(["a good film"])[0]
    assert body["method"] == "gradient x input"
    assert body["predictions"][0]["label"] == want.label
    assert body["predictions"][0]["weights"] == pytest.approx(want.attention, abs=1e-9)
    assert sum(body["predictions"][0]["weights"]) == pytest.approx(1.0)


def test_translate_greedy_and_beam_equal_the_pipeline(client, model_dirs):
    exp = _expected("translator")
    model = TranslationModel.load(model_dirs["translator"])
    for text, g_exp, b_exp in zip(exp["texts"], exp["beam1"], exp["beam2"], strict=True):
        res = client.post("/api/translate", json={"model": "translator", "text": text, "beam": 2})
        assert res.status_code == 200, res.text
        body = res.json()
        greedy, beam = body["hypotheses"]
        assert (greedy["search"], beam["search"]) == ("greedy", "beam 2")
        for got, want in ((greedy, g_exp), (beam, b_exp)):
            assert got["text"] == want["text"] and got["tokens"] == want["tokens"]
            assert got["score"] == pytest.approx(want["score"], abs=1e-5)
            np.testing.assert_allclose(got["attention"], want["attention"], atol=1e-6)
        (direct,) = model.translate([text], beam=2)
        assert body["source_tokens"] == direct.src_tokens
        assert len(beam["attention"][0]) == len(body["source_tokens"])


def test_caption_equals_the_pipeline(client, model_dirs):
    cap = Captioner.load(model_dirs["captioner"])
    res = client.post("/api/caption", json={"model": "captioner", "scene": 1, "beam": 2})
    assert res.status_code == 200, res.text
    body = res.json()
    sc = body["scene"]
    name, image = _scenes(cap, None)[1]  # the scene the server captions: the same draw
    assert sc["name"] == name and (sc["height"], sc["width"], sc["channels"]) == (8, 16, 3)
    shown = torch.tensor(sc["pixels"], dtype=torch.float64).permute(2, 0, 1) / 255
    assert (shown - image.double()).abs().max() <= 0.5 / 255 + 1e-9  # 8-bit for the page
    captions, alphas, grid = cap.caption(image[None], beam_size=2)
    assert body["caption"] == captions[0] and body["words"] == captions[0].split()
    assert body["grid"] == list(grid)
    assert len(body["attention"]) == len(body["words"])
    np.testing.assert_allclose(body["attention"], alphas[0][: len(body["words"])], atol=1e-6)


def test_multi_head_decoders_expose_each_head(client):
    """Per-head weights of the top layer: (H, T, S), they average to the search's attention
    (checked by the server too) and differ between heads; single-attention decoders: none."""
    for beam in (1, 3):
        body = {"model": "transformer", "text": "ein hund läuft .", "beam": beam}
        res = client.post("/api/translate", json=body).json()
        for h in res["hypotheses"]:
            heads = np.array(h["heads"])
            att = np.array(h["attention"])
            assert heads.shape == (2, *att.shape) and att.shape[1] == 4
            np.testing.assert_allclose(heads.mean(0), att, atol=1e-5)
            np.testing.assert_allclose(heads.sum(-1), 1.0, atol=1e-6)
            assert np.abs(heads[0] - heads[1]).max() > 1e-4
    res = client.post("/api/translate", json={"model": "translator", "text": "ein hund ."})
    assert all(h["heads"] is None for h in res.json()["hypotheses"])


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        ("/api/classify", {"model": "classifier", "texts": ["good"] * 33}, 413, "max_batch"),
        ("/api/classify", {"model": "classifier", "texts": ["a" * 1001]}, 422, "max_chars"),
        ("/api/classify", {"model": "classifier", "texts": []}, 422, "at least one text"),
        ("/api/classify", {"model": "classifier", "texts": ["   "]}, 422, "non-empty text"),
        ("/api/classify", {"model": "nope", "texts": ["good"]}, 404, "'nope'"),
        ("/api/classify", {"model": "translator", "texts": ["good"]}, 422, "text-classifier"),
        ("/api/translate", {"model": "translator", "text": "x" * 1001}, 422, "max_chars"),
        ("/api/translate", {"model": "translator", "text": "ein", "beam": 9}, 422, "max_beam"),
        ("/api/translate", {"model": "translator", "text": "ein " * 9}, 422, "max_length"),
        ("/api/translate", {"model": "translator", "text": ""}, 422, "empty"),
        ("/api/caption", {"model": "captioner", "scene": 99}, 422, "scene in 0.."),
        ("/api/caption", {"model": "captioner", "scene": 0, "beam": 0}, 422, "max_beam"),
    ],
)
def test_limits_and_bad_input_are_clear_4xx(client, path, body, status, words):
    res = client.post(path, json=body)
    assert res.status_code == status, res.text
    assert words in res.json()["detail"]


def test_a_malformed_body_is_422(client):
    res = client.post("/api/classify", json={"model": "classifier", "texts": "not a list"})
    assert res.status_code == 422


def test_limits_are_configurable_and_checked(model_dirs):
    from fastapi.testclient import TestClient

    from seqattn.serve import Limits, create_app

    with pytest.raises(ValueError, match="max_batch"):
        Limits(max_batch=0)
    app = create_app(models=[model_dirs["classifier"]], limits=Limits(max_chars=5, max_batch=2))
    with TestClient(app) as c:
        r = c.post("/api/classify", json={"model": "classifier", "texts": ["good"] * 3})
        assert r.status_code == 413 and "at most 2 texts" in r.json()["detail"]
        r = c.post("/api/classify", json={"model": "classifier", "texts": ["good film"]})
        assert r.status_code == 422 and "at most 5 characters" in r.json()["detail"]
        assert c.post("/api/classify", json={"model": "classifier", "texts": ["good"]}).is_success


def test_page_and_static_files_are_offline(client):
    page = client.get("/")
    assert page.status_code == 200 and "seqattn explorer" in page.text
    for name, kind in (("app.js", "javascript"), ("style.css", "css")):
        r = client.get(f"/static/{name}")
        assert r.status_code == 200 and kind in r.headers["content-type"]
        assert "http://" not in r.text and "https://" not in r.text
    assert "http://" not in page.text and "https://" not in page.text
    assert client.get("/static/../app.py").status_code == 404
    assert client.get("/static/index.html").status_code == 404


def test_captioner_scenes_from_a_folder(model_dirs, tmp_path):
    """--scenes: the folder's PNGs of the model's size, in name order; others are left out."""
    from fastapi.testclient import TestClient
    from matplotlib.image import imsave

    from seqattn.serve import create_app

    rng = np.random.default_rng(0)
    for name, shape in (("b.png", (8, 16, 3)), ("a.png", (8, 16, 3)), ("big.png", (9, 16, 3))):
        imsave(tmp_path / name, rng.random(shape))
    app = create_app(models=[model_dirs["captioner"]], scenes=tmp_path)
    with TestClient(app) as c:
        (info,) = c.get("/api/models").json()["models"]
        assert info["scenes"] == ["a.png", "b.png"]
        body = c.post("/api/caption", json={"model": "captioner", "scene": 1}).json()
    assert body["scene"]["name"] == "b.png"
    from seqattn.data.datasets.captions import read_image

    want = np.round(read_image(tmp_path / "b.png") * 255)
    np.testing.assert_array_equal(np.array(body["scene"]["pixels"]), want)


def test_a_body_over_the_largest_valid_request_is_413_before_parsing(model_dirs):
    from fastapi.testclient import TestClient

    from seqattn.serve import Limits, create_app

    app = create_app(models=[model_dirs["classifier"]], limits=Limits(max_chars=10, max_batch=2))
    with TestClient(app) as c:
        big = '{"model": "classifier", "texts": ["' + "a" * 200_000 + '"]}'
        r = c.post("/api/classify", content=big, headers={"Content-Type": "application/json"})
        assert r.status_code == 413 and "at most 4216 bytes" in r.json()["detail"]
        ok = c.post("/api/classify", json={"model": "classifier", "texts": ["\u00e9" * 10] * 2})
        assert ok.is_success, ok.text  # the largest valid request passes the body limit
