"""One table object, three renderings, no parsing back."""

import math

import pytest

from seqattn.viz.report import render_report
from seqattn.viz.table import Column, Table, render_markdown


def _table():
    return Table(
        [Column("model"), Column("acc", "accuracy", ".1%"),
         Column("runs", "diverged", lambda r: f"{r['div']}/{r['runs']}")],
        [{"model": "a|b", "acc": 0.5, "div": 1, "runs": 2},
         {"model": "<x>", "acc": math.nan, "div": 0, "runs": 2}],
        title="T", notes=["n1"],
    )  # fmt: skip


def test_markdown_html_json():
    t = _table()
    md = t.to_markdown().splitlines()
    assert md[2] == "| model | accuracy | diverged |" and md[3] == "|---|---:|---:|"
    assert md[4] == "| a\\|b | 50.0% | 1/2 |" and md[5] == "| <x> | n/a | 0/2 |"
    assert md[-1] == "n1"
    h = t.to_html()
    assert (
        "&lt;x&gt;" in h
        and "<x>" not in h
        and "<p>T</p>" in h
        and '<td class="num">50.0%</td>' in h
    )
    assert t.to_json()["rows"][0]["acc"] == 0.5
    assert render_markdown([t, "free text"]).endswith("\n\nfree text")


def test_report_renders_tables_directly():
    page = render_report(title="t", command="c", config={}, results={}, versions={},
                         tables=[_table()], table_markdown="| ignored |\n|---|\n| 1 |")  # fmt: skip
    assert "50.0%" in page and "ignored" not in page


def test_bad_tables():
    with pytest.raises(ValueError, match="at least one column"):
        Table([], [])
    with pytest.raises(TypeError, match="mapping"):
        Table(["a"], [[1]])
    with pytest.raises(ValueError, match="align"):
        Column("a", align="middle")
