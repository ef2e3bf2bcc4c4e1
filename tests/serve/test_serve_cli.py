"""``seqattn serve``: binds loopback by default, warns elsewhere, bad folders exit 2."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi", reason="seqattn serve needs the serve extra (fastapi, uvicorn)")
import uvicorn

from seqattn.cli.main import main
from seqattn.serve import ModelLoadError, create_app


@pytest.fixture
def calls(monkeypatch) -> list[dict]:
    """uvicorn.run replaced by a recorder: the command returns instead of serving."""
    seen: list[dict] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.append({"app": app, **kw}))
    return seen


def test_binds_loopback_by_default_without_warning(calls, model_dirs, capsys):
    assert main(["serve", "--model", str(model_dirs["classifier"]), "--port", "8123"]) == 0
    (call,) = calls
    assert (call["host"], call["port"]) == ("127.0.0.1", 8123)
    err = capsys.readouterr().err
    assert "WARNING" not in err and "http://127.0.0.1:8123/" in err


def test_warns_when_binding_elsewhere(calls, model_dirs, capsys):
    argv = ["serve", "--model", str(model_dirs["translator"]), "--host", "0.0.0.0"]
    assert main(argv) == 0
    assert calls[0]["host"] == "0.0.0.0"
    err = capsys.readouterr().err
    assert "WARNING: binding 0.0.0.0, not 127.0.0.1" in err and "no authentication" in err


def test_limits_flags_reach_the_app(calls, model_dirs):
    from fastapi.testclient import TestClient

    argv = ["serve", "--model", str(model_dirs["classifier"]), "--max-batch", "1"]
    assert main(argv) == 0
    with TestClient(calls[0]["app"]) as c:
        r = c.post("/api/classify", json={"model": "classifier", "texts": ["good", "bad"]})
    assert r.status_code == 413 and "at most 1 texts" in r.json()["detail"]


@pytest.mark.parametrize("damage", ["missing", "not-a-model", "bad-weights"])
def test_a_model_that_fails_to_load_exits_2_naming_the_folder(
    calls, model_dirs, tmp_path, capsys, damage
):
    import shutil

    bad = tmp_path / "broken"
    if damage == "not-a-model":
        bad.mkdir()
        (bad / "notes.txt").write_text("hello")
    elif damage == "bad-weights":
        shutil.copytree(model_dirs["classifier"], bad)
        (bad / "model.safetensors").write_bytes(b"garbage")
    argv = ["serve", "--model", str(model_dirs["classifier"]), "--model", str(bad)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"seqattn serve: {bad}"), err
    assert "Traceback" not in err and not calls
    with pytest.raises(ModelLoadError, match="broken"):
        create_app(models=[bad])
