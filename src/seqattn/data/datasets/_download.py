"""Finding, verifying and downloading dataset files.

Downloads go to a temporary file in the dataset's folder, are checked (sha256, or a content
check for files accepted by content), and only then renamed into place, so an interrupted or
corrupt download never leaves a partial file under the expected name. Archives are opened and
only the listed members are extracted (no ``extractall``: a hostile archive cannot write
outside the folder). Without network access, loaders and :func:`download` raise
:class:`DatasetNotFoundError`, whose message says which files to put where.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import tarfile
import tempfile
import textwrap
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path

from seqattn.data.datasets._registry import (
    ENV_VAR,
    DatasetInfo,
    FileSpec,
    data_dir,
    get_info,
)
from seqattn.io import atomic_write, sha256_file

__all__ = [
    "DatasetNotFoundError",
    "ChecksumError",
    "FileStatus",
    "sha256_file",
    "require",
    "verify",
    "download",
    "missing_files",
]

log = logging.getLogger("seqattn.data")

_CHUNK = 1 << 20
_urlopen = urllib.request.urlopen  # indirection so tests can simulate the network


def _data_dir_origin(root: str | os.PathLike | None) -> str:
    if root is not None:
        return "the root argument (root= / --root)"
    if os.environ.get(ENV_VAR):
        return f"${ENV_VAR}"
    return f"the default; ${ENV_VAR} is not set"


def _source_line(spec: FileSpec) -> str:
    if spec.member:
        return f"member {spec.member} of {spec.url}"
    return spec.url


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are absent (and could not be downloaded).

    The message names the dataset, the exact folder to put the files in, the files expected
    there, the URLs to get them from, and how to point at a copy elsewhere (``SEQATTN_DATA_DIR``).

    Example:
        >>> from seqattn.data.datasets._registry import get_info
        >>> info = get_info("sst2")
        >>> err = DatasetNotFoundError(info, "/nowhere", [info.file("dev.tsv")])
        >>> "/nowhere/sst2" in str(err) and "SEQATTN_DATA_DIR" in str(err)
        True
    """

    def __init__(
        self,
        info: DatasetInfo,
        root: str | os.PathLike | None,
        missing: Iterable[FileSpec],
        reason: str | None = None,
    ):
        self.info = info
        self.folder = data_dir(root) / info.folder
        self.missing = tuple(missing)
        width = max((len(f.path) for f in self.missing), default=0)
        lines = [f"dataset {info.name!r} not found in {self.folder}"]
        if reason:
            lines.append(f"  ({reason})")
        lines.append(f"expected these file(s) in {self.folder}/:")
        lines += [f"  {f.path:<{width}}  <- {_source_line(f)}" for f in self.missing]
        fix = (
            f"To fix: run `seqattn data download {info.name}` on a machine with network access, "
            f"or download the URL(s) above yourself and put the files (archive members extracted "
            f"and named as listed) into {self.folder}/. "
            f"The data dir {self.folder.parent} comes from {_data_dir_origin(root)}; "
            f"set {ENV_VAR} to the folder that holds `{info.folder}/` to use a copy elsewhere."
        )
        lines += textwrap.wrap(fix, width=100, break_on_hyphens=False, break_long_words=False)
        super().__init__("\n".join(lines))


class ChecksumError(ValueError):
    """A downloaded file's sha256 (or content check) does not match; nothing was kept."""


@dataclass(frozen=True)
class FileStatus:
    """Result of :func:`verify` for one file.

    ``status`` is ``ok`` (digest or content check passed), ``unverified`` (present, no digest
    known), ``missing``, ``mismatch`` (wrong sha256) or ``invalid`` (content check failed).
    """

    path: str
    status: str
    optional: bool
    detail: str = ""

    @property
    def failed(self) -> bool:
        if self.status == "missing":
            return not self.optional
        return self.status in ("mismatch", "invalid")


def _present(folder: Path, spec: FileSpec) -> Path | None:
    """The path that satisfies ``spec`` (the file, or its accepted alternative), or None."""
    path = folder / spec.path
    if path.is_file():
        return path
    if spec.alternative and (folder / spec.alternative).exists():
        return folder / spec.alternative
    return None


def missing_files(name: str, root: str | os.PathLike | None = None) -> list[FileSpec]:
    """The required files of ``name`` absent from its folder.

    Example:
        >>> [f.path for f in missing_files("sst2", "/nowhere")]
        ['train.tsv', 'dev.tsv', 'test.tsv']
    """
    info = get_info(name)
    folder = data_dir(root) / info.folder
    return [f for f in info.required_files if _present(folder, f) is None]


