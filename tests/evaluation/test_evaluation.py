"""seqattn.evaluation against sacreBLEU called directly, and the bucket edge cases."""

from __future__ import annotations

import math
import random

import pytest
import sacrebleu

from seqattn.evaluation import (
    accuracy_by_length,
    assign_buckets,
    bleu_by_length,
    corpus_bleu,
    corpus_chrf,
)

WORDS = "the a cat dog sat ran on under mat house big small The Cat , .".split(" ")  # noqa: SIM905


def _corpus(n=60, seed=0):
    rng = random.Random(seed)
    refs = [" ".join(rng.choices(WORDS, k=rng.randint(1, 25))) for _ in range(n)]
    hyps = []
    for r in refs:
        toks = r.split()
        # a noisy copy: drop, substitute and change case, so scores are strictly between 0 and 100
        toks = [rng.choice(WORDS) if rng.random() < 0.3 else t for t in toks if rng.random() > 0.1]
        hyps.append(" ".join(t.upper() if rng.random() < 0.1 else t for t in toks))
    srcs = [" ".join(["x"] * max(1, len(r.split()) + rng.randint(-2, 2))) for r in refs]
    return srcs, hyps, refs


@pytest.mark.parametrize("lowercase", [False, True])
def test_corpus_scores_equal_sacrebleu(lowercase):
    _, hyps, refs = _corpus()
    b = corpus_bleu(hyps, refs, lowercase=lowercase)
    ref_b = sacrebleu.corpus_bleu(hyps, [refs], lowercase=lowercase)
    assert b.score == ref_b.score and 0 < b.score < 100
    assert list(b.precisions) == list(ref_b.precisions)
    assert (b.sys_len, b.ref_len, b.brevity_penalty) == (ref_b.sys_len, ref_b.ref_len, ref_b.bp)
    assert ("case:lc" in b.signature) == lowercase and "tok:13a" in b.signature
    assert b.signature.startswith("nrefs:1|") and f"version:{sacrebleu.__version__}" in b.signature
    c = corpus_chrf(hyps, refs, lowercase=lowercase)
    assert c.score == sacrebleu.metrics.CHRF(lowercase=lowercase).corpus_score(hyps, [refs]).score
    assert ("case:lc" in c.signature) == lowercase and str(c).startswith("chrF2 = ")


def test_lowercase_changes_cased_corpus_and_multi_reference():
    _, hyps, refs = _corpus(seed=1)
    assert corpus_bleu(hyps, refs, lowercase=True).score > corpus_bleu(hyps, refs).score
    other = [r.lower() for r in refs]
    multi = corpus_bleu(hyps, [refs, other])
    assert multi.score == sacrebleu.corpus_bleu(hyps, [refs, other]).score
    assert multi.signature.startswith("nrefs:2|")


def test_empty_hypothesis_and_bad_input():
    assert corpus_bleu([""], ["the cat sat on the mat"]).score == 0.0
    assert corpus_chrf([""], ["the cat"]).score == 0.0
    s = corpus_bleu(["", "the cat sat on the mat"], ["a b", "the cat sat on the mat"])
    assert s.score == sacrebleu.corpus_bleu(["", "the cat sat on the mat"],
                                            [["a b", "the cat sat on the mat"]]).score  # fmt: skip
    with pytest.raises(ValueError, match="expected 2 references"):
        corpus_bleu(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="empty corpus"):
        corpus_chrf([], [])
    with pytest.raises(TypeError, match="single string"):
        corpus_bleu("a b", "a b")
    with pytest.raises(TypeError, match="expected references"):
        corpus_bleu(["a"], [1])


def test_bleu_by_length_buckets_equal_sacrebleu_on_subsets():
    srcs, hyps, refs = _corpus(n=80, seed=2)
    edges = [0, 5, 10, 20, math.inf]
    rows = bleu_by_length(srcs, hyps, refs, edges)
    assert [r.label for r in rows] == ["0-4", "5-9", "10-19", "20+"]
    assert sum(r.count for r in rows) == len(hyps)
    lengths = [len(s.split()) for s in srcs]
    for r in rows:
        idx = [i for i, n in enumerate(lengths) if r.lo <= n < r.hi]
        assert r.count == len(idx) > 0
        sub_h, sub_r = [hyps[i] for i in idx], [[refs[i] for i in idx]]
        assert r.bleu == sacrebleu.corpus_bleu(sub_h, sub_r).score
        assert r.chrf == sacrebleu.corpus_chrf(sub_h, sub_r).score
    # lengths instead of sentences give the same table
    assert bleu_by_length(lengths, hyps, refs, edges) == rows


def test_one_sentence_and_empty_buckets():
    srcs = ["a b c", "a b c d e f g h i j k l"]
    hyps = ["the cat sat on the mat", "a dog ran"]
    refs = ["the cat sat on the mat", "the dog ran home"]
    rows = bleu_by_length(srcs, hyps, refs, [0, 5, 10, 20, 30])
    assert [(r.label, r.count) for r in rows] == [
        ("0-4", 1),
        ("5-9", 0),
        ("10-19", 1),
        ("20-29", 0),
    ]
    assert rows[0].bleu == sacrebleu.corpus_bleu(hyps[:1], [refs[:1]]).score
    assert rows[1].bleu is None and rows[1].chrf is None and rows[3].as_dict()["count"] == 0
    kept = bleu_by_length(srcs, hyps, refs, [0, 5, 10, 20, 30], skip_empty=True)
    assert [r.label for r in kept] == ["0-4", "10-19"]


def test_accuracy_by_length():
    lengths = [1, 2, 2, 7, 8, 30]
    correct = [1, 0, 1, True, True, False]
    rows = accuracy_by_length(lengths, correct, [0, 5, 10, 20, math.inf])
    assert [(r.label, r.count, r.accuracy) for r in rows] == [
        ("0-4", 3, 2 / 3), ("5-9", 2, 1.0), ("10-19", 0, None), ("20+", 1, 0.0)
    ]  # fmt: skip
    assert [r.count for r in accuracy_by_length(lengths, correct, [0, 5, 10, 20, 40],
                                                skip_empty=True)] == [3, 2, 1]  # fmt: skip
    with pytest.raises(ValueError, match="one correct flag per length"):
        accuracy_by_length([1, 2], [True], [0, 5])


def test_bucket_edges_are_checked():
    assert assign_buckets([0, 4.5, 5], [0, 5, 6]) == [0, 0, 1]
    with pytest.raises(ValueError, match="strictly increasing"):
        assign_buckets([1], [0, 5, 5])
    with pytest.raises(ValueError, match=r"got 6 at position 1"):
        assign_buckets([1, 6], [0, 5, 6])
    with pytest.raises(ValueError, match="expected 2 sources"):
        bleu_by_length(["a"], ["a", "b"], ["a", "b"], [0, 9])
