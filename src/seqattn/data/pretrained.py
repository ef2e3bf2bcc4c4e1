"""Pretrained word vectors (GloVe, word2vec text/binary, fastText ``.vec``) -> an embedding matrix.

Formats (all may be gzipped, ``.gz``):

* GloVe (Pennington et al., 2014): ``word v1 ... vD`` per line, no header.
* word2vec text / fastText ``.vec`` (Mikolov et al., 2013; Bojanowski et al., 2017): a header
  line ``N D``, then GloVe-style lines.
* word2vec binary (``.bin``): header ``N D\\n``, then per word its UTF-8 bytes, a space, and
  ``D`` little-endian float32s (optionally followed by a newline).

:func:`build_embedding_matrix` places the vectors in a :class:`~seqattn.data.vocab.Vocab`'s
order, initialises out-of-vocabulary rows (random with the pretrained vectors' own scale, the
mean vector, or zeros), keeps ``<pad>`` at zero, and returns a :class:`CoverageReport` saying how
much of the vocabulary (and, given counts, of the corpus's tokens) the vectors cover.
:func:`pretrained_embedding` wraps it in an ``nn.Embedding``, frozen or trainable.
"""

from __future__ import annotations

import gzip
import io
import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np
import torch
from torch import Tensor, nn

from seqattn.data.vocab import Vocab

__all__ = [
    "Vectors",
    "CoverageReport",
    "load_vectors",
    "build_embedding_matrix",
    "pretrained_embedding",
]

log = logging.getLogger("seqattn.data")

FORMATS = ("auto", "glove", "word2vec", "fasttext", "word2vec-binary")


@dataclass
class Vectors:
    """Words and their vectors: ``matrix[i]`` is the vector of ``words[i]``."""

    words: list[str]
    matrix: np.ndarray  # (V, D) float32
    format: str
    path: str = ""
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.index = {}
        for i, w in enumerate(self.words):
            self.index.setdefault(w, i)  # the first occurrence wins, as in gensim

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    def __getitem__(self, word: str) -> np.ndarray:
        return self.matrix[self.index[word]]


@dataclass
class CoverageReport:
    """How much of a vocabulary the pretrained vectors cover."""

    vocab_size: int  # non-special tokens
    found: int  # exact matches
    found_lowercase: int  # matched only after lowercasing
    oov: int
    token_coverage: float | None  # share of corpus tokens covered (needs the vocab's counts)
    top_oov: list[tuple[str, int]]  # most frequent uncovered tokens (token, count)

    @property
    def type_coverage(self) -> float:
        return (self.found + self.found_lowercase) / self.vocab_size if self.vocab_size else 1.0

    def summary(self) -> str:
        text = (
            f"{self.found + self.found_lowercase:,}/{self.vocab_size:,} vocabulary entries "
            f"({100 * self.type_coverage:.1f}%) have a pretrained vector "
            f"({self.found_lowercase:,} via lowercase)"
        )
        if self.token_coverage is not None:
            text += f"; {100 * self.token_coverage:.1f}% of corpus tokens"
        if self.top_oov:
            text += "; most frequent missing: " + ", ".join(t for t, _ in self.top_oov[:10])
        return text


def _open(path: Path) -> IO[bytes]:
    with open(path, "rb") as f:
        magic = f.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def _is_header(line: bytes) -> bool:
    parts = line.split()
    return len(parts) == 2 and all(p.isdigit() for p in parts)


def _detect(path: Path) -> str:
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".bin"):
        return "word2vec-binary"
    with _open(path) as f:
        first = f.readline(1 << 20)
        if not _is_header(first):
            return "glove"
        second = f.readline(1 << 20)
    try:
        second.decode("utf-8")
    except UnicodeDecodeError:
        return "word2vec-binary"
    return "fasttext" if name.endswith(".vec") else "word2vec"


def _read_binary(f: IO[bytes], wanted, max_vectors, path) -> tuple[list[str], np.ndarray]:
    header = f.readline()
    if not _is_header(header):
        raise ValueError(f"expected a word2vec binary header 'N D' in {path}, got {header[:40]!r}")
    n, dim = (int(x) for x in header.split())
    n = min(n, max_vectors) if max_vectors else n
    nbytes = 4 * dim
    words, rows = [], []
    for k in range(n):
        chars = bytearray()
        while True:
            ch = f.read(1)
            if ch == b"":
                raise ValueError(f"expected {n} vectors in {path}, got a file ending after {k}")
            if ch == b" ":
                break
            if ch != b"\n" or chars:  # the newline after the previous vector is optional
                chars += ch
        buf = f.read(nbytes)
        if len(buf) != nbytes:
            raise ValueError(f"expected {dim} float32 values for word {k} in {path}, got fewer")
        word = chars.decode("utf-8", errors="replace")
        if wanted is None or word in wanted:
            words.append(word)
            rows.append(np.frombuffer(buf, dtype="<f4"))
    matrix = np.stack(rows).astype(np.float32) if rows else np.zeros((0, dim), np.float32)
    return words, matrix


