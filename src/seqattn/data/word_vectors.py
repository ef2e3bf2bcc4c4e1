"""Word vectors trained on your own unlabelled text (word2vec through gensim).

Pretrained vectors help most when their text is like the task's and the task's labelled set is
small. Where no published vectors fit (a domain, a language, a licence), train them on the raw
text you have: :func:`train_word_vectors` runs word2vec (Mikolov et al., 2013: skip-gram or
CBOW with negative sampling) on tokenised texts, :func:`save_vectors` writes the word2vec text
format that :func:`~seqattn.data.pretrained.load_vectors` and ``--embeddings`` read. The
command line is ``seqattn train vectors``.

word2vec itself is not what this library is about, so it is gensim's well-tested
implementation, an optional dependency (``pip install 'seqattn[vectors]'``). With more than one
worker thread gensim's result depends on thread scheduling: use ``workers=1`` for vectors that
are identical run to run.

Use the same tokeniser for the vectors as for the classifier (``WordTokenizer`` with its
defaults in both places here), else the tokens do not match and the vectors go unused.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from seqattn.data.pretrained import Vectors
from seqattn.io import atomic_write

__all__ = ["train_word_vectors", "save_vectors", "METHODS"]

log = logging.getLogger("seqattn.data")

METHODS = ("skipgram", "cbow")


def _positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"expected {name} to be a positive int, got {value!r}")


def train_word_vectors(
    texts: Iterable[Sequence[str]],
    dim: int = 300,
    method: str = "skipgram",
    window: int = 5,
    min_count: int = 3,
    negative: int = 10,
    epochs: int = 5,
    workers: int = 1,
    seed: int = 0,
) -> Vectors:
    """word2vec vectors of the words of ``texts`` (lists of tokens), most frequent first.

    Args:
        texts: tokenised texts; every text is one context stream (words do not see across texts).
        dim: vector size.
        method: ``skipgram`` (predict the context from the word; better for rare words) or
            ``cbow`` (predict the word from its averaged context; faster).
        window: context words on each side.
        min_count: words seen fewer times get no vector.
        negative: negative samples per positive pair.
        epochs: passes over the texts.
        workers: gensim's threads (1: reproducible for a fixed seed).
        seed: random seed.

    Returns:
        :class:`~seqattn.data.pretrained.Vectors` (float32, format ``word2vec``).

    Raises:
        ImportError: gensim is not installed.
        ValueError: a bad setting, or no word seen ``min_count`` times.

    Example:
        >>> texts = [["good", "film"], ["bad", "film"]] * 50  # doctest: +SKIP
        >>> train_word_vectors(texts, dim=8, min_count=1).dim  # doctest: +SKIP
        8
    """
    settings = {"dim": dim, "window": window, "min_count": min_count, "negative": negative,
                "epochs": epochs, "workers": workers}  # fmt: skip
    for name, value in settings.items():
        _positive_int(name, value)
    if method not in METHODS:
        raise ValueError(f"expected method in {METHODS}, got {method!r}")
    try:
        from gensim.models import Word2Vec
    except ImportError as err:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "expected gensim to train word vectors (pip install 'seqattn[vectors]'), got it missing"
        ) from err
    sentences = [list(t) for t in texts if len(t)]
    if not sentences:
        raise ValueError("expected at least one non-empty text, got none")
    tokens = sum(len(s) for s in sentences)
    log.info("word2vec (%s, %d-d): %d texts, %d tokens, %d epochs", method, dim,
             len(sentences), tokens, epochs)  # fmt: skip
    try:
        model = Word2Vec(
            sentences, vector_size=dim, window=window, min_count=min_count,
            sg=int(method == "skipgram"), negative=negative, epochs=epochs, workers=workers,
            seed=seed,
        )  # fmt: skip
    except RuntimeError as err:  # gensim: "you must first build vocabulary before training"
        raise ValueError(
            f"expected some word to occur at least min_count={min_count} times, got none "
            f"in {tokens} tokens"
        ) from err
    wv = model.wv
    return Vectors(list(wv.index_to_key), np.asarray(wv.vectors, dtype=np.float32), "word2vec")


def save_vectors(vectors: Vectors, path: str | Path) -> Path:
    """Write ``vectors`` in the word2vec text format (header ``N D``, then ``word v1 ... vD``),
    atomically; a ``.gz`` path is gzipped. Words containing whitespace cannot be represented
    and are refused."""
    bad = next((w for w in vectors.words if not w or any(c.isspace() for c in w)), None)
    if bad is not None:
        raise ValueError(f"expected words without whitespace, got {bad!r}")
    path = Path(path)

    def write(f) -> None:
        out = f
        if path.suffix == ".gz":
            import gzip

            out = gzip.GzipFile(fileobj=f, mode="wb", mtime=0)
        out.write(f"{len(vectors)} {vectors.dim}\n".encode())
        for word, row in zip(vectors.words, vectors.matrix, strict=True):
            out.write((word + " " + " ".join(f"{v:.9g}" for v in row) + "\n").encode("utf-8"))
        if out is not f:
            out.close()

    return atomic_write(path, write)
