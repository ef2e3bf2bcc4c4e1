"""examples/onnx_predict.py runs an exported classifier with onnxruntime alone and agrees with
ClassifierBundle.predict (same tokenisation, same probabilities)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("onnx", reason="needs the export extra")
pytest.importorskip("onnxruntime", reason="needs the export extra")

import torch  # noqa: E402

from seqattn.data import Vocab, WordTokenizer  # noqa: E402
from seqattn.models import ClassifierConfig, SequenceClassifier  # noqa: E402
from seqattn.pipelines import ClassifierBundle, export_classifier  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "model_dirs" / "current" / "classifier" / "model"
SCRIPT = ROOT / "examples" / "onnx_predict.py"


def cased_bilstm(path):
    """A cased tokenizer (uppercase words are other ids), max_length 16, three labels."""
    words = ["good", "Good", "GOOD", "film", "bad", "plot", "the", "!", ",", ".", "&", "'"]
    vocab = Vocab(["<pad>", "<unk>", *words], bos=None, eos=None)
    cfg = ClassifierConfig(len(vocab), 3, embed_dim=8, hidden_size=8, encoder="bilstm",
                           head="attention", num_layers=1, max_length=16)  # fmt: skip
    torch.manual_seed(3)
    bundle = ClassifierBundle(
        SequenceClassifier(cfg), WordTokenizer(lowercase=False), vocab, ["neg", "mid", "pos"]
    )
    return bundle.save(path)


@pytest.mark.parametrize("which", ["fixture", "cased"])
def test_script_matches_predict_without_seqattn(tmp_path, which):
    model_dir = tmp_path / "model"
    if which == "fixture":
        shutil.copytree(FIXTURE, model_dir)
    else:
        cased_bilstm(model_dir)
    export_classifier(model_dir, "onnx")
    texts = [
        "a good film",
        "The PLOT was BAD!!!",
        "zebra-crossing &amp; unknown<br />words, the film's plot...",
        "GOOD Good good film , the plot ! " * 3 + "bad " * 10,  # > max_length 16 (cased)
        " ".join(["good film"] * 300) + " bad " * 50,  # 650 tokens > max_length 400
    ]
    block = tmp_path / "block"
    block.mkdir()
    (block / "seqattn.py").write_text("raise ImportError('seqattn must not be imported')\n")
    (block / "torch.py").write_text("raise ImportError('torch must not be imported')\n")
    env = {**os.environ, "PYTHONPATH": str(block)}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(model_dir), "--json", *texts],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    got = [json.loads(line) for line in done.stdout.splitlines()]
    want = ClassifierBundle.load(model_dir).predict(texts)
    assert len(got) == len(want) == len(texts)
    for g, w in zip(got, want, strict=True):
        assert g["label"] == w.label
        assert g["probs"].keys() == w.probs.keys()
        for name, p in w.probs.items():
            assert abs(g["probs"][name] - p) < 1e-5
