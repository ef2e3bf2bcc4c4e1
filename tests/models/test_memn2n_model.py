"""MemN2N model: config validation, the ensemble's independence, save/load round trip."""

from __future__ import annotations

import pytest
import torch

from seqattn.models import MemN2N, MemN2NConfig


def _batch():
    stories = torch.tensor([[[1, 2], [3, 4], [0, 0]], [[5, 1], [0, 0], [0, 0]]])
    return stories, torch.tensor([[6, 7], [7, 0]]), stories[..., 0] != 0


def test_config_errors():
    with pytest.raises(ValueError, match="vocab_size"):
        MemN2NConfig(vocab_size=0)
    with pytest.raises(ValueError, match="encoding"):
        MemN2NConfig(vocab_size=5, encoding="rnn")
    with pytest.raises(TypeError, match="MemN2NConfig"):
        MemN2N({"vocab_size": 5})


def test_ensemble_members_are_independent_models():
    torch.manual_seed(0)
    model = MemN2N(MemN2NConfig(vocab_size=8, embed_dim=6, hops=2, memory_size=3, num_models=3))
    emb = model.memory.embed
    assert not torch.allclose(emb[0], emb[1])  # each its own initialisation
    stories, query, mask = _batch()
    out = model(stories, query, mask)
    assert out.logits.shape == (3, 2, 8) and out.attention.shape == (3, 2, 2, 3)
    # the loss of model 1 moves only model 1's parameters
    out.logits[1].sum().backward()
    assert emb.grad[0].abs().sum() == 0 and emb.grad[2].abs().sum() == 0
    assert emb.grad[1].abs().sum() > 0
    # model r of the ensemble equals a single model holding r's weights
    single = MemN2N(MemN2NConfig(vocab_size=8, embed_dim=6, hops=2, memory_size=3))
    with torch.no_grad():
        single.memory.embed.copy_(emb[2:3])
        single.memory.temporal.copy_(model.memory.temporal[2:3])
    assert torch.allclose(single(stories, query, mask).logits[0], out.logits[2], atol=1e-6)


def test_save_load_round_trip(tmp_path):
    model = MemN2N(MemN2NConfig(vocab_size=8, memory_size=3, encoding="bow", num_models=2))
    model.save(tmp_path / "m")
    assert {p.name for p in (tmp_path / "m").iterdir()} == {"model.safetensors", "config.json"}
    again = MemN2N.load(tmp_path / "m")
    assert again.config == model.config
    stories, query, mask = _batch()
    assert torch.equal(again.predict(stories, query, mask), model.predict(stories, query, mask))
    with pytest.raises(ValueError, match="model directory"):
        MemN2N.load(tmp_path / "nowhere")
