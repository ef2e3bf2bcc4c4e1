"""The dataset registry: what each dataset is, where it comes from, where it lives on disk.

A dataset lives in ``<data dir>/<folder>/``; the data dir is, in order of precedence, the
``root`` argument, the ``SEQATTN_DATA_DIR`` environment variable, or
``$XDG_CACHE_HOME/seqattn/data`` (``~/.cache/seqattn/data`` when XDG_CACHE_HOME is unset).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "ENV_VAR",
    "FileSpec",
    "DatasetInfo",
    "register",
    "get_info",
    "list_datasets",
    "data_dir",
    "dataset_dir",
]

ENV_VAR = "SEQATTN_DATA_DIR"


@dataclass(frozen=True)
class FileSpec:
    """One file of a dataset, relative to the dataset's folder.

    Args:
        path: path under ``<data dir>/<folder>/``, with ``/`` separators.
        url: canonical download URL: the file itself, or the archive holding it (see ``member``).
        sha256: expected digest of the file (not of the archive); None where no trusted digest
            is known, in which case ``validate`` (if any) decides.
        size: expected size in bytes (informational; None if unknown).
        member: name of the file inside the archive at ``url``; None when ``url`` is the file.
        archive_sha256: digest of the archive at ``url`` when known.
        optional: documentation/licence files and files known to be absent from some copies;
            a missing optional file is reported but is not an error.
        validate: content check ``validate(path)`` raising ValueError, for files accepted by
            content rather than by digest (e.g. a re-packed archive).
        alternative: another path (a folder, e.g. an extracted archive) that ``validate``
            accepts in place of ``path``.

    Example:
        >>> FileSpec("train.tsv", "https://example.org/x.zip", None, member="X/train.tsv").member
        'X/train.tsv'
    """

    path: str
    url: str
    sha256: str | None
    size: int | None = None
    member: str | None = None
    archive_sha256: str | None = None
    optional: bool = False
    validate: Callable[[Path], None] | None = field(default=None, compare=False, repr=False)
    alternative: str | None = None


@dataclass(frozen=True)
class DatasetInfo:
    """Registry entry of one dataset.

    Args:
        name: registry name (``fashion-mnist``); the CLI and loaders accept it.
        folder: folder under the data dir (``fashion_mnist``).
        description: one or two sentences.
        license: the licence as stated by the source.
        citation: the paper to cite.
        homepage: the project page or canonical source.
        files: every file, required and optional.
        counts: record counts per split, as verified on the canonical files.
        notes: format quirks the loader handles.

    Example:
        >>> info = DatasetInfo("toy", "toy", "A toy.", "MIT", "Nobody (2024)", "", ())
        >>> info.required_files
        ()
    """

    name: str
    folder: str
    description: str
    license: str
    citation: str
    homepage: str
    files: tuple[FileSpec, ...]
    counts: dict[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def required_files(self) -> tuple[FileSpec, ...]:
        return tuple(f for f in self.files if not f.optional)

    def file(self, path: str) -> FileSpec:
        """The :class:`FileSpec` of ``path``; ValueError naming the known files otherwise."""
        for f in self.files:
            if f.path == path:
                return f
        raise ValueError(
            f"expected a file of dataset {self.name!r} ({[f.path for f in self.files]}), "
            f"got {path!r}"
        )


_REGISTRY: dict[str, DatasetInfo] = {}


def _normalise(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def register(info: DatasetInfo, *, replace: bool = False) -> DatasetInfo:
    """Add ``info`` to the registry under its (hyphenated, lower-case) name.

    Args:
        info: the entry.
        replace: allow overwriting an existing entry of the same name.

    Returns:
        ``info``.

    Example:
        >>> toy = DatasetInfo("toy-set", "toy_set", "A toy.", "MIT", "", "", ())
        >>> register(toy) is toy and get_info("toy_set") is toy
        True
        >>> _ = _REGISTRY.pop("toy-set")
    """
    if not isinstance(info, DatasetInfo):
        raise TypeError(f"expected a DatasetInfo, got {type(info).__name__}")
    key = _normalise(info.name)
    if key in _REGISTRY and not replace:
        raise ValueError(f"expected a new dataset name, got {info.name!r} (already registered)")
    _REGISTRY[key] = info
    return info


def _ensure_catalog() -> None:
    from seqattn.data.datasets import _catalog  # noqa: F401  (registers the built-in datasets)


def get_info(name: str) -> DatasetInfo:
    """The registry entry of ``name`` (``fashion-mnist`` and ``fashion_mnist`` both work).

    Example:
        >>> get_info("fashion_mnist").folder
        'fashion_mnist'
    """
    if not isinstance(name, str):
        raise TypeError(f"expected a dataset name (str), got {type(name).__name__}")
    _ensure_catalog()
    try:
        return _REGISTRY[_normalise(name)]
    except KeyError:
        raise ValueError(f"expected a dataset from {sorted(_REGISTRY)}, got {name!r}") from None


def list_datasets() -> list[DatasetInfo]:
    """Every registered dataset, sorted by name.

    Example:
        >>> "sst2" in [d.name for d in list_datasets()]
        True
    """
    _ensure_catalog()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def data_dir(root: str | os.PathLike | None = None) -> Path:
    """The data dir: ``root`` if given, else ``$SEQATTN_DATA_DIR``, else the user's cache.

    Example:
        >>> str(data_dir("/tmp/somewhere"))
        '/tmp/somewhere'
    """
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME")
    base = Path(cache).expanduser() if cache else Path.home() / ".cache"
    return base / "seqattn" / "data"


def dataset_dir(name: str, root: str | os.PathLike | None = None) -> Path:
    """The folder of dataset ``name`` under the data dir.

    Example:
        >>> str(dataset_dir("rt-polarity", "/data"))
        '/data/rt_polarity'
    """
    return data_dir(root) / get_info(name).folder


def file_spec(path, size, sha256, url, member=None, optional=False, **kw) -> FileSpec:
    """A :class:`FileSpec` in the catalog's column order (path, size, sha256, url)."""
    return FileSpec(path, url, sha256, size, member=member, optional=optional, **kw)