def require(name: str, paths: Iterable[str], root: str | os.PathLike | None = None) -> Path:
    """The dataset folder, after checking that ``paths`` (relative to it) are present.

    Loaders call this first; it does not hash files (``verify`` does).

    Raises:
        DatasetNotFoundError: a file (and its accepted alternative) is absent.

    Example:
        >>> require("sst2", ["dev.tsv"], "/nowhere")
        Traceback (most recent call last):
        ...
        seqattn.data.datasets._download.DatasetNotFoundError: dataset 'sst2' not found in ...
    """
    info = get_info(name)
    folder = data_dir(root) / info.folder
    specs = [info.file(p) for p in paths]
    missing = [s for s in specs if _present(folder, s) is None]
    if missing:
        raise DatasetNotFoundError(info, root, missing)
    return folder


def verify(name: str, root: str | os.PathLike | None = None) -> list[FileStatus]:
    """Check every file of dataset ``name``: sha256, or the content check where one is set.

    Args:
        name: registry name.
        root: data dir (default: ``SEQATTN_DATA_DIR`` or the user cache).

    Returns:
        One :class:`FileStatus` per registered file, in registry order.

    Example:
        >>> sorted({s.status for s in verify("sst2", "/nowhere")})
        ['missing']
    """
    info = get_info(name)
    folder = data_dir(root) / info.folder
    out = []
    for spec in info.files:
        path = _present(folder, spec)
        if path is None:
            detail = "known to be absent from some copies" if spec.optional else ""
            out.append(FileStatus(spec.path, "missing", spec.optional, detail))
            continue
        where = "" if path.name == Path(spec.path).name else f"as {path.relative_to(folder)}/"
        if spec.validate is not None:
            try:
                spec.validate(path)
            except (ValueError, OSError, EOFError, tarfile.TarError) as err:
                out.append(FileStatus(spec.path, "invalid", spec.optional, str(err)))
                continue
            if spec.sha256 is None:
                detail = " ".join(x for x in ("content check passed", where) if x)
                out.append(FileStatus(spec.path, "ok", spec.optional, detail))
                continue
        if spec.sha256 is None:
            out.append(FileStatus(spec.path, "unverified", spec.optional, "no sha256 known"))
            continue
        digest = sha256_file(path)
        if digest == spec.sha256:
            out.append(FileStatus(spec.path, "ok", spec.optional, "sha256 matches"))
        else:
            detail = f"expected sha256 {spec.sha256}, got {digest}"
            out.append(FileStatus(spec.path, "mismatch", spec.optional, detail))
    return out


