"""bAbI stories as tensors for memory networks: words, vocabulary, the last M sentences of each
story, and the temporal index with random noise (Sukhbaatar et al. 2015, section 4.1).

Shapes: N questions, M memory slots (sentences), J words per sentence, Jq words per question.

>>> from seqattn.data.datasets.babi import BabiExample
>>> ex = BabiExample(("Mary went to the kitchen.",), "Where is Mary?", "kitchen", (0,), 1)
>>> vocab = build_vocab([ex])
>>> data = vectorize([ex], vocab, memory_size=2, sent_len=5, query_len=3)
>>> data.stories.shape, data.mask.tolist(), data.answer.tolist() == [vocab["kitchen"]]
(torch.Size([1, 2, 5]), [[True, False]], True)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch

from seqattn.data.datasets.babi import BabiExample

__all__ = ["Vectorized", "build_vocab", "noisy_time", "tokenize", "vectorize"]


def tokenize(text: str) -> list[str]:
    """Lower-cased words without punctuation: ``"Where is Mary?"`` -> where, is, mary."""
    return re.findall(r"[a-z0-9']+", text.lower())


@dataclass
class Vectorized:
    """Examples as tensors: stories (N, M, J), mask (N, M), query (N, Jq), answer (N,)."""

    stories: torch.Tensor
    mask: torch.Tensor
    query: torch.Tensor
    answer: torch.Tensor
    task: torch.Tensor
    examples: list[BabiExample]

    def __len__(self) -> int:
        return len(self.examples)

    def take(self, idx: torch.Tensor | slice) -> Vectorized:
        pick = idx.tolist() if isinstance(idx, torch.Tensor) else range(len(self))[idx]
        return Vectorized(self.stories[idx], self.mask[idx], self.query[idx], self.answer[idx],
                          self.task[idx], [self.examples[i] for i in pick])  # fmt: skip


def build_vocab(examples: list[BabiExample]) -> dict[str, int]:
    """Word -> id, 0 = the nil/padding word; an answer (``apple,football``) is one word.

    Built from train and test files together as the authors' code does: a test-only word
    keeps its random initial embedding, which is all an unseen word can have anyway.
    """
    words: set[str] = set()
    for ex in examples:
        for s in (*ex.story, ex.question):
            words.update(tokenize(s))
        words.add(ex.answer.lower())
    return {w: i for i, w in enumerate(["<nil>", *sorted(words)])}


def vectorize(
    examples: list[BabiExample], vocab: dict[str, int], memory_size: int, sent_len: int,
    query_len: int,
) -> Vectorized:  # fmt: skip
    """The last ``memory_size`` sentences of each story, oldest first, padded with id 0."""
    n = len(examples)
    stories = torch.zeros(n, memory_size, sent_len, dtype=torch.long)
    query = torch.zeros(n, query_len, dtype=torch.long)
    mask = torch.zeros(n, memory_size, dtype=torch.bool)
    answer = torch.zeros(n, dtype=torch.long)
    for i, ex in enumerate(examples):
        story = ex.story[-memory_size:]
        for s, sentence in enumerate(story):
            ids = [vocab[w] for w in tokenize(sentence)][:sent_len]
            stories[i, s, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        mask[i, : len(story)] = True
        ids = [vocab[w] for w in tokenize(ex.question)][:query_len]
        query[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        answer[i] = vocab[ex.answer.lower()]
    task = torch.tensor([ex.task for ex in examples], dtype=torch.long)
    return Vectorized(stories, mask, query, answer, task, list(examples))


def noisy_time(
    mask: torch.Tensor, noise: float, gen: torch.Generator, table: int | None = None
) -> torch.Tensor:
    """Temporal indices with random noise (RN): up to ``ceil(noise * n)`` empty memories.

    For a story of n memories, ``nb ~ U{0..ceil(noise n)}`` blanks are mixed in: n distinct
    indices are drawn from 0..n+nb-1, sorted, and the newest memory gets the smallest (the
    authors' code, clipped to the table size - 1 like theirs). ``noise = 0`` gives the
    plain ``n - 1 - i``.

    Args:
        mask: (..., M') bool, real memories first.
        noise: the fraction of blanks (0.1 in the paper).
        gen: the random generator.
        table: rows of the temporal table (default M').

    Shape:
        Returns (..., M') int64.
    """
    m = mask.shape[-1]
    top = (table or m) - 1
    n = mask.sum(-1, keepdim=True)  # (..., 1)
    slot = torch.arange(m)
    if noise <= 0:
        return (n - 1 - slot).clamp(min=0)
    extra = math.ceil(noise * m)
    blanks = (torch.rand(n.shape, generator=gen) * (torch.ceil(noise * n) + 1)).floor().long()
    width = m + extra
    keys = torch.rand(*mask.shape[:-1], width, generator=gen)
    keys = keys.masked_fill(torch.arange(width) >= n + blanks, 2.0)  # past n + nb: never drawn
    drawn = keys.argsort(-1)[..., :m]  # n distinct indices from 0..n+nb-1 come first
    drawn = drawn.masked_fill(slot >= n, width).sort(-1).values  # ascending, the n first
    newest_first = (n - 1 - slot).clamp(min=0)
    return drawn.gather(-1, newest_first).clamp(max=top)
