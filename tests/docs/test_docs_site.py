"""The docs site (mkdocs.yml) builds in strict mode: no broken link, anchor or API reference."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytest.importorskip("mkdocs", reason="the docs extra is not installed (pip install '.[docs]')")
pytest.importorskip("mkdocstrings_handlers.python", reason="mkdocstrings[python] is not installed")
pytest.importorskip("material", reason="mkdocs-material is not installed")


def _build(tmp_path: Path, config: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config)]
    cmd += ["--site-dir", str(tmp_path / "site")]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_docs_build_strict(tmp_path):
    run = _build(tmp_path, ROOT / "mkdocs.yml")
    assert run.returncode == 0, run.stdout + run.stderr
    site = tmp_path / "site"
    home = (site / "index.html").read_text()
    assert "Two commands" in home  # README.md is the home page
    for page in ("nn", "functional", "models", "pipelines", "decoding", "training", "experiments"):
        html = (site / "api" / page / "index.html").read_text()
        assert html.count('class="doc doc-heading"') >= 5, f"api/{page}: no members rendered"
    mha = (site / "api" / "nn" / "index.html").read_text()
    assert "MultiHeadAttention" in mha and "&gt;&gt;&gt;" in mha  # docstring examples as code
    for md in sorted((ROOT / "docs").glob("*.md")):  # every page built, in the nav or not
        assert (site / md.stem / "index.html").is_file(), f"{md.name} is not in the site"


def test_strict_build_fails_on_a_broken_link(tmp_path):
    """The check above can fail: a page linking to a missing page or anchor aborts the build."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# Home\n\n[gone](missing.md) and [anchor](other.md#nope)\n")
    (docs / "other.md").write_text("# Other\n")
    config = tmp_path / "mkdocs.yml"
    config.write_text(
        f"site_name: t\ndocs_dir: {docs}\nvalidation:\n  anchors: warn\ntheme:\n  name: material\n"
    )
    run = _build(tmp_path, config)
    assert run.returncode != 0
    assert "missing.md" in run.stderr and "nope" in run.stderr
