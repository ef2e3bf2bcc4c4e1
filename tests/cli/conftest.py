"""Fixtures of the CLI tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def one_line(capsys):
    """A function returning stderr so far, checked to be one line without a traceback."""

    def read() -> str:
        err = capsys.readouterr().err
        assert "Traceback" not in err
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert len(lines) == 1, err
        return lines[0]

    return read
