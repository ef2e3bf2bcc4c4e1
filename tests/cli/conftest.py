"""Fixtures of the CLI tests."""

from __future__ import annotations

import pytest

PROGRESS = ("train: ", "train (")  # the training progress lines off a terminal (cli._progress)


@pytest.fixture
def one_line(capsys):
    """A function returning stderr so far, checked to be one line without a traceback (besides
    the training progress lines printed before a failure: ``train: ...``)."""

    def read() -> str:
        err = capsys.readouterr().err
        assert "Traceback" not in err
        lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith(PROGRESS)]
        assert len(lines) == 1, err
        return lines[0]

    return read
