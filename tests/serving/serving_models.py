"""Tiny randomly initialised translators of every decoder kind (the parity tests' models)."""

from __future__ import annotations

import dataclasses

SRC_TEXTS = [
    "ein hund läuft über die wiese .",
    "eine katze schläft auf dem sofa .",
    "zwei männer spielen fußball im park .",
    "ein kind isst einen roten apfel .",
    "die frau liest ein buch am fenster .",
    "ein mann fährt mit dem fahrrad zur arbeit .",
]
TGT_TEXTS = [
    "a dog runs across the meadow .",
    "a cat sleeps on the sofa .",
    "two men play football in the park .",
    "a child eats a red apple .",
    "the woman reads a book at the window .",
    "a man rides his bike to work .",
]
#: sentences to translate: known words, unknown ones, one- and many-token sources
SENTENCES = [
    "ein hund schläft .",
    "zwei katzen spielen im park mit einem roten ball .",
    "die frau",
    "fußball",
    "ein mann liest ein buch auf dem sofa am fenster über die wiese .",
    "eine katze isst einen apfel .",
    "unbekannte wörter hier !",
]

#: decoder kind -> Seq2SeqConfig overrides (every decoder, Luong's variants included)
KINDS = {
    "plain": {"decoder": "plain"},
    "context": {"decoder": "context"},
    "bahdanau": {"decoder": "bahdanau"},
    "bahdanau-lstm": {"decoder": "bahdanau", "cell": "lstm", "encoder_layers": 2,
                      "decoder_layers": 2},
    "luong": {"decoder": "luong", "luong_score": "general"},
    "luong-concat-nofeed": {"decoder": "luong", "luong_score": "concat", "input_feeding": False},
    "luong-local-m": {"decoder": "luong", "luong_attention": "local-m", "local_window": 1},
    "luong-local-p-lstm": {"decoder": "luong", "luong_attention": "local-p", "local_window": 2,
                           "cell": "lstm"},
    "location": {"decoder": "location", "max_source_len": 16},
    "transformer": {"decoder": "transformer", "num_heads": 2, "decoder_layers": 2},
    "tied-unidirectional": {"decoder": "luong", "luong_score": "dot", "bidirectional": False,
                            "tie_embeddings": True},
}  # fmt: skip


def make_translator(kind: str, subword: str = "word", seed: int = 0):
    """A TranslationModel of ``kind`` (a key of KINDS), random weights, sizes 8."""
    import torch

    from seqattn.models.seq2seq import Seq2Seq
    from seqattn.pipelines.translation import TranslationConfig, TranslationModel, _Side
    from seqattn.pipelines.translation_config import default_model

    small = dataclasses.replace(default_model(), embed_dim=8, hidden_size=8, dropout=0.0)
    cfg = TranslationConfig(model=small, subword=subword, bpe_vocab=60, min_freq=1,
                            max_length=16 if subword == "word" else 64)  # fmt: skip
    src, tgt = _Side.build(SRC_TEXTS, cfg), _Side.build(TGT_TEXTS, cfg)
    model_cfg = dataclasses.replace(cfg.model_config(len(src.vocab), len(tgt.vocab)),
                                    **KINDS[kind])  # fmt: skip
    torch.manual_seed(seed)
    model = Seq2Seq(model_cfg).eval()
    with torch.no_grad():  # larger logits than the init's: fewer near-ties, longer outputs
        for p in model.parameters():
            p.mul_(3.0)
    return TranslationModel(model, cfg, src, tgt)
