"""Run reports are served from the --runs folder only: no path leaves it."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("fastapi", reason="seqattn serve needs the serve extra (fastapi, uvicorn)")

from seqattn.serve.files import run_index, safe_file


def test_runs_index_links_each_report(client):
    runs = client.get("/api/runs").json()
    assert runs == [
        {"name": "nested/translate", "report": "/runs/nested/translate/report.html"},
        {"name": "no-report", "report": None},
        {"name": "sentiment", "report": "/runs/sentiment/report.html"},
    ]
    page = client.get("/runs/sentiment/report.html")
    assert page.status_code == 200 and "report of sentiment" in page.text
    assert "report of nested/translate" in client.get(runs[0]["report"]).text


@pytest.mark.parametrize(
    "url",
    [
        "/runs/../secret.txt",
        "/runs/..%2fsecret.txt",
        "/runs/..%2Fsecret.txt",
        "/runs/%2e%2e/secret.txt",
        "/runs/%2e%2e%2fsecret.txt",
        "/runs/sentiment/..%2f..%2fsecret.txt",
        "/runs/sentiment/%2e%2e/%2e%2e/secret.txt",
        "/runs/..%5csecret.txt",
        "/runs//etc/passwd",
        "/runs/%2fetc%2fpasswd",
        "/runs/%00report.html",
        "/runs/sentiment",
        "/runs/missing.html",
    ],
)
def test_path_traversal_is_refused(client, url):
    res = client.get(url)
    assert res.status_code == 404, (url, res.status_code)
    assert "outside the runs folder" not in res.text and "root:" not in res.text


def test_the_refused_paths_reach_the_check(runs_dir):
    """The same names straight to safe_file (a client could send them unnormalised)."""
    assert (
        safe_file(runs_dir, "sentiment/report.html")
        == (runs_dir / "sentiment" / "report.html").resolve()
    )
    for rel in ("../secret.txt", "sentiment/../../secret.txt", "/etc/passwd",
                str(runs_dir.parent / "secret.txt"), "..\\secret.txt", "", "a\x00b",
                "sentiment//report.html"):  # fmt: skip
        assert safe_file(runs_dir, rel) is None, rel


def test_symlinks_leaving_the_folder_are_refused(tmp_path, client):
    from fastapi.testclient import TestClient

    from seqattn.serve import create_app

    runs = tmp_path / "runs"
    (runs / "ok").mkdir(parents=True)
    (runs / "ok" / "report.html").write_text("inside")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "report.html").write_text("outside")
    (outside / "results.json").write_text("{}")
    try:
        os.symlink(outside / "report.html", runs / "ok" / "leak.html")
        os.symlink(outside, runs / "linked")
        os.symlink(runs / "ok" / "report.html", runs / "ok" / "inner.html")
    except OSError as err:  # pragma: no cover - filesystems without symlinks
        pytest.skip(f"no symlinks here: {err}")
    assert safe_file(runs, "ok/leak.html") is None
    assert safe_file(runs, "linked/report.html") is None
    assert safe_file(runs, "ok/inner.html") == (runs / "ok" / "report.html").resolve()
    assert [name for name, _ in run_index(runs)] == ["ok"]  # the linked folder is not listed
    with TestClient(create_app(runs=runs)) as c:
        assert c.get("/runs/ok/report.html").text == "inside"
        assert c.get("/runs/ok/leak.html").status_code == 404
        assert c.get("/runs/linked/report.html").status_code == 404
        assert c.get("/runs/ok/inner.html").text == "inside"


def test_without_runs_nothing_is_served(model_dirs):
    from fastapi.testclient import TestClient

    from seqattn.serve import create_app

    with TestClient(create_app(models=[model_dirs["classifier"]])) as c:
        assert c.get("/api/runs").json() == []
        assert c.get("/runs/report.html").status_code == 404
    with pytest.raises(ValueError, match="expected runs to be a folder"):
        create_app(runs=model_dirs["classifier"] / "nope")
