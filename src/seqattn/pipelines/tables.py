"""Reading and writing the CSV/TSV files of the practitioner path, with errors that name file:line.

The reader is strict where a silent guess would corrupt a dataset: the bytes must be UTF-8
(a UTF-8 byte-order mark is accepted), every row must have as many fields as the header, and
quoting must be well formed. Each failure is a ``ValueError`` naming the file and the line
(and, for bytes that are not UTF-8, the column and byte offset), so a command-line tool can
show it as it is. Blank lines are skipped.

Writes are atomic (:mod:`seqattn.io`): a failed run never leaves a half-written file.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqattn.data.datasets.text_classification import TextExample
from seqattn.data.tokenize import MAX_CHARS
from seqattn.io import atomic_write_text

__all__ = ["Table", "read_table", "read_text_examples", "write_csv"]

_TSV_SUFFIXES = (".tsv", ".tab")
#: The longest field (characters) a CSV/TSV file may hold: the tokenisers' limit on one text
#: (:data:`seqattn.data.tokenize.MAX_CHARS`), not the csv module's default of 131,072.
MAX_FIELD = MAX_CHARS


@dataclass
class Table:
    """A CSV/TSV file read into memory.

    Attributes:
        path: the file it came from.
        columns: the header's column names (stripped of surrounding spaces).
        rows: one list of strings per data row, each as long as ``columns``.
        lines: the line number (1-based) where each row starts, for messages.
    """

    path: Path
    columns: list[str]
    rows: list[list[str]]
    lines: list[int]

    def __len__(self) -> int:
        return len(self.rows)

    def index(self, name: str) -> int:
        """Position of column ``name``; ValueError listing the columns when it is absent."""
        if name not in self.columns:
            raise ValueError(
                f"expected a column {name!r} in {self.path}, got columns {self.columns}"
            )
        return self.columns.index(name)

    def column(self, name: str) -> list[str]:
        """The values of column ``name``, in row order."""
        i = self.index(name)
        return [row[i] for row in self.rows]

    def where(self, row: int) -> str:
        """``path:line`` of data row ``row`` (0-based), for messages and example ids."""
        return f"{self.path}:{self.lines[row]}"


def _decode(raw: bytes, path: Path) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        offset = err.start
        line = raw.count(b"\n", 0, offset) + 1
        column = offset - (raw.rfind(b"\n", 0, offset) + 1) + 1
        raise ValueError(
            f"expected UTF-8 text in {path}, got the byte 0x{raw[offset]:02x} at line {line}, "
            f"column {column} (byte offset {offset}), which is not UTF-8; re-save the file as "
            f"UTF-8 (e.g. `iconv -f cp1252 -t utf-8`)"
        ) from None
    nul = text.find("\0")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        column = nul - (text.rfind("\n", 0, nul) + 1) + 1
        raise ValueError(
            f"expected text without NUL bytes in {path}, got one at line {line}, column {column} "
            f"(a binary file, or one saved as UTF-16?)"
        )
    return text.removeprefix("\ufeff")


def read_table(path: str | os.PathLike, delimiter: str | None = None) -> Table:
    """Read a CSV (or TSV) file with a header row, strictly.

    Args:
        path: the file; ``.tsv``/``.tab`` are tab-separated and read without quoting (as TSV
            files in the wild are written), anything else is comma-separated with standard
            quoting. A ``.gz`` suffix is decompressed.
        delimiter: force a delimiter instead of inferring it from the suffix.

    Returns:
        a :class:`Table`.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: bytes that are not UTF-8 (line, column, byte offset), an empty file, a
            row with more or fewer fields than the header, malformed quoting, or duplicate
            column names, each naming ``path`` and the line.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "toy.csv"
        >>> _ = p.write_text('text,label\\n"good, really",pos\\n\\nbad,neg\\n')
        >>> t = read_table(p)
        >>> t.columns, t.column("label"), t.where(1)[-5:]
        (['text', 'label'], ['pos', 'neg'], 'csv:4')
        >>> _ = p.write_text("text,label\\ngood,pos,extra\\n")
        >>> read_table(p)
        Traceback (most recent call last):
        ...
        ValueError: expected 2 fields (like the header ['text', 'label']) at .../toy.csv:2, got 3
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"expected a CSV file, got no file at {path}")
    raw, tsv = _read_bytes(path)
    if delimiter is None:
        delimiter = "\t" if tsv else ","
    text = _decode(raw, path)
    quoting = {"quoting": csv.QUOTE_NONE} if delimiter == "\t" and tsv else {}
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True, **quoting)
    header: list[str] | None = None
    rows: list[list[str]] = []
    lines: list[int] = []
    for start, row in _rows(reader, path, tsv and delimiter == "\t"):
        if header is None:
            header = _header(row, path)
        elif len(row) != len(header):
            raise ValueError(
                f"expected {len(header)} fields (like the header {header}) at {path}:{start}, "
                f"got {len(row)}"
            )
        else:
            rows.append(row)
            lines.append(start)
    if header is None:
        raise ValueError(f"expected a header row in {path}, got an empty file")
    return Table(path, header, rows, lines)


