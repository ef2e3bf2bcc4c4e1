"""``seqattn.load(dir)``: one call for every saved model, old folders included."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import seqattn
from seqattn.pipelines import Captioner, ClassifierBundle, TranslationModel, model_kind

DIRS = Path(__file__).resolve().parents[1] / "fixtures" / "model_dirs"
CLASSES = {"classifier": ClassifierBundle, "translator": TranslationModel, "captioner": Captioner}


@pytest.mark.parametrize("root", ["current", "legacy"])
@pytest.mark.parametrize("kind", list(CLASSES))
def test_load_returns_the_kinds_class_as_its_own_load_does(kind, root):
    path = DIRS / root / kind / "model"
    model = seqattn.load(path)
    assert type(model) is CLASSES[kind]
    same = CLASSES[kind].load(path)
    if kind == "classifier":
        assert model.predict(["a good film"]) == same.predict(["a good film"])
    elif kind == "translator":
        (a,), (b,) = model.translate(["ein hund ."]), same.translate(["ein hund ."])
        assert (a.text, a.tokens, a.score) == (b.text, b.tokens, b.score)


def test_what_is_not_a_model_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no directory at"):
        seqattn.load(tmp_path / "nothing")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match=r"manifest.json or config.json.*\['notes.txt'\]"):
        seqattn.load(tmp_path)
    model = tmp_path / "m"
    shutil.copytree(DIRS / "current" / "classifier" / "model", model)
    manifest = json.loads((model / "manifest.json").read_text())
    (model / "manifest.json").write_text(json.dumps({**manifest, "kind": "speller"}))
    with pytest.raises(ValueError, match="expected kind in .*got 'speller'"):
        model_kind(model)


def test_import_seqattn_stays_light():
    code = "import sys, seqattn; assert 'torch' not in sys.modules; print(seqattn.__version__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_load_knows_taggers_and_they_share_the_hub_methods(tmp_path):
    from seqattn.data import Vocab
    from seqattn.models import SequenceTagger, TaggerConfig
    from seqattn.pipelines import TaggerBundle

    cfg = TaggerConfig(vocab_size=4, num_tags=2, embed_dim=4, hidden_size=4)
    vocab = Vocab(["<pad>", "<unk>", "eu", "rejects"], bos=None, eos=None)
    bundle = TaggerBundle(SequenceTagger(cfg), vocab, ["B-ORG", "O"], lowercase=True)
    bundle.save(tmp_path / "tagger")
    assert model_kind(tmp_path / "tagger") == "sequence-tagger"
    loaded = seqattn.load(tmp_path / "tagger")
    assert type(loaded) is TaggerBundle
    assert loaded.predict([["EU", "rejects"]]) == bundle.predict([["EU", "rejects"]])
    assert callable(TaggerBundle.from_pretrained) and callable(loaded.push_to_hub)
