"""The ONNX runner (seqattn.serving) gives PyTorch's translations token for token, for every
decoder kind, greedy and beam, ragged batches of several sizes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from serving_models import KINDS, SENTENCES

#: the kinds checked by default; the others (same code paths, other options) under slow
FAST = ("bahdanau", "transformer", "luong-local-p-lstm", "context")
#: (beam, batch_size, length_penalty): greedy and beam, ragged batches of 1, 2, 3 and 64 rows
SEARCHES = ((1, 3, 0.0), (1, 64, 0.0), (4, 2, 0.6), (5, 64, 0.0), (3, 1, 1.0))


def _compare(model_dir, folder, sentences=SENTENCES):
    from seqattn.pipelines.translation import TranslationModel
    from seqattn.serving import OnnxTranslator

    torch_model, onnx_model = TranslationModel.load(model_dir), OnnxTranslator(folder)
    for beam, batch, alpha in SEARCHES:
        want = torch_model.translate(sentences, beam=beam, batch_size=batch, length_penalty=alpha)
        got = onnx_model.translate(sentences, beam=beam, batch_size=batch, length_penalty=alpha)
        for w, g in zip(want, got, strict=True):
            assert g.tokens == w.tokens, (beam, batch, w.text, g.text)
            assert (g.text, g.src_tokens) == (w.text, w.src_tokens)
            assert g.score == pytest.approx(w.score, abs=1e-4)
            assert (g.attention is None) == (w.attention is None)
            if w.attention is not None:
                np.testing.assert_allclose(g.attention, w.attention.numpy(), atol=1e-4)


@pytest.mark.parametrize(
    "kind", [k if k in FAST else pytest.param(k, marks=pytest.mark.slow) for k in KINDS]
)
def test_onnx_translations_equal_pytorch(exported, kind):
    _compare(*exported(kind))


def test_bpe_translator_equals_pytorch(exported):
    """Subword models: BPE tokenisation from the saved tokenizers library file, Metaspace
    detokenisation, unknown characters."""
    _compare(*exported("bahdanau", "bpe"), [*SENTENCES, "Ein Hund läuft!  Ünbekannt: ×÷"])


def test_manifest_names_the_graphs_and_the_specials(exported):
    model_dir, folder = exported("transformer")
    m = json.loads((folder / "manifest.json").read_text())
    assert m["decoder"] == "transformer" and m["quantize"] is None
    assert m["state"] == ["self_key_0", "self_key_1", "self_value_0", "self_value_1", "t"]
    assert m["source"] == ["memory", "src_mask"]
    step = m["decoder_step"]
    assert list(step["inputs"]) == ["tokens", *m["state"], *m["source"]]
    assert list(step["outputs"]) == ["log_probs", *(f"{n}_out" for n in m["state"]), "attention"]
    assert step["inputs"]["self_key_0"]["shape"] == ["rows", 2, "past", 4]
    assert step["outputs"]["self_key_0_out"]["shape"] == ["rows", 2, "past_plus_1", 4]
    assert step["inputs"]["src_mask"] == {"shape": ["rows", "source_len"], "dtype": "bool"}
    vocab = json.loads((model_dir / "tgt_vocab.json").read_text())["tokens"]
    assert [vocab[m["special_ids"][k]] for k in ("pad", "bos", "eos")] == [
        "<pad>", "<bos>", "<eos>"]  # fmt: skip
    assert m["checked_max_diff"] < 1e-4 and {"torch", "onnx", "seqattn"} <= set(m["versions"])
    for name in ("encoder.onnx", "decoder_step.onnx", "src_vocab.json", "tgt_tokenizer.json"):
        assert (folder / name).is_file()


def test_plain_decoder_has_no_attention_output(exported):
    _, folder = exported("plain")
    m = json.loads((folder / "manifest.json").read_text())
    assert m["attention"] is False and "attention" not in m["decoder_step"]["outputs"]
    assert m["state"] == ["hidden"] and m["source"] == []
