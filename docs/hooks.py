"""mkdocs hooks (mkdocs.yml ``hooks:``): README.md as the home page, no page left out of the nav."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from mkdocs.structure.files import File

log = logging.getLogger("mkdocs.hooks.seqattn")

ROOT = Path(__file__).resolve().parent.parent


def _nav_paths(items) -> set[str]:
    """Every page path named anywhere in a (nested) mkdocs nav."""
    found: set[str] = set()
    for item in items:
        if isinstance(item, str):
            found.add(item)
        elif isinstance(item, dict):
            for value in item.values():
                found |= _nav_paths(value) if isinstance(value, list) else _nav_paths([value])
    return found


def on_config(config):
    """Add each top-level docs/*.md missing from the nav under "More" (a page another change
    added without a nav line), so it is built and linked rather than silently omitted."""
    nav = config.nav or []
    listed = _nav_paths(nav)
    missing = sorted(p.name for p in Path(config.docs_dir).glob("*.md") if p.name not in listed)
    if missing:
        log.info("pages not in mkdocs.yml's nav, added under More: %s", ", ".join(missing))
        nav.append({"More": missing})
        config.nav = nav
    return config


def readme_as_home(text: str) -> str:
    """README.md with its ``docs/x.md`` links made relative to the docs folder, and its links
    to other repository files made ``../`` ones (see :func:`on_page_markdown`)."""
    text = re.sub(r"\]\((?!https?:|#|mailto:|docs/)([^)\s]+)\)", r"](../\1)", text)
    return re.sub(r"\]\(docs/", "](", text)


# [text](../src/x.py#L3): a link from a docs page to a repository file outside docs/
_OUTSIDE = re.compile(r"\[([^\]]*)\]\((\.\./[^)\s#]+)(#[^)\s]*)?\)")


def on_page_markdown(markdown, page, config, files):
    """Links to repository files outside docs/ (sources, tests, benchmarks) work on a checkout
    and on the forge but have no page in the site: check the file exists (a warning, fatal in
    strict mode, when it does not) and render the link as its text and path."""
    here = (Path(config.docs_dir) / page.file.src_uri).parent

    def outside(match: re.Match) -> str:
        text, target = match.group(1), match.group(2)
        path = (here / target).resolve()
        if not path.exists():
            log.warning("%s links to %s, which does not exist", page.file.src_uri, target)
            return match.group(0)
        rel = path.relative_to(ROOT).as_posix()
        shown = text.strip("`")
        return text if shown.rstrip("/") == rel.rstrip("/") else f"{text} (`{rel}`)"

    return _OUTSIDE.sub(outside, markdown)


def on_files(files, config):
    """The home page: README.md, generated as index.md (there is no docs/index.md)."""
    if files.get_file_from_path("index.md") is None:
        text = readme_as_home((ROOT / "README.md").read_text(encoding="utf-8"))
        files.append(File.generated(config, "index.md", content=text))
    return files
