"""The shared model-directory format: old directories still load, new ones are checked."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
import safetensors.torch
import torch

from seqattn.pipelines.captioning import Captioner
from seqattn.pipelines.classification import ClassifierBundle
from seqattn.pipelines.model_dir import (
    FORMAT,
    MANIFEST,
    MissingModelFile,
    open_model_dir,
    write_model_dir,
)
from seqattn.pipelines.translation import TranslationModel

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
LEGACY = FIXTURES / "model_dirs" / "legacy"  # written before the shared format (a6957a4)
CURRENT = FIXTURES / "model_dirs" / "current"  # the shared format, version 1 (17caa27)
LOADERS = {"classifier": ClassifierBundle, "translator": TranslationModel, "captioner": Captioner}


def _maker():
    path = FIXTURES / "make_model_dirs.py"
    spec = importlib.util.spec_from_file_location("make_model_dirs", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MAKER = _maker()


def _close(got, want, path="") -> None:
    """Equal structures; floats within 1e-6 (the recorded outputs are float32 values)."""
    if isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-6, abs=1e-7), path
    elif isinstance(want, dict):
        assert set(got) == set(want), path
        for k in want:
            _close(got[k], want[k], f"{path}.{k}")
    elif isinstance(want, list):
        assert len(got) == len(want), path
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            _close(g, w, f"{path}[{i}]")
    else:
        assert got == want, path


def _outputs(kind: str, obj) -> dict:
    # through JSON, as recorded
    return json.loads(json.dumps(MAKER.KINDS[kind][1](obj)))


@pytest.mark.parametrize("kind", list(LOADERS))
@pytest.mark.parametrize("root", [LEGACY, CURRENT], ids=["legacy", "current"])
def test_fixture_directories_load_and_predict_as_recorded(kind, root):
    """Directories written before the shared format (a6957a4) and in it (version 1) load."""
    model_dir = root / kind / "model"
    assert (model_dir / MANIFEST).exists() == (root == CURRENT)
    loaded = LOADERS[kind].load(model_dir)
    want = json.loads((root / kind / "expected.json").read_text(encoding="utf-8"))
    _close(_outputs(kind, loaded), want)


@pytest.mark.parametrize("kind", list(LOADERS))
def test_resaved_in_the_shared_format_predicts_the_same(kind, tmp_path):
    loaded = LOADERS[kind].load(LEGACY / kind / "model")
    loaded.save(tmp_path / "m")
    manifest = json.loads((tmp_path / "m" / MANIFEST).read_text())
    assert manifest["format"] == FORMAT and manifest["version"] == 1
    files = {p.name for p in (tmp_path / "m").iterdir()} - {MANIFEST}
    assert set(manifest["files"]) == files and {"config.json", "model.safetensors"} <= files
    again = LOADERS[kind].load(tmp_path / "m")
    want = json.loads((LEGACY / kind / "expected.json").read_text(encoding="utf-8"))
    _close(_outputs(kind, again), want)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary left"


def test_kind_is_checked(tmp_path):
    ClassifierBundle.load(LEGACY / "classifier" / "model").save(tmp_path / "m")
    with pytest.raises(ValueError, match=r"expected a 'captioner' model directory, got kind "
                                         r"'text-classifier' in .*manifest\.json"):  # fmt: skip
        Captioner.load(tmp_path / "m")
    with pytest.raises(ValueError, match=r"expected format 'seqattn-captioner/1' in .*config"):
        Captioner.load(LEGACY / "classifier" / "model")  # a legacy one of another kind


@pytest.fixture
def saved(tmp_path):
    bundle = MAKER.make_captioner()
    return bundle, bundle.save(tmp_path / "m")


def _edit_manifest(model_dir: Path, **changes) -> None:
    path = model_dir / MANIFEST
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def test_missing_and_changed_files_are_named(saved):
    _, model_dir = saved
    (model_dir / "tokenizer.json").unlink()
    with pytest.raises(MissingModelFile, match=r"expected tokenizer\.json in the model directory"):
        Captioner.load(model_dir)
    with pytest.raises(FileNotFoundError):  # also a FileNotFoundError, as the loaders raised
        Captioner.load(model_dir)
    with pytest.raises(FileNotFoundError, match="expected a captioner model directory, got no "):
        Captioner.load(model_dir / "nothing")
    with pytest.raises(ValueError, match=r"expected a captioner directory \(with manifest"):
        Captioner.load(model_dir.parent)


def test_hash_mismatch_is_named(saved):
    bundle, model_dir = saved
    (model_dir / "vocab.json").write_text((model_dir / "vocab.json").read_text() + " ")
    with pytest.raises(ValueError, match=r"vocab\.json to match the sha256 recorded in manifest"):
        Captioner.load(model_dir)
    bundle.save(model_dir)
    config = model_dir / "config.json"
    config.write_text(config.read_text().replace('"max_len": 5', '"max_len": 6'))
    with pytest.raises(ValueError, match=r"config\.json to match the sha256"):
        Captioner.load(model_dir)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"format": "x"}, r"expected format 'seqattn\.model-dir' in .*manifest\.json, got 'x'"),
        ({"version": 2}, r"expected a version from 1 to 1 in .*manifest\.json .*got 2"),
        ({"version": "1"}, r"got '1'"),
        ({"files": {"config.json": "0"}}, r"expected \['model\.safetensors', 'vocab\.json'"),
    ],
)  # fmt: skip
def test_wrong_format_or_version_is_refused(saved, changes, message):
    _, model_dir = saved
    _edit_manifest(model_dir, **changes)
    with pytest.raises(ValueError, match=message):
        Captioner.load(model_dir)


def _rewrite_weights(model_dir: Path, state: dict) -> None:
    """New weights with a manifest that vouches for them (only the weights are wrong)."""
    from seqattn.io import sha256_file

    safetensors.torch.save_file(state, str(model_dir / "model.safetensors"))
    manifest = json.loads((model_dir / MANIFEST).read_text())
    manifest["files"]["model.safetensors"] = sha256_file(model_dir / "model.safetensors")
    (model_dir / MANIFEST).write_text(json.dumps(manifest))


def test_weights_not_matching_the_config_are_named(saved):
    bundle, model_dir = saved
    state = {k: v.clone() for k, v in bundle.model.state_dict().items()}
    extra = {**state, "surplus.weight": torch.zeros(2)}
    _rewrite_weights(model_dir, extra)
    with pytest.raises(ValueError, match=r"model\.safetensors, got 0 missing \[\] and 1 "
                                         r"unexpected \['surplus\.weight'\]"):  # fmt: skip
        Captioner.load(model_dir)
    name = next(k for k, v in state.items() if v.dim() == 2)
    wrong = {**state, name: torch.zeros(state[name].shape[0] + 1, state[name].shape[1])}
    rows, cols = state[name].shape
    with pytest.raises(ValueError, match=rf"expected {name} of shape \({rows}, {cols}\)"):
        _rewrite_weights(model_dir, wrong)
        Captioner.load(model_dir)
    (model_dir / "model.safetensors").write_bytes(b"not safetensors")
    _edit_manifest(model_dir, files={
        **json.loads((model_dir / MANIFEST).read_text())["files"],
        "model.safetensors": __import__("hashlib").sha256(b"not safetensors").hexdigest(),
    })  # fmt: skip
    with pytest.raises(ValueError, match=r"expected safetensors weights in .*model\.safetensors"):
        Captioner.load(model_dir)


def test_invalid_json_is_named(saved):
    _, model_dir = saved
    (model_dir / MANIFEST).write_text("{not json")
    with pytest.raises(ValueError, match=r"valid JSON in .*manifest\.json"):
        Captioner.load(model_dir)


def test_save_over_a_training_folder_keeps_its_other_files(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.jsonl").write_text("{}\n")
    bundle = MAKER.make_classifier()
    bundle.save(out)
    bundle.save(out)  # again, over itself
    assert (out / "metrics.jsonl").read_text() == "{}\n"
    md = open_model_dir(out, "text-classifier", ("vocab.json", "tokenizer.json"))
    assert md.version == 1 and md.config["labels"] == ["neg", "pos"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_an_interrupted_save_leaves_no_directory_or_the_old_one(tmp_path):
    model = torch.nn.Linear(2, 2)

    def crash(path):
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_model_dir(tmp_path / "new", "thing", {}, model, {"vocab.json": crash})
    assert list(tmp_path.iterdir()) == []  # nothing half-written, no temporary folder
    write_model_dir(tmp_path / "old", "thing", {"a": 1}, model)
    before = {p.name: p.read_bytes() for p in (tmp_path / "old").iterdir()}
    with pytest.raises(OSError, match="disk full"):
        write_model_dir(tmp_path / "old", "thing", {"a": 2}, model, {"vocab.json": crash})
    assert {p.name: p.read_bytes() for p in (tmp_path / "old").iterdir()} == before
    assert open_model_dir(tmp_path / "old", "thing").config == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["old"]


def test_the_legacy_translator_without_hashes_still_needs_its_files(tmp_path):
    shutil.copytree(LEGACY / "translator" / "model", tmp_path / "m")
    (tmp_path / "m" / "tgt_vocab.json").unlink()
    with pytest.raises(MissingModelFile, match=r"expected tgt_vocab\.json in the model directory"):
        TranslationModel.load(tmp_path / "m")
