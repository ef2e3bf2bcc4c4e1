"""Sentence and document classification datasets: SST-2, IMDB, rt-polarity, VADER, generic files.

Every loader returns a list of :class:`TextExample` (plain Python, no tensors); tokenise and
batch them with ``seqattn.data``. Labels are ``0`` = negative, ``1`` = positive for the
sentiment sets; ``None`` where a split has no labels (the GLUE SST-2 test set).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
import os
import re
import tarfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqattn.data.datasets._download import require

__all__ = [
    "TextExample",
    "VADER_CORPORA",
    "load_sst2",
    "load_imdb",
    "check_imdb",
    "load_rt_polarity",
    "load_vader",
    "load_classification_file",
]

log = logging.getLogger("seqattn.data")


@dataclass(frozen=True)
class TextExample:
    """One labelled text.

    Attributes:
        text: the text, with the dataset's markup quirks cleaned as documented per loader.
        label: class id, or None where the split has no labels.
        id: the example's id in its source (line number, file name or the source's own id).
        score: the continuous rating behind the label where the source has one (VADER mean
            rating on -4..4, IMDB stars 1..10), else None.
    """

    text: str
    label: int | None
    id: str | None = None
    score: float | None = None


def _open_text(path: Path, encoding: str = "utf-8") -> io.TextIOBase:
    """Text reader with universal newlines (CRLF-safe); transparently gunzips ``*.gz``."""
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding=encoding, newline=None)
    return open(path, encoding=encoding, newline=None)


def _check_split(split: str, allowed: tuple[str, ...]) -> None:
    if split not in allowed:
        raise ValueError(f"expected split in {list(allowed)}, got {split!r}")


# --------------------------------------------------------------------------- SST-2


def load_sst2(split: str = "train", root: str | os.PathLike | None = None) -> list[TextExample]:
    """GLUE SST-2 (Socher et al., 2013; Wang et al., 2019): binary sentence sentiment.

    ``train`` holds sentences and sub-sentence phrases (67,349), ``dev`` 872 sentences,
    ``test`` 1,821 sentences without labels (GLUE's hidden test set: ``label`` is None and
    ``id`` is the GLUE index). The trailing space the files keep before each tab is stripped.

    Args:
        split: ``train``, ``dev`` (alias ``validation``) or ``test``.
        root: data dir (default ``SEQATTN_DATA_DIR`` or the user cache).

    Returns:
        list of :class:`TextExample`, in file order.

    Example:
        >>> dev = load_sst2("dev")  # doctest: +SKIP
        >>> len(dev), dev[0].label  # doctest: +SKIP
        (872, 1)
    """
    split = "dev" if split == "validation" else split
    _check_split(split, ("train", "dev", "test"))
    folder = require("sst2", [f"{split}.tsv"], root)
    path = folder / f"{split}.tsv"
    out = []
    with _open_text(path) as f:
        header = f.readline().rstrip("\n").split("\t")
        expected = ["index", "sentence"] if split == "test" else ["sentence", "label"]
        if header != expected:
            raise ValueError(f"expected header {expected} in {path}, got {header}")
        for lineno, line in enumerate(f, start=2):
            fields = line.rstrip("\n").split("\t")
            if len(fields) != 2:
                raise ValueError(
                    f"expected 2 tab-separated fields at {path}:{lineno}, got {line!r}"
                )
            if split == "test":
                out.append(TextExample(fields[1].strip(), None, id=fields[0]))
            else:
                out.append(TextExample(fields[0].strip(), int(fields[1]), id=str(lineno - 2)))
    return out


# --------------------------------------------------------------------------- IMDB

_IMDB_REVIEW = re.compile(r"^aclImdb/(train|test)/(pos|neg)/(\d+)_(\d+)\.txt$")
_BR = re.compile(r"\s*(?:<br\s*/?>\s*)+", re.IGNORECASE)


def _imdb_example(split: str, polarity: str, idx: str, rating: str, raw: bytes, strip_html: bool):
    text = raw.decode("utf-8")
    if strip_html:
        text = _BR.sub(" ", text).strip()
    label = 1 if polarity == "pos" else 0
    return TextExample(text, label, id=f"{split}/{polarity}/{idx}_{rating}", score=float(rating))


def _imdb_members(
    source: Path, splits: tuple[str, ...] = ("train", "test"), read: bool = True
) -> Iterator[tuple[str, bytes]]:
    """(archive-style name, bytes) of the reviews of ``splits`` in a tarball or a folder.

    With ``read=False`` the bytes are empty (a layout check needs only the names).
    """
    if source.is_dir():
        for sub in splits:
            for polarity in ("pos", "neg"):
                d = source / sub / polarity
                if d.is_dir():
                    for p in d.iterdir():
                        name = "aclImdb/" + p.relative_to(source).as_posix()
                        yield name, p.read_bytes() if read else b""
        return
    # Stream mode: one sequential pass over the gzip, no random access (which would
    # re-decompress from the start for every member).
    with tarfile.open(source, "r|*") as tf:
        for member in tf:
            name = member.name.removeprefix("./")
            m = _IMDB_REVIEW.match(name) if member.isfile() else None
            if m and m.group(1) in splits:
                yield name, tf.extractfile(member).read() if read else b""


def _imdb_source(folder: Path) -> Path:
    tarball, extracted = folder / "aclImdb_v1.tar.gz", folder / "aclImdb"
    return extracted if extracted.is_dir() else tarball


def check_imdb(path: str | os.PathLike, expected_per_class: int | None = 12_500) -> None:
    """Accept an IMDB copy by content: the ``aclImdb/{train,test}/{pos,neg}/<id>_<stars>.txt``
    layout with ``expected_per_class`` reviews in each of the four folders.

    This replaces a check of the archive's hash on purpose: re-packed archives (e.g. without
    ``train/unsup``) and extracted folders hold the same reviews under different bytes.

    Args:
        path: ``aclImdb_v1.tar.gz`` (any tar compression) or an extracted ``aclImdb/`` folder.
        expected_per_class: reviews per split and polarity; None accepts any non-zero count.

    Raises:
        ValueError: the layout or the counts differ (the message gives the counts found).

    Example:
        >>> check_imdb("/nowhere/aclImdb")
        Traceback (most recent call last):
        ...
        ValueError: expected IMDB reviews ... got {'train/pos': 0, ...
    """
    path = Path(path)
    counts = {f"{s}/{p}": 0 for s in ("train", "test") for p in ("pos", "neg")}
    if path.exists():
        for name, _ in _imdb_members(path, read=False):
            m = _IMDB_REVIEW.match(name)
            if m:
                stars = int(m.group(4))
                if (m.group(2) == "pos") != (stars >= 7):
                    raise ValueError(f"expected stars >= 7 for pos and <= 4 for neg, got {name}")
                counts[f"{m.group(1)}/{m.group(2)}"] += 1
    ok = all(counts.values()) if expected_per_class is None else (
        set(counts.values()) == {expected_per_class}
    )  # fmt: skip
    if not ok:
        want = "at least 1" if expected_per_class is None else f"{expected_per_class:,}"
        raise ValueError(
            f"expected IMDB reviews aclImdb/<split>/<pos|neg>/<id>_<stars>.txt, {want} per folder, "
            f"in {path}, got {counts}"
        )


def load_imdb(
    split: str = "train", root: str | os.PathLike | None = None, *, strip_html: bool = True
) -> list[TextExample]:
    """IMDB Large Movie Review Dataset v1.0 (Maas et al., 2011): 25,000 train / 25,000 test.

    Reads ``<data dir>/imdb/aclImdb/`` if that extracted folder exists, else the reviews straight
    from ``<data dir>/imdb/aclImdb_v1.tar.gz`` (no extraction). Any archive with the canonical
    member layout is accepted, including re-packs without ``train/unsup`` (whose hash differs
    from Stanford's). The unlabelled ``unsup`` reviews are not loaded.

    Args:
        split: ``train`` or ``test``.
        root: data dir.
        strip_html: replace the ``<br />`` line breaks (and the space around them) by one space.

    Returns:
        :class:`TextExample` list sorted by (label, review id): negatives then positives.
        ``score`` is the star rating from the file name (1-4 negative, 7-10 positive).

    Example:
        >>> train = load_imdb("train")  # doctest: +SKIP
        >>> len(train), sum(e.label for e in train)  # doctest: +SKIP
        (25000, 12500)
    """
    _check_split(split, ("train", "test"))
    folder = require("imdb", ["aclImdb_v1.tar.gz"], root)
    source = _imdb_source(folder)
    out = []
    for name, raw in _imdb_members(source, (split,)):
        m = _IMDB_REVIEW.match(name)
        if not m:
            continue
        out.append(_imdb_example(*m.groups(), raw, strip_html))
    if not any(e.label == 0 for e in out) or not any(e.label == 1 for e in out):
        raise ValueError(
            f"expected reviews in aclImdb/{split}/pos/ and aclImdb/{split}/neg/ of {source}, "
            f"got {sum(e.label == 1 for e in out)} pos and {sum(e.label == 0 for e in out)} neg"
        )
    out.sort(key=lambda e: (e.label, int(e.id.split("/")[2].split("_")[0])))
    return out


# --------------------------------------------------------------------------- rt-polarity


def load_rt_polarity(root: str | os.PathLike | None = None) -> list[TextExample]:
    """Sentence polarity v1.0 / "MR" (Pang & Lee, 2005): 5,331 positive + 5,331 negative snippets.

    The files are Windows-1252 (not UTF-8) and are decoded as such, so ``…`` and ``–`` come
    out as themselves; the trailing space of most lines is stripped. There is no official
    split (papers use 10-fold cross-validation).

    Returns:
        negatives (label 0, ids ``neg/<line>``) then positives (label 1, ids ``pos/<line>``).

    Example:
        >>> data = load_rt_polarity()  # doctest: +SKIP
        >>> len(data)  # doctest: +SKIP
        10662
    """
    folder = require("rt-polarity", ["rt-polarity.neg", "rt-polarity.pos"], root)
    out = []
    for label, polarity in ((0, "neg"), (1, "pos")):
        with _open_text(folder / f"rt-polarity.{polarity}", encoding="cp1252") as f:
            for i, line in enumerate(f):
                out.append(TextExample(line.strip(), label, id=f"{polarity}/{i}"))
    return out


# --------------------------------------------------------------------------- VADER

VADER_CORPORA = {
    "tweets": "tweets_GroundTruth.txt",
    "movie": "movieReviewSnippets_GroundTruth.txt",
    "amazon": "amazonReviewSnippets_GroundTruth.txt",
    "nyt": "nytEditorialSnippets_GroundTruth.txt",
}


def load_vader(
    corpus: str = "tweets",
    root: str | os.PathLike | None = None,
    *,
    threshold: float = 0.0,
    keep_neutral: bool = False,
) -> list[TextExample]:
    """VADER ground truth (Hutto & Gilbert, 2014): texts with mean human sentiment ratings.

    Each text has the mean of about 20 ratings on -4 (extremely negative) .. +4 (extremely
    positive). Labels: ``1`` if mean > ``threshold``, ``0`` if mean < ``-threshold``, else
    neutral. The default ``threshold=0`` keeps every text whose raters leaned either way and
    reproduces the polarity counts of the files (tweets 2,897 positive / 1,299
    negative / 4 exactly 0); only 0.1-5% of texts (4 tweets, 244 NYT snippets) are exactly
    neutral. If a text's ratings spread by 1-1.5 points (an assumption: the per-rater files
    are not included), a 20-rater mean has a standard error of about 0.25-0.35, so for labels
    the raters agree on, pass e.g. ``threshold=0.5``, which makes ``|mean| <= 0.5`` neutral.
    Neutral texts are dropped unless ``keep_neutral`` (then ``label`` is None).

    The files' CRLF line endings and unterminated last line are handled; HTML entities in
    tweets (``&amp;``) are kept as in the source.

    Args:
        corpus: ``tweets`` (4,200), ``movie`` (10,605), ``amazon`` (3,708) or ``nyt`` (5,190).
        root: data dir.
        threshold: half-width of the neutral band around 0, in rating units (>= 0).
        keep_neutral: keep neutral texts with ``label=None``.

    Returns:
        :class:`TextExample` list in file order, ``score`` = the mean rating, ``id`` the
        source's id.

    Example:
        >>> tweets = load_vader("tweets")  # doctest: +SKIP
        >>> len(tweets), sum(e.label for e in tweets)  # doctest: +SKIP
        (4196, 2897)
    """
    if corpus not in VADER_CORPORA:
        raise ValueError(f"expected corpus in {list(VADER_CORPORA)}, got {corpus!r}")
    if not threshold >= 0:
        raise ValueError(f"expected threshold >= 0, got {threshold}")
    name = VADER_CORPORA[corpus]
    folder = require("vader", [name], root)
    out = []
    with _open_text(folder / name) as f:
        for lineno, line in enumerate(f, start=1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            fields = line.split("\t")
            if len(fields) != 3:
                raise ValueError(
                    f"expected 3 tab-separated fields (id, rating, text) at {folder / name}:"
                    f"{lineno}, got {len(fields)}"
                )
            score = float(fields[1])
            label = 1 if score > threshold else 0 if score < -threshold else None
            if label is None and not keep_neutral:
                continue
            out.append(TextExample(fields[2].strip(), label, id=fields[0], score=score))
    return out


# --------------------------------------------------------------------------- generic files


def _infer_format(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    ext = suffixes[-1] if suffixes else ""
    formats = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
    if ext not in formats:
        raise ValueError(
            f"expected a file ending in {sorted(formats)} (optionally .gz) or an explicit "
            f"format=, got {path.name!r}"
        )
    return formats[ext]


def _rows(path: Path, fmt: str, encoding: str) -> Iterator[tuple[int, dict, list[str]]]:
    """(line number, record, column names) of a CSV/TSV (header row) or JSONL file."""
    with _open_text(path, encoding) as f:
        if fmt == "jsonl":
            for lineno, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as err:
                    raise ValueError(
                        f"expected a JSON object at {path}:{lineno}, got {err}"
                    ) from None
                if not isinstance(record, dict):
                    raise ValueError(
                        f"expected a JSON object at {path}:{lineno}, got {type(record).__name__}"
                    )
                yield lineno, record, list(record)
            return
        # TSV files in the wild (GLUE among them) do not quote, and contain stray quotes.
        kwargs = {"delimiter": "\t", "quoting": csv.QUOTE_NONE} if fmt == "tsv" else {}
        reader = csv.reader(f, **kwargs)
        header = next(reader, None)
        if header is None:
            return
        header = [h.strip() for h in header]
        for row in reader:
            if not row or row == [""]:
                continue
            if len(row) != len(header):
                raise ValueError(
                    f"expected {len(header)} fields ({header}) at {path}:{reader.line_num}, "
                    f"got {len(row)}"
                )
            yield reader.line_num, dict(zip(header, row, strict=True)), header


def label_names(labels: Sequence[Any]) -> list[str]:
    """Distinct labels as strings: numeric order if all are integers, else alphabetical.

    >>> label_names(["pos", "neg", "pos"]), label_names(["10", "9"])
    (['neg', 'pos'], ['9', '10'])
    """
    names = {str(x).strip() for x in labels}
    try:
        return sorted(names, key=int)
    except ValueError:
        return sorted(names)


def _auto_labels(path: Path, text_field: str, label_field: str | None, fmt: str,
                 encoding: str) -> list[TextExample]:  # fmt: skip
    """``load_classification_file(..., label_map="auto")``."""
    if label_field is None:
        return load_classification_file(path, text_field=text_field, label_field=None,
                                        format=fmt, encoding=encoding)  # fmt: skip
    raw = load_classification_file(path, text_field=text_field, label_field=None, format=fmt,
                                   encoding=encoding)  # fmt: skip
    labels = []
    for lineno, record, columns in _rows(path, fmt, encoding):
        if label_field not in record:
            raise ValueError(f"expected a {label_field!r} field in {path} (line {lineno}), got "
                             f"fields {columns}")  # fmt: skip
        labels.append(str(record[label_field]).strip())
    names = label_names(labels)
    try:
        ids = [int(x) for x in labels]
    except ValueError:
        index = {name: i for i, name in enumerate(names)}
        ids = [index[x] for x in labels]
        log.info("labels of %s numbered %s", path, dict(index))
    return [TextExample(e.text, k, id=e.id) for e, k in zip(raw, ids, strict=True)]


def load_classification_file(
    path: str | os.PathLike,
    *,
    text_field: str = "text",
    label_field: str | None = "label",
    format: str | None = None,
    label_map: Mapping[str, int] | str | None = None,
    encoding: str = "utf-8-sig",
) -> list[TextExample]:
    """A text classification set from a CSV, TSV (header row) or JSONL file, optionally gzipped.

    CSV uses standard quoting; TSV is read without quoting (fields never contain tabs);
    CRLF line endings and a UTF-8 byte-order mark are accepted.

    Args:
        path: the file (``.csv``, ``.tsv``, ``.jsonl``; ``.gz`` is decompressed).
        text_field: column / key holding the text.
        label_field: column / key holding the label, or None for unlabelled data.
        format: ``csv``, ``tsv`` or ``jsonl``; inferred from the suffix when None.
        label_map: label string -> class id, required when the labels are not integers;
            ``"auto"``: integer labels are kept, other labels (``pos``/``neg``...) get ids in
            the order of :func:`label_names` (alphabetical), as ``seqattn train classify``
            numbers them.
        encoding: text encoding (e.g. ``cp1252`` for legacy Windows files).

    Returns:
        :class:`TextExample` list in file order; ``id`` is the line number.

    Raises:
        ValueError: unknown format, a missing column (the message lists the columns found),
            a non-integer label without ``label_map``, or a label absent from ``label_map``.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "toy.csv"
        >>> _ = p.write_text('text,label\\r\\n"good, really",pos\\r\\nbad,neg\\r\\n')
        >>> load_classification_file(p, label_map={"neg": 0, "pos": 1})[0]
        TextExample(text='good, really', label=1, id='2', score=None)
    """
    path = Path(path)
    fmt = format or _infer_format(path)
    if fmt not in ("csv", "tsv", "jsonl"):
        raise ValueError(f"expected format in ['csv', 'tsv', 'jsonl'], got {fmt!r}")
    if isinstance(label_map, str):
        if label_map != "auto":
            raise ValueError(f"expected label_map as a mapping, 'auto' or None, got {label_map!r}")
        return _auto_labels(path, text_field, label_field, fmt, encoding)
    if not path.is_file():
        raise FileNotFoundError(f"expected a {fmt} file, got no file at {path}")
    out = []
    for lineno, record, columns in _rows(path, fmt, encoding):
        for fld in (text_field, label_field):
            if fld is not None and fld not in record:
                raise ValueError(
                    f"expected a {fld!r} field in {path} (line {lineno}), got fields {columns}"
                )
        text = record[text_field]
        if not isinstance(text, str):
            raise TypeError(f"expected text at {path}:{lineno} to be a string, got {text!r}")
        label = None
        if label_field is not None:
            raw = record[label_field]
            if label_map is not None:
                key = str(raw)
                if key not in label_map:
                    raise ValueError(
                        f"expected a label in {sorted(label_map)} at {path}:{lineno}, got {key!r}"
                    )
                label = int(label_map[key])
            elif isinstance(raw, bool):
                label = int(raw)
            elif isinstance(raw, int):
                label = raw
            else:
                try:
                    label = int(str(raw).strip())
                except ValueError:
                    raise ValueError(
                        f"expected integer labels in field {label_field!r} or a label_map, got "
                        f"{raw!r} at {path}:{lineno}"
                    ) from None
        out.append(TextExample(text.strip(), label, id=str(lineno)))
    log.info("read %d examples from %s", len(out), path)
    return out
