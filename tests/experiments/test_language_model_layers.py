"""The language model's modern layers: streaming generation through ``step`` equals a forward."""

from __future__ import annotations

import pytest
import torch
from test_language_model import TINY, _captions

from seqattn.experiments.language_model import Config, run, tables
from seqattn.experiments.language_model_layers import MODERN, CharMixerLM, stream_tokens_per_s


@pytest.mark.parametrize("kind", MODERN)
def test_step_equals_forward_float64(kind):
    torch.manual_seed(0)
    model = CharMixerLM(kind, vocab_size=7, dim=8, layers=2, heads=2).double().eval()
    tokens = torch.randint(0, 7, (3, 9))
    with torch.no_grad():
        full = torch.log_softmax(model(tokens), -1)  # (B, T, V)
        state, steps = model.initial_state(3), []
        for t in range(tokens.shape[1]):
            log_probs, state, _ = model.step(tokens[:, t], state)
            steps.append(log_probs)
    torch.testing.assert_close(torch.stack(steps, 1), full, atol=1e-12, rtol=0)
    # every state tensor keeps the batch row on dim 0 (the searches drop finished rows there)
    leaves = [t for s in state for t in (s if isinstance(s, tuple) else (s,))]
    assert leaves and all(t.shape[0] == 3 for t in leaves)


def test_stream_tokens_per_s_is_positive_and_keeps_train_mode():
    model = CharMixerLM("mlstm", vocab_size=5, dim=8, layers=1, heads=2).train()
    assert stream_tokens_per_s(model, chars=5, batch=2) > 0
    assert model.training


def test_tiny_run_with_a_modern_layer(tmp_path):
    path = tmp_path / "captions.txt"
    path.write_text(_captions(), encoding="utf-8")
    tiny = {**TINY, "models": ("lstm", "mlstm"), "mixer_d_model": 16, "mixer_heads": 2,
            "mixer_layers": 1, "mixer_lr": 1e-2}  # fmt: skip
    res = run(Config(dataset=str(path), **tiny), tmp_path / "out")
    rows = {r["model"]: r for r in res["table"]}
    assert set(rows) == {"lstm", "mlstm"}
    r = rows["mlstm"]
    assert r["steps"] == 60 and r["chars_scored"] == res["eval_chars"] - 1
    assert r["heldout_bpc"] < res["uniform_bpc"] - 1.0, r  # measured ~2.4 vs uniform ~4.9
    assert r["train_tokens_per_s"] > 0 and r["gen_tokens_per_s"] > 0
    assert {s["model"] for s in res["samples"]} == {"lstm", "mlstm"}
    # the LSTM row does not depend on what else runs (each model starts from seed)
    (alone,) = run(Config(dataset=str(path), **{**tiny, "models": ("lstm",)}), tmp_path / "b")[
        "table"
    ]
    assert alone["heldout_bpc"] == rows["lstm"]["heldout_bpc"]
    table, _ = tables(res)
    assert [cells[0] for cells in table.cells()] == ["lstm", "mlstm"]


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ({"models": ("mamba", "rwkv")}, "expected models from"),
        ({"mixer_d_model": 10, "mixer_heads": 4}, "divisible by mixer_heads"),
        ({"mixer_layers": 0}, "mixer_layers to be a positive int"),
        ({"mixer_lr": 0.0}, "mixer_lr > 0"),
    ],
)
def test_bad_mixer_config(bad, match):
    with pytest.raises(ValueError, match=match):
        Config(**bad)
