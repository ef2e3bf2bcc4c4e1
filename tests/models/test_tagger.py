"""SequenceTagger: shapes, padding invariance, both heads, the loss each head trains, config."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from seqattn.models import SequenceTagger, TaggerConfig


def _model(crf: bool, seed: int = 0) -> SequenceTagger:
    torch.manual_seed(seed)
    cfg = TaggerConfig(vocab_size=12, num_tags=4, embed_dim=6, hidden_size=5, crf=crf)
    return SequenceTagger(cfg).double().eval()


def _batch():
    tokens = torch.tensor([[2, 3, 4, 5, 6], [7, 8, 0, 0, 0], [9, 10, 11, 0, 0]])
    return tokens, torch.tensor([5, 2, 3]), torch.randint(0, 4, (3, 5))


@pytest.mark.parametrize("crf", [True, False])
def test_padding_changes_nothing(crf):
    model = _model(crf)
    tokens, lengths, tags = _batch()
    e = model.emissions(tokens, lengths)
    assert e.shape == (3, 5, 4)
    paths = model.decode(tokens, lengths)
    assert [len(p) for p in paths] == [5, 2, 3]
    for i in range(3):
        n = int(lengths[i])
        alone = tokens[i : i + 1, :n]
        assert torch.allclose(e[i, :n], model.emissions(alone, torch.tensor([n]))[0])
        assert paths[i] == model.decode(alone, torch.tensor([n]))[0]
    padded = tokens.clone()
    padded[1, 2:] = 5  # other ids at padding
    assert model.decode(padded, lengths) == paths


def test_heads_train_their_own_loss():
    tokens, lengths, tags = _batch()
    mask = torch.arange(5)[None] < lengths[:, None]
    crf_model = _model(True)
    e = crf_model.emissions(tokens, lengths)
    want = crf_model.crf(e, tags, mask, reduction="sum") / mask.sum()
    assert torch.allclose(crf_model.loss(tokens, lengths, tags), want)
    soft = _model(False)
    e = soft.emissions(tokens, lengths)
    assert torch.allclose(soft.loss(tokens, lengths, tags), F.cross_entropy(e[mask], tags[mask]))
    best = e.argmax(-1)
    assert soft.decode(tokens, lengths) == [best[i, : int(n)].tolist() for i, n in
                                            enumerate(lengths)]  # fmt: skip
    assert crf_model.decode(tokens, lengths) == crf_model.crf.decode(
        crf_model.emissions(tokens, lengths), mask)  # fmt: skip


def test_config_checks():
    assert TaggerConfig.from_dict(TaggerConfig(vocab_size=3).to_dict()) == TaggerConfig(3)
    with pytest.raises(ValueError, match="num_tags >= 1"):
        TaggerConfig(vocab_size=3, num_tags=0)
    with pytest.raises(TypeError, match="crf to be a bool"):
        TaggerConfig(vocab_size=3, crf="yes")
    with pytest.raises(ValueError, match="dropout in"):
        TaggerConfig(vocab_size=3, dropout=1.0)
    with pytest.raises(ValueError, match="unknown config key .heads."):
        TaggerConfig.from_dict({"vocab_size": 3, "heads": 2})
    with pytest.raises(TypeError, match="TaggerConfig"):
        SequenceTagger({"vocab_size": 3})


def test_bad_batches():
    model = _model(True)
    tokens, lengths, tags = _batch()
    with pytest.raises(ValueError, match=r"lengths in \[1, 5\]"):
        model.decode(tokens, torch.tensor([5, 0, 3]))
    with pytest.raises(ValueError, match="lengths of shape"):
        model.decode(tokens, torch.tensor([5, 2]))
    with pytest.raises(ValueError, match="int64 tensor"):
        model.decode(tokens.float(), lengths)
    with pytest.raises(ValueError, match="tags of shape"):
        _model(False).loss(tokens, lengths, tags[:, :3])