def _read_text(f: IO[bytes], fmt, wanted, max_vectors, path) -> tuple[list[str], np.ndarray]:
    text = io.TextIOWrapper(f, encoding="utf-8", errors="replace", newline="")
    words, rows = [], []
    dim = None
    n_declared = None
    for lineno, line in enumerate(text, 1):
        line = line.rstrip("\r\n")
        if lineno == 1 and fmt != "glove":
            if not _is_header(line.encode()):
                raise ValueError(
                    f"expected a header line 'N D' in {path} ({fmt}), got {line[:40]!r}"
                )
            n_declared, dim = (int(x) for x in line.split())
            continue
        if not line.strip():
            continue
        # split from the right: some GloVe releases have words containing spaces
        parts = line.rstrip(" ").split(" ")
        if dim is None:
            dim = len(parts) - 1
            if dim < 1:
                raise ValueError(f"expected 'word v1 ... vD' at {path}:{lineno}, got {line[:40]!r}")
        if len(parts) < dim + 1:
            raise ValueError(
                f"expected {dim} values at {path}:{lineno}, got {len(parts) - 1} ({line[:40]!r})"
            )
        word = " ".join(parts[: len(parts) - dim])
        if wanted is None or word in wanted:
            try:
                rows.append(np.asarray(parts[len(parts) - dim :], dtype=np.float32))
            except ValueError:
                msg = f"expected numbers at {path}:{lineno}, got {line[:60]!r}"
                raise ValueError(msg) from None
            words.append(word)
        if max_vectors and lineno - (fmt != "glove") >= max_vectors:
            break
    if dim is None:
        raise ValueError(f"expected word vectors in {path}, got an empty file")
    if n_declared is not None and not max_vectors and wanted is None and len(words) != n_declared:
        log.warning("%s declares %d vectors but has %d", path, n_declared, len(words))
    matrix = np.stack(rows) if rows else np.zeros((0, dim), np.float32)
    return words, matrix


def load_vectors(
    path: str | Path,
    format: str = "auto",
    words: Collection[str] | None = None,
    max_vectors: int | None = None,
) -> Vectors:
    """Read a word-vector file.

    Args:
        path: the file (``.txt``, ``.vec``, ``.bin``, optionally ``.gz``).
        format: one of ``auto``, ``glove``, ``word2vec``, ``fasttext``, ``word2vec-binary``;
            ``auto`` looks for a header line and at the extension.
        words: keep only these words (and their lowercase forms' matches are up to the caller);
            saves memory on multi-GB files.
        max_vectors: read only the first ``max_vectors`` entries (the files are sorted by
            frequency, so this keeps the most common words).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "tiny.vec"
        >>> _ = p.write_text("2 3\\ncat 1 0 0\\ndog 0 1 0\\n")
        >>> v = load_vectors(p)
        >>> v.format, v.dim, v.words, v["dog"].tolist()
        ('fasttext', 3, ['cat', 'dog'], [0.0, 1.0, 0.0])
    """
    path = Path(path)
    if format not in FORMATS:
        raise ValueError(f"expected format in {FORMATS}, got {format!r}")
    if not path.is_file():
        raise FileNotFoundError(f"expected a word-vector file at {path}, got nothing there")
    fmt = _detect(path) if format == "auto" else format
    wanted = set(words) if words is not None else None
    with _open(path) as f:
        if fmt == "word2vec-binary":
            ws, matrix = _read_binary(f, wanted, max_vectors, path)
        else:
            ws, matrix = _read_text(f, fmt, wanted, max_vectors, path)
    log.info("read %d %d-d vectors (%s) from %s", len(ws), matrix.shape[1], fmt, path)
    return Vectors(ws, matrix, fmt, str(path))