def _fetch(url: str, folder: Path, timeout: float, progress: Callable | None) -> Path:
    """Stream ``url`` into a temporary file in ``folder``; the caller renames or deletes it."""
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".download-", suffix=".part", dir=folder)
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "seqattn"})
        with os.fdopen(fd, "wb") as out, _urlopen(request, timeout=timeout) as response:
            total = response.headers.get("Content-Length") if response.headers else None
            total = int(total) if total and total.isdigit() else None
            done = 0
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                out.write(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(url, done, total)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        if created and not any(folder.iterdir()):
            folder.rmdir()  # a failed first download leaves no empty dataset folder behind
        raise
    return Path(tmp)


def _check_digest(path: Path, expected: str | None, what: str) -> None:
    if expected is None:
        return
    got = sha256_file(path)
    if got != expected:
        raise ChecksumError(
            f"expected sha256 {expected} for {what}, got {got}; the download was discarded"
        )


def _install_direct(tmp: Path, spec: FileSpec, dest: Path) -> None:
    _check_digest(tmp, spec.sha256, spec.url)
    if spec.validate is not None:
        try:
            spec.validate(tmp)
        except (ValueError, OSError, EOFError, tarfile.TarError) as err:
            raise ChecksumError(
                f"expected {spec.path} from {spec.url} to pass its content check, got: {err}; "
                "the download was discarded"
            ) from err
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Same-folder rename: atomic, like seqattn.io.atomic_write, but checked before the rename.
    os.replace(tmp, dest)


def _install_members(archive: Path, specs: list[FileSpec], folder: Path) -> list[FileSpec]:
    """Extract the listed members (tar of any compression, or zip), each checked against its
    sha256 before it is renamed into place; returns the specs whose member is absent."""
    with contextlib.ExitStack() as stack:
        if zipfile.is_zipfile(archive):
            zf = stack.enter_context(zipfile.ZipFile(archive))
            names = set(zf.namelist())

            def open_member(name: str):
                return zf.open(name) if name in names else None

        elif tarfile.is_tarfile(archive):
            tf = stack.enter_context(tarfile.open(archive, "r:*"))

            def open_member(name: str):
                try:
                    member = tf.getmember(name)
                except KeyError:
                    return None
                return tf.extractfile(member) if member.isfile() else None

        else:
            raise ChecksumError(f"expected a tar or zip archive, got an unreadable {archive}")
        absent = []
        for spec in specs:
            src = open_member(spec.member)
            if src is None:
                absent.append(spec)
                continue
            digest = hashlib.sha256()

            def write(f, src=src, digest=digest, spec=spec):
                shutil.copyfileobj(_Hashing(src, digest), f, _CHUNK)
                if spec.sha256 is not None and digest.hexdigest() != spec.sha256:
                    raise ChecksumError(
                        f"expected sha256 {spec.sha256} for member {spec.member} of {spec.url}, "
                        f"got {digest.hexdigest()}; the file was not written"
                    )

            with src:
                atomic_write(folder / spec.path, write)
    return absent


class _Hashing:
    """A read-only file wrapper that feeds everything read through a hash."""

    def __init__(self, f, digest):
        self._f, self._digest = f, digest

    def read(self, n: int = -1) -> bytes:
        chunk = self._f.read(n)
        self._digest.update(chunk)
        return chunk


def download(
    name: str,
    root: str | os.PathLike | None = None,
    *,
    include_optional: bool = False,
    timeout: float = 60.0,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> list[Path]:
    """Fetch the missing files of dataset ``name`` into ``<data dir>/<folder>/``.

    Each canonical URL is fetched once (an archive serves all its listed members); each file
    is checked against its sha256 (or content check) before it is renamed into place.

    Args:
        name: registry name.
        root: data dir (default: ``SEQATTN_DATA_DIR`` or the user cache).
        include_optional: also fetch missing optional files (licences, READMEs, files known to
            be absent from some copies); their failures are logged, not raised.
        timeout: socket timeout in seconds.
        progress: called as ``progress(url, bytes_done, bytes_total_or_None)``.

    Returns:
        The paths written (empty when nothing was missing).

    Raises:
        DatasetNotFoundError: a required file could not be fetched (e.g. no network); the
            message says where to put the files by hand.
        ChecksumError: a download does not match its sha256; nothing was kept.

    Example:
        >>> download("sst2", "/nowhere", timeout=0.001)  # doctest: +SKIP
    """
    info = get_info(name)
    folder = data_dir(root) / info.folder
    wanted = [
        f
        for f in info.files
        if (include_optional or not f.optional) and _present(folder, f) is None
    ]
    by_url: dict[str, list[FileSpec]] = {}
    for spec in wanted:
        by_url.setdefault(spec.url, []).append(spec)
    written: list[Path] = []
    for url, specs in by_url.items():
        required = [s for s in specs if not s.optional]
        log.info("downloading %s (%d file(s) of %s)", url, len(specs), info.name)
        try:
            tmp = _fetch(url, folder, timeout, progress)
        except (urllib.error.URLError, OSError, HTTPException, ValueError) as err:
            if required:
                missing = [f for f in info.required_files if _present(folder, f) is None]
                raise DatasetNotFoundError(
                    info, root, missing, reason=f"could not download {url}: {err}"
                ) from err
            log.warning("could not download optional file(s) from %s: %s", url, err)
            continue
        try:
            archive_specs = [s for s in specs if s.member]
            if archive_specs:
                _check_digest(tmp, archive_specs[0].archive_sha256, url)
                absent = _install_members(tmp, archive_specs, folder)
                for spec in absent:
                    msg = f"archive {url} has no member {spec.member}"
                    if not spec.optional:
                        raise DatasetNotFoundError(info, root, [spec], reason=msg)
                    log.warning("%s (optional file %s skipped)", msg, spec.path)
                written += [folder / s.path for s in archive_specs if s not in absent]
            for spec in (s for s in specs if not s.member):
                _install_direct(tmp, spec, folder / spec.path)
                written.append(folder / spec.path)
        finally:
            tmp.unlink(missing_ok=True)
    return written
