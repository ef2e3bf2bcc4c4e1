"""Tagged-sentence files: CoNLL-2003-style columns and CoNLL-U (Universal Dependencies).

No corpus ships with seqattn: CoNLL-2003 (Tjong Kim Sang and De Meulder, 2003) and the UD
treebanks are the user's to bring; these readers parse them (see docs/tagging.md).

* **CoNLL** (:func:`read_conll`): one token per line, whitespace-separated columns, the token
  first and the tag in a chosen column (CoNLL-2003 NER: ``EU NNP B-NP B-ORG``, the tag last);
  a blank line ends a sentence; ``-DOCSTART-`` lines (document breaks) are skipped. Every token
  line of a file has the same number of columns.
* **CoNLL-U** (:func:`read_conllu`): ten tab-separated fields per word (ID FORM LEMMA UPOS XPOS
  FEATS HEAD DEPREL DEPS MISC); the token is FORM, the tag UPOS or a chosen field; ``#``
  comments, multiword-token ranges (``1-2``) and empty nodes (``8.1``) are skipped, so the
  tokens are the syntactic words; ``# sent_id = ...`` names the sentence.

A malformed line is a ``ValueError`` naming the file and line, what was expected and what was
there (``expected 4 columns (as at line 1) at train.txt:17, got 3: 'EU NNP B-NP'``); bytes
that are not UTF-8 too. Files ending in ``.gz`` are read through gzip.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from seqattn.io import atomic_write_text

__all__ = [
    "CONLLU_FIELDS",
    "TAGGED_FORMATS",
    "TaggedSentence",
    "read_conll",
    "read_conllu",
    "read_tagged",
    "format_conll",
    "write_conll",
]

#: The ten fields of a CoNLL-U word line, in order.
CONLLU_FIELDS = ("id", "form", "lemma", "upos", "xpos", "feats", "head", "deprel", "deps", "misc")
TAGGED_FORMATS = ("conll", "conllu")
DOCSTART = "-DOCSTART-"


@dataclass(frozen=True)
class TaggedSentence:
    """One sentence: its tokens, their tags (None for an untagged file) and where it is.

    Attributes:
        tokens: the tokens. tags: one tag per token, or None.
        id: ``file:line`` of its first token (CoNLL-U: the ``sent_id`` when there is one).
    """

    tokens: list[str]
    tags: list[str] | None = None
    id: str | None = None

    def __post_init__(self) -> None:
        if self.tags is not None and len(self.tags) != len(self.tokens):
            raise ValueError(
                f"expected one tag per token ({len(self.tokens)}) in sentence {self.id}, got "
                f"{len(self.tags)}"
            )


def _lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    """``(line number, text without the line break)`` of a UTF-8 (or ``.gz``) file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"expected a tagged file at {path}, got no such file")
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    for number, raw in enumerate(data.splitlines(), 1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise ValueError(
                f"expected UTF-8 text at {path}:{number}, got bytes that are not ({err.reason} "
                f"at byte {err.start}: {raw[err.start : err.start + 4]!r})"
            ) from None
        yield number, line.removeprefix("\ufeff") if number == 1 else line


def _check_any(sentences: list[TaggedSentence], path: str | os.PathLike) -> list[TaggedSentence]:
    if not sentences:
        raise ValueError(f"expected at least one sentence in {path}, got none")
    return sentences


def _column(index: int | None, name: str) -> int | None:
    if index is not None and (isinstance(index, bool) or not isinstance(index, int)):
        raise TypeError(f"expected {name} to be an int or None, got {type(index).__name__}")
    return index


# -- CoNLL ------------------------------------------------------------------------------------
def read_conll(
    path: str | os.PathLike,
    tag_col: int | None = -1,
    token_col: int = 0,
    skip_docstart: bool = True,
) -> list[TaggedSentence]:
    """Read a CoNLL-2003-style file: whitespace-separated columns, blank lines between sentences.

    Args:
        path: the file (``.gz`` too).
        tag_col: the tag's column (0-based; negative counts from the end: ``-1`` the last, the
            NER tag of CoNLL-2003; ``1`` its POS tag); None: an untagged file (tokens only,
            any number of columns).
        token_col: the token's column.
        skip_docstart: skip ``-DOCSTART-`` lines (the document breaks of CoNLL-2003).

    Returns:
        the sentences, in file order.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a line with another number of columns than the file's first, a tag or
            token column the lines do not have, bytes that are not UTF-8, no sentence at all.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     p = Path(d) / "train.txt"
        ...     _ = p.write_text("-DOCSTART- -X- -X- O\\n\\nEU NNP B-NP B-ORG\\n"
        ...                      "rejects VBZ B-VP O\\n\\nPeter NNP B-NP B-PER\\n")
        ...     [(s.tokens, s.tags, Path(s.id).name) for s in read_conll(p)]
        [(['EU', 'rejects'], ['B-ORG', 'O'], 'train.txt:3'), (['Peter'], ['B-PER'], 'train.txt:6')]
    """
    tag_col, token_col = _column(tag_col, "tag_col"), _column(token_col, "token_col")
    sentences: list[TaggedSentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    start = width = first = None

    def flush() -> None:
        nonlocal tokens, tags, start
        if tokens:
            where = f"{path}:{start}"
            sentences.append(TaggedSentence(tokens, tags if tag_col is not None else None, where))
        tokens, tags, start = [], [], None

    for number, line in _lines(path):
        fields = line.split()
        if not fields:
            flush()
            continue
        if skip_docstart and fields[0] == DOCSTART:
            flush()
            continue
        where = f"{path}:{number}"
        if width is None:
            width, first = len(fields), number
            for name, col in (("token_col", token_col), ("tag_col", tag_col)):
                if col is not None and not -width <= col < width:
                    raise ValueError(
                        f"expected {name} {col} within the {width} columns of the first token "
                        f"line at {where}, got a line of {width}: {line.strip()!r}"
                    )
        elif tag_col is not None and len(fields) != width:
            raise ValueError(
                f"expected {width} columns (as at line {first}) at {where}, got "
                f"{len(fields)}: {line.strip()!r}"
            )
        elif not -len(fields) <= token_col < len(fields):
            raise ValueError(f"expected a column {token_col} (the token) at {where}, got "
                             f"{len(fields)} columns: {line.strip()!r}")  # fmt: skip
        start = number if start is None else start
        tokens.append(fields[token_col])
        if tag_col is not None:
            tags.append(fields[tag_col])
    flush()
    return _check_any(sentences, path)


# -- CoNLL-U ----------------------------------------------------------------------------------
def _conllu_field(column: str | int) -> int:
    if isinstance(column, str) and column.lower() in CONLLU_FIELDS:
        return CONLLU_FIELDS.index(column.lower())
    if isinstance(column, int) and not isinstance(column, bool) and 0 <= column < 10:
        return column
    raise ValueError(f"expected column among {CONLLU_FIELDS} or an index 0..9, got {column!r}")


def read_conllu(path: str | os.PathLike, column: str | int | None = "upos") -> list[TaggedSentence]:
    """Read a CoNLL-U file: the words' FORMs and, as tags, their ``column`` (UPOS by default).

    Args:
        path: the file (``.gz`` too).
        column: the tag field, a name of :data:`CONLLU_FIELDS` (``"upos"``, ``"xpos"``,
            ``"deprel"``...) or its index; None: tokens only.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a line without the ten tab-separated fields, an ID that is neither a word
            (``3``), a range (``3-4``) nor an empty node (``3.1``), word IDs out of sequence,
            bytes that are not UTF-8, no sentence at all; each naming the file and line.

    Example:
        >>> import tempfile
        >>> rows = ["# sent_id = s1", "1-2\\tdu\\t_\\t_\\t_\\t_\\t_\\t_\\t_\\t_",
        ...         "1\\tde\\tde\\tADP\\t_\\t_\\t3\\tcase\\t_\\t_",
        ...         "2\\tle\\tle\\tDET\\t_\\t_\\t3\\tdet\\t_\\t_",
        ...         "3\\tchat\\tchat\\tNOUN\\t_\\t_\\t0\\troot\\t_\\t_", ""]
        >>> with tempfile.TemporaryDirectory() as d:
        ...     p = Path(d) / "fr.conllu"
        ...     _ = p.write_text("\\n".join(rows))
        ...     [(s.tokens, s.tags, s.id) for s in read_conllu(p)]
        [(['de', 'le', 'chat'], ['ADP', 'DET', 'NOUN'], 's1')]
    """
    field = None if column is None else _conllu_field(column)
    sentences: list[TaggedSentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    start = sent_id = None

    def flush() -> None:
        nonlocal tokens, tags, start, sent_id
        if tokens:
            sentences.append(TaggedSentence(tokens, tags if field is not None else None,
                                            sent_id or f"{path}:{start}"))  # fmt: skip
        tokens, tags, start, sent_id = [], [], None, None

    for number, line in _lines(path):
        where = f"{path}:{number}"
        if not line.strip():
            flush()
            continue
        if line.startswith("#"):
            key, _, value = line[1:].partition("=")
            if key.strip() == "sent_id" and not tokens:
                sent_id = value.strip()
            continue
        fields = line.split("\t")
        if len(fields) != 10:
            raise ValueError(
                f"expected 10 tab-separated fields (CoNLL-U: ID FORM LEMMA UPOS ...) at {where}, "
                f"got {len(fields)}: {line[:60]!r}"
            )
        ident = fields[0]
        if "-" in ident or "." in ident:
            low, sep, high = ident.replace(".", "-").partition("-")
            if not (low.isdigit() and high.isdigit() and sep):
                raise ValueError(f"expected an ID such as 3, 3-4 or 3.1 at {where}, got "
                                 f"{ident!r}")  # fmt: skip
            continue  # a multiword token's range or an empty node: not a syntactic word
        if not ident.isdigit() or int(ident) != len(tokens) + 1:
            raise ValueError(f"expected word ID {len(tokens) + 1} at {where}, got {ident!r}")
        start = number if start is None else start
        tokens.append(fields[1])
        if field is not None:
            tags.append(fields[field])
    flush()
    return _check_any(sentences, path)


def read_tagged(
    path: str | os.PathLike,
    format: str = "conll",
    column: str | int | None = None,
    tagged: bool = True,
) -> list[TaggedSentence]:
    """:func:`read_conll` or :func:`read_conllu` by ``format``; ``column`` is the tag column
    (default: the last for CoNLL, UPOS for CoNLL-U); ``tagged=False`` reads tokens only."""
    if format not in TAGGED_FORMATS:
        raise ValueError(f"expected format in {TAGGED_FORMATS}, got {format!r}")
    if format == "conllu":
        return read_conllu(path, (column if column is not None else "upos") if tagged else None)
    if isinstance(column, str):
        if not column.lstrip("-").isdigit():
            raise ValueError(f"expected a column number for a CoNLL file, got {column!r}")
        column = int(column)
    return read_conll(path, (column if column is not None else -1) if tagged else None)


# -- writing ----------------------------------------------------------------------------------
def format_conll(sentences: Iterable[Sequence[Sequence[str]]]) -> str:
    """CoNLL text: every sentence a block of rows (columns joined by tabs), a blank line after
    each.

    Example:
        >>> format_conll([[["EU", "B-ORG"], ["rejects", "O"]], [["Peter", "B-PER"]]])
        'EU\\tB-ORG\\nrejects\\tO\\n\\nPeter\\tB-PER\\n\\n'
    """
    blocks = ["".join("\t".join(row) + "\n" for row in rows) for rows in sentences]
    return "\n".join(blocks) + ("\n" if blocks else "")


def write_conll(path: str | os.PathLike, sentences: Iterable[Sequence[Sequence[str]]]) -> Path:
    """Write :func:`format_conll`'s text to ``path`` atomically."""
    return atomic_write_text(Path(path), format_conll(sentences))
