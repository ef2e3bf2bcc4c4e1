"""seqattn.serving's numpy searches equal seqattn.decoding's on the same step function."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqattn.decoding import beam_search as torch_beam
from seqattn.decoding import greedy_search as torch_greedy
from seqattn.serving import beam_search, greedy_search


def _tables(seed: int, batch: int, vocab: int, sharp: float, steps: int = 10):
    """log p(next | step t, last token, input b): every input and step its own table, so
    two different token lists never tie exactly."""
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(batch, steps, vocab, vocab, generator=gen) * sharp
    return torch.log_softmax(logits, -1)  # (B, T, V, V) float32


def _steps(table):
    """The same step in torch and numpy: the state holds each row's input and step."""
    np_table = table.numpy()

    def torch_step(tok, state):
        b, t = state["input"], state["t"]
        return table[b, t, tok], {"input": b, "t": t + 1}, table[b, t, tok, :3]

    def np_step(tok, state):
        b, t = state["input"], state["t"]
        return np_table[b, t, tok], {"input": b, "t": t + 1}, np_table[b, t, tok, :3]

    def np_reorder(state, rows, inputs):
        return {k: v[rows] for k, v in state.items()}

    return torch_step, np_step, np_reorder


@pytest.mark.parametrize("seed", range(12))
def test_searches_match_seqattn_decoding(seed):
    rng = np.random.default_rng(seed)
    batch, vocab = int(rng.integers(1, 6)), int(rng.integers(3, 9))
    table = _tables(seed, batch, vocab, sharp=float(rng.choice([0.5, 2.0, 4.0])))
    torch_step, np_step, np_reorder = _steps(table)
    max_len = rng.integers(0, 9, size=batch)
    max_len[0] = max(max_len[0], 1)
    rows = {"input": torch.arange(batch), "t": torch.zeros(batch, dtype=torch.long)}
    start = {"input": np.arange(batch), "t": np.zeros(batch, dtype=np.int64)}
    common = {"bos": vocab - 1, "eos": 0}
    want = torch_greedy(torch_step, rows, max_len=torch.from_numpy(max_len), **common)
    got, scores, attn = greedy_search(np_step, start, np_reorder,
                                max_len=max_len, **common)  # fmt: skip
    assert got == want.best()
    for a, w in zip(attn, want.attention, strict=True):  # a step's 'attention': 3 log-probs
        np.testing.assert_array_equal(a, w[0].numpy())
    np.testing.assert_allclose(scores, want.scores[:, 0].numpy(), rtol=0, atol=1e-6)
    for k in (1, 2, 4):
        n_best = int(rng.integers(1, k + 1))
        alpha = float(rng.choice([0.0, 0.6, 1.5]))
        early = bool(rng.integers(0, 2))
        options = {"length_penalty": alpha, "n_best": n_best, "early_stop": early, **common}
        want = torch_beam(torch_step, rows, beam_size=k, max_len=torch.from_numpy(max_len),
                          **options)  # fmt: skip
        got, scores, attn = beam_search(np_step, start, np_reorder, beam_size=k, max_len=max_len,
                                  **options)  # fmt: skip
        assert got == want.tokens, (k, n_best, alpha, early)
        for a_in, w_in in zip(attn, want.attention, strict=True):
            for a, w in zip(a_in, w_in, strict=True):
                assert (a is None) == (w is None)
                if a is not None:
                    np.testing.assert_array_equal(a, w.numpy())
        np.testing.assert_allclose(scores, want.scores.double().numpy(), rtol=0, atol=1e-6)


def test_beam_search_checks_its_arguments():
    step = lambda tok, s: (np.zeros((len(tok), 3), np.float32), s, None)  # noqa: E731
    with pytest.raises(ValueError, match="beam_size"):
        beam_search(step, None, lambda s, r, i: s, bos=2, eos=0, beam_size=0,
                    max_len=np.array([3]))  # fmt: skip
    with pytest.raises(ValueError, match="n_best"):
        beam_search(step, None, lambda s, r, i: s, bos=2, eos=0, beam_size=2, n_best=3,
                    max_len=np.array([3]))  # fmt: skip