def build_embedding_matrix(
    vocab: Vocab,
    vectors: Vectors,
    oov_init: str = "normal",
    lowercase_fallback: bool = True,
    seed: int = 0,
    top_oov: int = 20,
) -> tuple[Tensor, CoverageReport]:
    """An ``(len(vocab), D)`` float32 matrix with the pretrained vectors in vocabulary order.

    Args:
        vocab: the vocabulary.
        vectors: from :func:`load_vectors`.
        oov_init: rows without a vector: ``normal`` (N(mean, std) of the pretrained vectors,
            per dimension, so they sit among the known words), ``uniform`` (±sqrt(3)·std,
            the same variance), ``mean`` (the mean vector), or ``zeros``.
        lowercase_fallback: look up ``token.lower()`` when ``token`` is missing (GloVe is
            lowercased; a cased vocabulary still finds its words).
        seed: for the random OOV rows.
        top_oov: how many of the most frequent missing tokens to list in the report.

    Returns:
        ``(matrix, report)``; the ``<pad>`` row is zeros.
    """
    if oov_init not in ("normal", "uniform", "mean", "zeros"):
        raise ValueError(
            f"expected oov_init in ('normal', 'uniform', 'mean', 'zeros'), got {oov_init!r}"
        )
    if len(vectors) == 0:
        raise ValueError(f"expected at least one pretrained vector, got none from {vectors.path!r}")
    dim = vectors.dim
    mean = vectors.matrix.mean(0)
    std = vectors.matrix.std(0) + 1e-8
    rng = np.random.default_rng(seed)
    out = np.zeros((len(vocab), dim), np.float32)
    specials = vocab.special_ids
    found = found_lower = 0
    missing: list[str] = []
    for i, tok in enumerate(vocab.itos):
        if i in specials:
            continue
        if tok in vectors.index:
            out[i] = vectors.matrix[vectors.index[tok]]
            found += 1
        elif lowercase_fallback and tok.lower() in vectors.index:
            out[i] = vectors.matrix[vectors.index[tok.lower()]]
            found_lower += 1
        else:
            missing.append(tok)
    oov_rows = [vocab.stoi[t] for t in missing]
    if vocab.unk is not None:
        oov_rows.append(vocab.unk_id)
    for role in ("bos", "eos"):
        if getattr(vocab, role) is not None:
            oov_rows.append(vocab.stoi[getattr(vocab, role)])
    if oov_rows:
        k = len(oov_rows)
        if oov_init == "normal":
            out[oov_rows] = mean + std * rng.standard_normal((k, dim))
        elif oov_init == "uniform":
            out[oov_rows] = mean + np.sqrt(3) * std * rng.uniform(-1, 1, (k, dim))
        elif oov_init == "mean":
            out[oov_rows] = mean
    counts = vocab.counts
    token_cov = None
    if counts:
        total = sum(counts.values())
        miss = sum(counts.get(t, 0) for t in missing)
        token_cov = 1 - miss / total if total else 1.0
    ranked = sorted(((t, counts.get(t, 0)) for t in missing), key=lambda x: (-x[1], x[0]))
    report = CoverageReport(
        vocab_size=len(vocab) - len(specials),
        found=found,
        found_lowercase=found_lower,
        oov=len(missing),
        token_coverage=token_cov,
        top_oov=ranked[:top_oov],
    )
    log.info("embedding coverage: %s", report.summary())
    return torch.from_numpy(out), report


def pretrained_embedding(
    vocab: Vocab,
    vectors: Vectors | str | Path,
    freeze: bool = True,
    oov_init: str = "normal",
    seed: int = 0,
    train_oov: bool = False,
) -> tuple[nn.Embedding, CoverageReport]:
    """An ``nn.Embedding`` initialised from pretrained vectors.

    Args:
        vocab, oov_init, seed: see :func:`build_embedding_matrix`.
        vectors: loaded :class:`Vectors` or a path (only the vocabulary's words are kept).
        freeze: keep the embedding fixed (``requires_grad=False``); else fine-tune it.
        train_oov: with ``freeze``, still train the rows that had no pretrained vector
            (a gradient hook zeroes the gradient of the pretrained rows).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "glove.txt"
        >>> _ = p.write_text("the 0.1 0.2\\ncat 0.3 0.4\\n")
        >>> vocab = Vocab.build([["the", "cat", "sat"]])
        >>> emb, report = pretrained_embedding(vocab, p)
        >>> emb.weight.shape, emb.weight.requires_grad, report.oov
        (torch.Size([7, 2]), False, 1)
    """
    if not isinstance(vectors, Vectors):
        wanted = set(vocab.itos) | {t.lower() for t in vocab.itos}
        vectors = load_vectors(vectors, words=wanted)
    matrix, report = build_embedding_matrix(vocab, vectors, oov_init=oov_init, seed=seed)
    pad = vocab.pad_id if vocab.pad is not None else None
    emb = nn.Embedding(len(vocab), matrix.shape[1], padding_idx=pad)
    with torch.no_grad():
        emb.weight.copy_(matrix)
    if freeze and train_oov:
        known = torch.zeros(len(vocab), 1)
        for i, tok in enumerate(vocab.itos):
            if tok in vectors.index or tok.lower() in vectors.index:
                known[i] = 1.0
        keep = 1.0 - known
        emb.weight.register_hook(lambda g: g * keep.to(g))
    else:
        emb.weight.requires_grad_(not freeze)
    return emb, report
