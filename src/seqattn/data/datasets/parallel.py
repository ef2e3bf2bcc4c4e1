"""Parallel (translation) corpora: Multi30k en-de, Tatoeba fra-eng, and any two aligned files.

Loaders return lists of :class:`SentencePair` (plain strings; tokenise with ``seqattn.data``).
"""

from __future__ import annotations

import gzip
import io
import itertools
import os
from dataclasses import dataclass
from pathlib import Path

from seqattn.data.datasets._download import require

__all__ = [
    "SentencePair",
    "MULTI30K_SPLITS",
    "load_multi30k",
    "load_fra_eng",
    "load_parallel_files",
    "normalize_spaces",
]


@dataclass(frozen=True)
class SentencePair:
    """A source sentence and its translation."""

    src: str
    tgt: str


MULTI30K_SPLITS = {
    "train": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "test": "test_2016_flickr",
    "test_2016_flickr": "test_2016_flickr",
}

# French typography puts (narrow) no-break spaces before ! ? : ; and inside « »; whitespace
# tokenisers would glue them to words. Zero-width space and soft hyphen are invisible.
_SPACE_FIXES = str.maketrans({"\u202f": " ", "\u00a0": " ", "\u2009": " ", "\u200b": None,
                              "\u00ad": None})  # fmt: skip


def normalize_spaces(text: str) -> str:
    """Replace no-break and thin spaces by ASCII spaces; drop zero-width spaces and soft hyphens.

    Example:
        >>> normalize_spaces("Cours\\u202f!")
        'Cours !'
    """
    return text.translate(_SPACE_FIXES)


def _open_text(path: Path, encoding: str) -> io.TextIOBase:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding=encoding, newline=None)
    return open(path, encoding=encoding, newline=None)


def load_parallel_files(
    src_path: str | os.PathLike,
    tgt_path: str | os.PathLike,
    *,
    encoding: str = "utf-8",
    strip: bool = True,
) -> list[SentencePair]:
    """Sentence pairs from two line-aligned text files (line i translates line i).

    ``.gz`` files are decompressed; CRLF endings are accepted. Lines are not split on tabs
    (Multi30k's ``train.de`` has a tab inside a sentence).

    Args:
        src_path: source-language file, one sentence per line.
        tgt_path: target-language file, same number of lines.
        encoding: text encoding of both files.
        strip: strip leading/trailing whitespace of each sentence.

    Returns:
        one :class:`SentencePair` per line.

    Raises:
        ValueError: the files have different numbers of lines.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / "a.en").write_text("Hi.\\r\\nRun!\\r\\n")
        >>> _ = (d / "a.fr").write_text("Salut !\\nCours !\\n")
        >>> load_parallel_files(d / "a.en", d / "a.fr")[1]
        SentencePair(src='Run!', tgt='Cours !')
    """
    src_path, tgt_path = Path(src_path), Path(tgt_path)
    for p in (src_path, tgt_path):
        if not p.is_file():
            raise FileNotFoundError(f"expected a text file, got no file at {p}")
    out = []
    with _open_text(src_path, encoding) as fs, _open_text(tgt_path, encoding) as ft:
        for n, (s, t) in enumerate(itertools.zip_longest(fs, ft), start=1):
            if s is None or t is None:
                rest_s = n - 1 + (s is not None) + sum(1 for _ in fs)
                rest_t = n - 1 + (t is not None) + sum(1 for _ in ft)
                raise ValueError(
                    f"expected the same number of lines in {src_path} and {tgt_path}, "
                    f"got {rest_s} and {rest_t}"
                )
            s, t = s.rstrip("\n"), t.rstrip("\n")
            out.append(SentencePair(s.strip(), t.strip()) if strip else SentencePair(s, t))
    return out


def load_multi30k(
    split: str = "train",
    root: str | os.PathLike | None = None,
    *,
    src: str = "en",
    tgt: str = "de",
) -> list[SentencePair]:
    """Multi30k task 1 (Elliott et al., 2016): English-German image-caption translations, raw text.

    Splits: ``train`` (29,000 pairs), ``val`` (1,014; aliases ``valid``, ``validation``) and
    ``test`` = ``test_2016_flickr`` (1,000). Read straight from the gzipped files; sentences
    are stripped (40 lines of ``train.de`` end in whitespace).

    Args:
        split: see above.
        root: data dir (default ``SEQATTN_DATA_DIR`` or the user cache).
        src: source language, ``en`` or ``de``.
        tgt: target language, the other one.

    Returns:
        list of :class:`SentencePair`.

    Example:
        >>> val = load_multi30k("val")  # doctest: +SKIP
        >>> len(val)  # doctest: +SKIP
        1014
    """
    if split not in MULTI30K_SPLITS:
        raise ValueError(f"expected split in {sorted(set(MULTI30K_SPLITS))}, got {split!r}")
    if {src, tgt} != {"en", "de"}:
        raise ValueError(
            f"expected src/tgt to be 'en' and 'de' (either order), got {src!r}/{tgt!r}"
        )
    stem = MULTI30K_SPLITS[split]
    folder = require("multi30k", [f"{stem}.{src}.gz", f"{stem}.{tgt}.gz"], root)
    return load_parallel_files(folder / f"{stem}.{src}.gz", folder / f"{stem}.{tgt}.gz")


def load_fra_eng(
    root: str | os.PathLike | None = None,
    *,
    normalize: bool = True,
    limit: int | None = None,
) -> list[SentencePair]:
    """Tatoeba English-French pairs as packaged for D2L (``fra-eng``): 167,130 pairs, no split.

    ``src`` is English, ``tgt`` French. The file is sorted roughly by length (short first), so
    ``limit`` keeps the shortest pairs, as D2L's ``num_examples`` does.

    Args:
        root: data dir.
        normalize: apply :func:`normalize_spaces` (French no-break spaces -> ASCII spaces).
        limit: keep only the first ``limit`` pairs.

    Returns:
        list of :class:`SentencePair`.

    Example:
        >>> pairs = load_fra_eng(limit=2)  # doctest: +SKIP
        >>> pairs[0]  # doctest: +SKIP
        SentencePair(src='Go.', tgt='Va !')
    """
    if limit is not None and (not isinstance(limit, int) or limit < 0):
        raise ValueError(f"expected limit to be None or an int >= 0, got {limit!r}")
    folder = require("fra-eng", ["fra.txt"], root)
    path = folder / "fra.txt"
    out = []
    with _open_text(path, "utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if limit is not None and len(out) >= limit:
                break
            line = line.rstrip("\n")
            if not line:
                continue
            fields = line.split("\t")
            if len(fields) < 2:
                raise ValueError(f"expected ENGLISH<TAB>FRENCH at {path}:{lineno}, got {line!r}")
            # Later manythings.org releases add a third (attribution) column; ignore it.
            en, fr = fields[0].strip(), fields[1].strip()
            if normalize:
                en, fr = normalize_spaces(en).strip(), normalize_spaces(fr).strip()
            out.append(SentencePair(en, fr))
    return out
