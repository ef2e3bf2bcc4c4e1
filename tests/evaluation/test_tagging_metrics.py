"""Entity F1 (seqeval) and token accuracy: hand-counted cases, an independent chunk counter on
random well-formed IOB2 sequences, and the checks on mismatched input."""

from __future__ import annotations

import random

import pytest

from seqattn.evaluation.tagging import (
    entity_scores,
    is_entity_tagset,
    tagging_scores,
    token_accuracy,
)


def _chunks(tags):
    """(type, start, end) of every IOB2 entity, written out from the scheme's definition."""
    out, start, kind = set(), None, None
    for i, tag in enumerate([*tags, "O"]):
        if start is not None and not (tag.startswith("I-") and tag[2:] == kind):
            out.add((kind, start, i))
            start = None
        if tag.startswith("B-"):
            start, kind = i, tag[2:]
    return out


def _random_iob2(rng, n):
    tags, prev = [], "O"
    for _ in range(n):
        r = rng.random()
        if r < 0.4:
            tag = "O"
        elif r < 0.7 or prev == "O":
            tag = "B-" + rng.choice("AB")
        else:
            tag = "I-" + prev[2:]
        tags.append(tag)
        prev = tag
    return tags


def test_entity_f1_equals_an_independent_chunk_count():
    rng = random.Random(0)
    gold = [_random_iob2(rng, rng.randint(1, 12)) for _ in range(60)]
    pred = [_random_iob2(rng, len(g)) if rng.random() < 0.5 else list(g) for g in gold]
    g_chunks = [_chunks(g) for g in gold]
    p_chunks = [_chunks(p) for p in pred]
    hits = sum(len(a & b) for a, b in zip(g_chunks, p_chunks, strict=True))
    n_gold, n_pred = sum(map(len, g_chunks)), sum(map(len, p_chunks))
    precision, recall = hits / n_pred, hits / n_gold
    f1 = 2 * precision * recall / (precision + recall)
    for scheme in (None, "IOB2"):  # on well-formed IOB2 both modes agree
        s = entity_scores(gold, pred, scheme)
        assert s["support"] == n_gold
        assert s["precision"] == pytest.approx(precision)
        assert s["recall"] == pytest.approx(recall)
        assert s["f1"] == pytest.approx(f1)
    per = entity_scores(gold, pred)["per_type"]
    assert sorted(per) == ["A", "B"]
    assert sum(v["support"] for v in per.values()) == n_gold


def test_hand_counted_case_and_modes():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG"]]
    pred = [["B-PER", "I-PER", "O", "O"], ["O", "I-ORG"]]
    s = entity_scores(gold, pred)
    assert (s["precision"], s["support"], s["mode"]) == (1.0, 3, "conlleval")
    assert s["recall"] == pytest.approx(2 / 3) and s["f1"] == pytest.approx(0.8)
    assert s["per_type"]["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    strict = entity_scores(gold, pred, "IOB2")  # I-ORG without B-ORG is no entity
    assert strict["f1"] == pytest.approx(0.5) and strict["mode"] == "strict IOB2"
    assert entity_scores(gold, gold)["f1"] == 1.0
    # a wrong boundary or a wrong type is a miss
    assert entity_scores([["B-PER", "I-PER"]], [["B-PER", "O"]])["f1"] == 0.0
    assert entity_scores([["B-PER"]], [["B-LOC"]])["f1"] == 0.0


def test_token_accuracy_and_tagset():
    assert token_accuracy([["A", "B"], ["C"]], [["A", "C"], ["C"]]) == pytest.approx(2 / 3)
    assert token_accuracy([], []) != token_accuracy([], [])  # NaN
    assert is_entity_tagset(["O", "B-PER", "I-PER", "E-LOC", "S-X", "U-Y", "L-Z"])
    assert not is_entity_tagset(["O", "NOUN"]) and not is_entity_tagset(["B-"])
    assert not is_entity_tagset([])
    pos = tagging_scores([["DET", "NOUN"]], [["DET", "VERB"]])
    assert pos["entity"] is None and pos["token_accuracy"] == 0.5 and pos["n_tokens"] == 2
    ner = tagging_scores([["B-PER", "O"]], [["B-PER", "O"]])
    assert ner["entity"]["f1"] == 1.0 and ner["token_accuracy"] == 1.0


@pytest.mark.parametrize(
    "gold,pred,error,match",
    [
        ([["O"]], [["O"], ["O"]], ValueError, "as many predicted sentences"),
        ([["O", "O"]], [["O"]], ValueError, "2 predicted tags in sentence 1"),
        (["O"], ["O"], TypeError, "list of tag lists"),
    ],
)
def test_mismatched_input(gold, pred, error, match):
    with pytest.raises(error, match=match):
        entity_scores(gold, pred)
    with pytest.raises(error, match=match):
        token_accuracy(gold, pred)


def test_unknown_scheme():
    with pytest.raises(ValueError, match="scheme None or one of"):
        entity_scores([["O"]], [["O"]], scheme="BIO")