def _read_bytes(path: Path) -> tuple[bytes, bool]:
    """The file's bytes (gunzipped for ``.gz``) and whether its suffix says TSV."""
    raw = path.read_bytes()
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise ValueError(f"expected a gzip file at {path}, got: {err}") from None
        suffixes = suffixes[:-1]
    return raw, bool(suffixes) and suffixes[-1] in _TSV_SUFFIXES


def _rows(reader: Any, path: Path, unquoted: bool) -> Iterator[tuple[int, list[str]]]:
    """(line where the row starts, row) for every non-blank row; malformed quoting named."""
    last = 0  # the line the previous row ended on
    previous = csv.field_size_limit(MAX_FIELD)
    try:
        while True:
            start = last + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                raise ValueError(_csv_error(err, path, start, unquoted)) from None
            last = reader.line_num
            if row:  # a blank line is skipped (a line of spaces is a row: an empty text)
                yield start, row
    finally:
        csv.field_size_limit(previous)


def _csv_error(err: csv.Error, path: Path, start: int, unquoted: bool) -> str:
    if "field larger than field limit" not in str(err):
        return f"expected well-formed CSV at {path}:{start}, got: {err} (check the quotes)"
    hint = "" if unquoted else (
        "; or a quote opened and never closed there, which makes the rest of the file one field"
    )  # fmt: skip
    return (f"expected fields of at most {MAX_FIELD:,} characters in {path}, got a longer one "
            f"in the row starting at line {start}{hint}")  # fmt: skip


def _header(row: list[str], path: Path) -> list[str]:
    header = [h.strip() for h in row]
    seen = {h for h in header if header.count(h) > 1}
    if seen:
        raise ValueError(
            f"expected unique column names in the header of {path}, got duplicates "
            f"{sorted(seen)} in {header}"
        )
    return header


def read_text_examples(
    path: str | os.PathLike,
    text_col: str = "text",
    label_col: str | None = "label",
    empty_labels: bool = False,
) -> list[TextExample]:
    """Labelled (or unlabelled) texts from a CSV/TSV file, labels kept as strings.

    Args:
        path: the file (see :func:`read_table`).
        text_col: the column holding the text.
        label_col: the column holding the label (any string: ``pos``, ``3``...), or None.
        empty_labels: accept an empty label field (a multi-label text with no label), read
            as ``""``; by default it is an error.

    Returns:
        :class:`~seqattn.data.datasets.text_classification.TextExample` list in file order;
        ``text`` is stripped, ``label`` is the stripped label string (or None), ``id`` is
        ``path:line`` so later errors can point at the row.

    Raises:
        ValueError: anything :func:`read_table` rejects, a missing column (the message lists
            the columns found), or an empty label field (named by file:line) unless
            ``empty_labels``.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "toy.csv"
        >>> _ = p.write_text("text,label\\nnice film,pos\\n")
        >>> ex = read_text_examples(p)[0]
        >>> ex.text, ex.label, ex.id.endswith("toy.csv:2")
        ('nice film', 'pos', True)
    """
    table = read_table(path)
    ti = table.index(text_col)
    li = table.index(label_col) if label_col is not None else None
    out = []
    for r, row in enumerate(table.rows):
        label = None
        if li is not None:
            label = row[li].strip()
            if not label and not empty_labels:
                raise ValueError(
                    f"expected a label in column {label_col!r} at {table.where(r)}, "
                    f"got an empty field"
                )
        out.append(TextExample(row[ti].strip(), label, id=table.where(r)))  # type: ignore[arg-type]
    return out


def write_csv(path: str | os.PathLike, columns: Sequence[str], rows: Sequence[Sequence]) -> Path:
    """Write a CSV file (header + rows) atomically: the whole file appears, or nothing.

    Example:
        >>> import tempfile, pathlib
        >>> p = write_csv(pathlib.Path(tempfile.mkdtemp()) / "out.csv", ["a", "b"], [[1, "x,y"]])
        >>> p.read_bytes()
        b'a,b\\r\\n1,"x,y"\\r\\n'
    """
    buf = io.StringIO(newline="")
    writer = csv.writer(buf)
    writer.writerow(list(columns))
    for row in rows:
        writer.writerow(list(row))
    return atomic_write_text(path, buf.getvalue())
