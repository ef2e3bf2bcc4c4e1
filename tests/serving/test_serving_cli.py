"""``seqattn export`` of a translator directory, ``--quantize int8``, and what it refuses."""

from __future__ import annotations

import json

import pytest
from serving_models import SENTENCES, make_translator

from seqattn.cli.main import main


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "model"
    make_translator("luong-local-m").save(path)
    return path


def test_cli_exports_a_translator_and_its_int8_twin(model_dir, capsys):
    from seqattn.pipelines.translation import TranslationModel
    from seqattn.serving import OnnxTranslator

    assert main(["export", "--model", str(model_dir), "--format", "onnx"]) == 0
    assert "decoder_step.onnx" in capsys.readouterr().out
    want = [t.tokens for t in TranslationModel.load(model_dir).translate(SENTENCES, beam=2)]
    fp32 = OnnxTranslator(model_dir / "onnx")
    assert [t.tokens for t in fp32.translate(SENTENCES, beam=2)] == want
    out = model_dir.parent / "int8"
    assert main(["export", "--model", str(model_dir), "--format", "onnx", "--quantize", "int8",
                 "--output", str(out)]) == 0  # fmt: skip
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["quantize"] == "int8"
    sizes = [(d / "decoder_step.onnx").stat().st_size for d in (model_dir / "onnx", out)]
    assert sizes[1] != sizes[0]  # rewritten (tiny models may not shrink: scales and zeros)
    got = OnnxTranslator(out).translate(SENTENCES, beam=2)
    assert len(got) == len(SENTENCES) and all(isinstance(t.text, str) for t in got)


def test_export_refuses_other_formats_and_quantisations(model_dir):
    from seqattn.pipelines.export_translator import export_translator

    with pytest.raises(ValueError, match="expected format 'onnx' for a translator"):
        export_translator(model_dir, "torchscript")
    with pytest.raises(ValueError, match="expected quantize None or one of"):
        export_translator(model_dir, quantize="int4")
    assert main(["export", "--model", str(model_dir), "--format", "torchscript"]) != 0


def test_runner_refuses_what_translate_refuses(model_dir, exported):
    from seqattn.serving import OnnxTranslator

    runner = OnnxTranslator(exported("bahdanau")[1])
    with pytest.raises(ValueError, match="expected a sentence at input 2"):
        runner.translate(["ein hund", "  "])
    with pytest.raises(ValueError, match="max_length"):
        runner.translate(["hund " * 40])
    with pytest.raises(ValueError, match="expected format 'seqattn.translator-onnx/1'"):
        OnnxTranslator(model_dir)  # the model directory itself, not its export
    with pytest.raises(ValueError, match="expected an exported translator's manifest"):
        OnnxTranslator(model_dir / "missing")


def test_classifier_export_with_quantize_adds_an_int8_file(tmp_path, capsys):
    """The classifier export itself is unchanged (model.onnx); --quantize int8 writes
    model.int8.onnx beside it, whose probabilities stay close; torchscript refuses it."""
    import numpy as np
    import onnxruntime as ort
    import torch

    from seqattn.data import Vocab, WordTokenizer
    from seqattn.models import ClassifierConfig, SequenceClassifier
    from seqattn.pipelines.classification import ClassifierBundle

    torch.manual_seed(0)
    words = ["<pad>", "<unk>", "a", "good", "film", "the", "plot", "was", "bad"]
    cfg = ClassifierConfig(vocab_size=len(words), num_classes=2, embed_dim=16, hidden_size=16,
                           encoder="lstm", head="attention")  # fmt: skip
    bundle = ClassifierBundle(SequenceClassifier(cfg), WordTokenizer(),
                              Vocab(words, bos=None, eos=None), ["neg", "pos"])  # fmt: skip
    bundle.save(tmp_path / "clf")
    assert main(["export", "--model", str(tmp_path / "clf"), "--format", "onnx",
                 "--quantize", "int8"]) == 0  # fmt: skip
    assert "model.int8.onnx" in capsys.readouterr().out
    tokens = np.array([[2, 3, 4, 0], [5, 6, 7, 8]], dtype=np.int64)
    feed = {"tokens": tokens, "mask": tokens != 0}
    probs = [ort.InferenceSession(str(tmp_path / "clf" / name)).run(["probs"], feed)[0]
             for name in ("model.onnx", "model.int8.onnx")]  # fmt: skip
    np.testing.assert_allclose(probs[1], probs[0], atol=0.05)
    assert main(["export", "--model", str(tmp_path / "clf"), "--format", "torchscript",
                 "--quantize", "int8"]) != 0  # fmt: skip
