"""Every saved model (classifier, translator, captioner) refuses a damaged folder with one
ValueError naming the file: truncated or altered weights (with or without the manifest's sha256
recomputed), a changed ``hidden_size``, NaN weights, a manifest naming a file outside the
folder, and a tokenizer whose pattern is a regular expression (never compiled: ``(a+)+$`` once
hung ``predict``). Issue 20, items 2, 3 and 6."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
import safetensors.torch

from seqattn.data.tokenize import BPETokenizer, WordTokenizer, load_tokenizer
from seqattn.io import sha256_file
from seqattn.pipelines.captioning import Captioner
from seqattn.pipelines.classification import ClassifierBundle
from seqattn.pipelines.translation import TranslationModel

CURRENT = Path(__file__).resolve().parents[1] / "fixtures" / "model_dirs" / "current"
LOADERS = {"classifier": ClassifierBundle, "translator": TranslationModel, "captioner": Captioner}
WEIGHTS = "model.safetensors"


def _rehash(d: Path, name: str) -> None:
    manifest = json.loads((d / "manifest.json").read_text())
    manifest["files"][name] = sha256_file(d / name)
    (d / "manifest.json").write_text(json.dumps(manifest))


def _truncate(d):
    raw = (d / WEIGHTS).read_bytes()
    (d / WEIGHTS).write_bytes(raw[: len(raw) // 2])


def _flip_header(d):
    raw = bytearray((d / WEIGHTS).read_bytes())
    raw[10] ^= 0xFF
    (d / WEIGHTS).write_bytes(bytes(raw))


def _flip_data_bit(d):
    raw = bytearray((d / WEIGHTS).read_bytes())
    raw[-3] ^= 1
    (d / WEIGHTS).write_bytes(bytes(raw))


def _grow_hidden(d):
    def walk(x):
        if isinstance(x, dict):
            for key, value in x.items():
                if key == "hidden_size":
                    x[key] = value + 2
                else:
                    walk(value)

    config = json.loads((d / "config.json").read_text())
    walk(config)
    (d / "config.json").write_text(json.dumps(config))


def _nan_weight(d):
    state = safetensors.torch.load_file(str(d / WEIGHTS))
    name = sorted(state)[0]
    state[name] = state[name].clone()
    state[name].view(-1)[0] = float("nan")
    safetensors.torch.save_file(state, str(d / WEIGHTS))


def _evil_pattern(d):
    for path in d.glob("*tokenizer.json"):
        data = json.loads(path.read_text())
        data["pattern"] = "(a+)+$"
        path.write_text(json.dumps(data))


DAMAGE = {  # name: (damage, file whose sha256 is recomputed or None, what the error says)
    "truncated": (_truncate, None, "sha256"),
    "flipped header": (_flip_header, None, "sha256"),
    "flipped data bit": (_flip_data_bit, None, "sha256"),
    "truncated, rehashed": (_truncate, WEIGHTS, "expected safetensors weights"),
    "flipped header, rehashed": (_flip_header, WEIGHTS, "expected safetensors weights"),
    "hidden_size changed": (_grow_hidden, None, "sha256"),
    "hidden_size changed, rehashed": (_grow_hidden, "config.json", "of shape"),
    "NaN weight, rehashed": (_nan_weight, WEIGHTS, "expected finite weights"),
    "regex pattern, rehashed": (_evil_pattern, "tokenizer", "built-in patterns"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
@pytest.mark.parametrize("kind", list(LOADERS))
def test_damaged_model_folder_is_one_value_error(tmp_path, kind, damage):
    d = tmp_path / "model"
    shutil.copytree(CURRENT / kind / "model", d)
    fn, rehash, says = DAMAGE[damage]
    fn(d)
    for name in [rehash] if rehash not in (None, "tokenizer") else []:
        _rehash(d, name)
    if rehash == "tokenizer":
        for path in d.glob("*tokenizer.json"):
            _rehash(d, path.name)
    start = time.perf_counter()
    with pytest.raises(ValueError, match=says) as info:
        LOADERS[kind].load(d)
    assert time.perf_counter() - start < 10  # the regex is refused, never run
    assert str(d) in str(info.value)  # names the folder (and the file)


@pytest.mark.parametrize("name", ["/etc/hostname", "../outside.json", "sub/config.json", ".."])
@pytest.mark.parametrize("kind", list(LOADERS))
def test_manifest_names_stay_inside_the_folder(tmp_path, kind, name):
    d = tmp_path / "model"
    shutil.copytree(CURRENT / kind / "model", d)
    (tmp_path / "outside.json").write_text("{}")
    manifest = json.loads((d / "manifest.json").read_text())
    manifest["files"][name] = "0" * 64
    (d / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="plain file names") as info:
        LOADERS[kind].load(d)
    assert repr(name) in str(info.value)


def test_word_tokenizer_takes_named_patterns_only(tmp_path):
    assert WordTokenizer(pattern="word").pattern == "word"
    # files written before named patterns hold the pattern's text: still accepted
    from seqattn.data.tokenize import WORD_PATTERN

    assert WordTokenizer(pattern=WORD_PATTERN).pattern == "word"
    with pytest.raises(ValueError, match=r"built-in patterns \['word'\]"):
        WordTokenizer(pattern="(a+)+$")
    with pytest.raises(TypeError, match="expected lowercase to be a bool"):
        WordTokenizer(lowercase="yes")
    saved = json.loads(WordTokenizer().save(tmp_path / "tok.json").read_text())
    assert saved["pattern"] == "word"
    path = tmp_path / "odd.json"
    path.write_text(json.dumps({"kind": "word", "pattern": "word", "eval": "x"}))
    with pytest.raises(ValueError, match="expected only the options"):
        load_tokenizer(path)


def test_bpe_tokenizer_file_with_a_regex_step_is_refused(tmp_path):
    tok = BPETokenizer.train(["a dog runs", "a cat sits", "the dog sits"] * 20, vocab_size=40)
    path = tok.save(tmp_path / "bpe.json")
    assert load_tokenizer(path)("a dog") == tok("a dog")
    data = json.loads(path.read_text())
    data["tokenizer"]["pre_tokenizer"] = {
        "type": "Split",
        "pattern": {"Regex": "(a+)+$"},
        "behavior": "Isolated",
        "invert": False,
    }
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="expected a Metaspace pre_tokenizer"):
        load_tokenizer(path)
