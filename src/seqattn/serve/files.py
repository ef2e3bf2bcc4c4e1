"""Files served only from inside one folder: no ``..``, no absolute path, no symlink out."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

__all__ = ["safe_file", "run_index"]


def safe_file(root: Path, rel: str) -> Path | None:
    """The file at ``rel`` under ``root``, or None when ``rel`` leaves ``root`` (``..``, an
    absolute path, a backslash, a symlink resolving outside) or names no file."""
    if not rel or "\\" in rel or "\x00" in rel:
        return None
    parts = PurePosixPath(rel)
    if parts.is_absolute() or any(p in ("..", "") for p in rel.split("/")):
        return None
    base = root.resolve()
    target = (base / parts).resolve()
    if not target.is_relative_to(base) or not target.is_file():
        return None
    return target


def run_index(root: Path) -> list[tuple[str, str | None]]:
    """(name, report path relative to ``root`` or None) for each run folder under ``root``: a
    folder holding report.html or results.json, nested folders included, sorted by name."""
    base = root.resolve()
    out: dict[str, str | None] = {}
    for marker in ("report.html", "results.json"):
        for f in base.rglob(marker):
            rel = f.parent.relative_to(base).as_posix()
            report = "report.html" if rel == "." else f"{rel}/report.html"
            out[rel] = report if safe_file(base, report) is not None else None
    return sorted(out.items())
