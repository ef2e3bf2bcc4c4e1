"""Hub interop: save_pretrained -> from_pretrained round trips, the card, hub ids, pushing."""

from __future__ import annotations

from pathlib import Path

import pytest

huggingface_hub = pytest.importorskip("huggingface_hub", reason="needs the hub extra")

from seqattn.pipelines import ClassifierBundle, TranslationModel, hub  # noqa: E402

DIRS = Path(__file__).resolve().parents[1] / "fixtures" / "model_dirs" / "current"


def test_classifier_round_trip_and_card(tmp_path):
    model = ClassifierBundle.load(DIRS / "classifier" / "model")
    out = hub.save_pretrained(
        model,
        tmp_path / "m",
        command="seqattn train classify x.csv",
        datasets=["rt-polarity"],
        metrics={"accuracy": 0.75},
    )
    same = hub.from_pretrained(out)
    texts = ["a good film", "BAD, unknownword!"]
    assert same.predict(texts) == model.predict(texts)
    card = huggingface_hub.ModelCard.load(out / hub.CARD)
    assert card.data.library_name == "seqattn"
    assert card.data.pipeline_tag == "text-classification"
    assert card.data.datasets == ["rt-polarity"]
    assert "seqattn train classify x.csv" in card.text


def test_translator_round_trip(tmp_path):
    model = TranslationModel.load(DIRS / "translator" / "model")
    out = hub.save_pretrained(model, tmp_path / "t")
    (a,), (b,) = hub.from_pretrained(out).translate(["ein hund ."]), model.translate(["ein hund ."])
    assert (a.text, a.tokens, a.score) == (b.text, b.tokens, b.score)
    card = huggingface_hub.ModelCard.load(out / hub.CARD)
    assert card.data.pipeline_tag == "translation"


def test_hub_id_goes_through_snapshot_download(tmp_path, monkeypatch):
    out = hub.save_pretrained(ClassifierBundle.load(DIRS / "classifier" / "model"), tmp_path / "m")
    calls = []

    def fake(**kwargs):
        calls.append(kwargs)
        return str(out)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake)
    model = hub.from_pretrained("user/repo", revision="v1", cache_dir=tmp_path / "c")
    assert isinstance(model, ClassifierBundle)
    assert calls[0]["repo_id"] == "user/repo" and calls[0]["revision"] == "v1"


def test_push_uploads_the_saved_folder(monkeypatch):
    seen = {}

    def upload(self, **kwargs):
        folder = Path(kwargs["folder_path"])
        seen["files"] = sorted(p.name for p in folder.iterdir())
        seen["repo"] = kwargs["repo_id"]
        return "ok"

    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload)
    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", lambda self, *a, **k: None)
    model = ClassifierBundle.load(DIRS / "classifier" / "model")
    assert hub.push_to_hub(model, "user/repo", token="t") == "ok"
    assert seen["repo"] == "user/repo"
    assert {"README.md", "manifest.json", "model.safetensors"} <= set(seen["files"])


def test_damaged_folder_is_refused(tmp_path):
    out = hub.save_pretrained(ClassifierBundle.load(DIRS / "classifier" / "model"), tmp_path / "m")
    weights = out / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="sha256"):
        hub.from_pretrained(out)


def test_methods_on_the_model_classes(tmp_path):
    model = ClassifierBundle.load(DIRS / "classifier" / "model")
    out = model.save_pretrained(tmp_path / "m", metrics={"accuracy": 0.5})
    same = ClassifierBundle.from_pretrained(out)
    assert same.predict(["a good film"]) == model.predict(["a good film"])
    assert huggingface_hub.ModelCard.load(out / hub.CARD).data.library_name == "seqattn"
    with pytest.raises(ValueError, match="expected a saved TranslationModel.*ClassifierBundle"):
        TranslationModel.from_pretrained(out)


def test_push_method_uploads(monkeypatch):
    seen = {}
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder",
                        lambda self, **kw: seen.setdefault("repo", kw["repo_id"]))  # fmt: skip
    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", lambda self, *a, **k: None)
    model = TranslationModel.load(DIRS / "translator" / "model")
    assert model.push_to_hub("user/t", token="t") == "user/t"
