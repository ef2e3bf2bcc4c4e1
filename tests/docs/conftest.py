"""The doc-snippet modules import each other by name; the session ends with the snippet count."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def pytest_terminal_summary(terminalreporter):
    from snippets import all_snippets
    from test_doc_snippets import summary

    terminalreporter.write_line(summary(all_snippets()))
