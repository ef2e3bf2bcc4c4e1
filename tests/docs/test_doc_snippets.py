"""Every Python and shell snippet of README.md and docs/*.md runs (the convention: the
docstring of tests/docs/snippets.py and docs/contributing.md, "Runnable snippets").

Python snippets run in a forked child of one server process that has imported torch and seqattn
(a fresh process with empty globals, in its own empty folder); shell snippets run under
``bash -e -o pipefail`` with this virtualenv's bin/ first on PATH. The count of runnable
snippets is printed at the end of the session (tests/docs/conftest.py)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from snippet_fixtures import FIXTURES, serve
from snippets import ROOT, Snippet, all_snippets, extract, parse_mark

SNIPPETS = all_snippets()
TARGET = 0.95
BIN = Path(sys.executable).parent


def _param(s: Snippet):
    marks = [getattr(pytest.mark, w) for w in ("slow", "data") if w in s.words]
    return pytest.param(s, id=s.id, marks=marks)


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg", PYTHONUNBUFFERED="1")
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


class PythonRunner:
    """The fork server (tests/docs/snippet_server.py), one per test module."""

    def __init__(self) -> None:
        server = Path(__file__).with_name("snippet_server.py")
        self.proc = subprocess.Popen(
            [sys.executable, str(server)], cwd=ROOT, env=_env(), text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )  # fmt: skip
        assert json.loads(self.proc.stdout.readline())["ready"]

    def run(self, snippet: Snippet, cwd: Path) -> tuple[int, str]:
        req = {
            "code": snippet.code,
            "name": snippet.id,
            "cwd": str(cwd),
            "timeout": snippet.timeout,
        }
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        answer = json.loads(self.proc.stdout.readline())
        return answer["rc"], answer["output"]

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def python_runner():
    runner = PythonRunner()
    yield runner
    runner.close()


def _serves(code: str, cwd: Path, env: dict[str, str], seconds: int) -> tuple[int, str]:
    """Run a snippet that serves until stopped: 0 when it is still running after ``seconds``
    (then stopped), its exit status (or 1) when it ended before."""
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", 8000)) == 0:
            pytest.skip("port 8000 (the documented default) is in use")
    proc = subprocess.Popen(
        ["bash", "-e", "-o", "pipefail", "-c", code], cwd=cwd, env=env, text=True,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        output, _ = proc.communicate(timeout=seconds)
        return proc.returncode or 1, output
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGINT)
        output, _ = proc.communicate(timeout=30)
        return 0, output


def _shell(code: str, cwd: Path, env: dict[str, str], timeout: int) -> tuple[int, str]:
    try:
        run = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", code], cwd=cwd, env=env, timeout=timeout,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    except subprocess.TimeoutExpired as e:
        return 124, (e.output or b"").decode(errors="replace") if isinstance(e.output, bytes) else (
            e.output or ""
        )
    return run.returncode, run.stdout


@pytest.mark.parametrize("snippet", [_param(s) for s in SNIPPETS])
def test_snippet(snippet: Snippet, tmp_path, request):
    assert snippet.error is None, f"{snippet.id}: {snippet.error}"
    if snippet.skip:
        pytest.skip(f"marked skip: {snippet.skip}")
    env = _env()
    if "data" in snippet.words and not Path(env.get("SEQATTN_DATA_DIR", "/nonexistent")).is_dir():
        pytest.skip("needs the real datasets: SEQATTN_DATA_DIR is not set or not a directory")
    cwd = ROOT if snippet.options.get("cwd") == "repo" else tmp_path
    if cwd == tmp_path:
        (tmp_path / ".venv").symlink_to(ROOT / ".venv")  # the docs' `.venv/bin/seqattn ...`
    unknown = [f for f in snippet.fixtures if f not in FIXTURES]
    assert not unknown, f"{snippet.id}: unknown fixture(s) {unknown}; known: {sorted(FIXTURES)}"
    for name in snippet.fixtures:
        FIXTURES[name](cwd)
    code, server = snippet.code, None
    if "server" in snippet.fixtures:
        server, code = serve(cwd, env, snippet)
    try:
        if snippet.lang == "python":
            rc, output = request.getfixturevalue("python_runner").run(snippet, cwd)
        elif "serves" in snippet.words:
            rc, output = _serves(code, cwd, env, snippet.timeout)
        else:
            rc, output = _shell(code, cwd, env, snippet.timeout)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
    where = f"{snippet.id} ({snippet.lang}) exited {rc}"
    if rc == 124:
        pytest.fail(f"{where}: over its {snippet.timeout} s limit\n{output[-4000:]}")
    if "fails" in snippet.words:
        assert rc != 0, f"{where}, but it is marked as showing an error\n{output[-4000:]}"
    else:
        assert rc == 0, f"{where}\n{snippet.code}\n--- output ---\n{output[-6000:]}"


def counts(snippets: list[Snippet]) -> dict[str, int]:
    """How many snippets there are, how many are runnable (not marked skip) and by mark."""
    runnable = [s for s in snippets if not s.skip and not s.error]
    return {
        "total": len(snippets),
        "runnable": len(runnable),
        "default": sum(1 for s in runnable if not s.words & {"slow", "data"}),
        "slow": sum(1 for s in runnable if "slow" in s.words),
        "data": sum(1 for s in runnable if "data" in s.words),
        "skip": sum(1 for s in snippets if s.skip),
    }


def summary(snippets: list[Snippet]) -> str:
    c = counts(snippets)
    share = c["runnable"] / c["total"] if c["total"] else 1.0
    return (f"doc snippets: {c['runnable']} runnable / {c['total']} total ({share:.1%}); "
            f"default run {c['default']}, slow {c['slow']}, data {c['data']}, "
            f"marked skip {c['skip']}")  # fmt: skip


def test_runnable_share_and_marks():
    """At least 95 % of the snippets are runnable; every mark parses."""
    bad = [f"{s.id}: {s.error}" for s in SNIPPETS if s.error]
    assert not bad, bad
    c = counts(SNIPPETS)
    print(summary(SNIPPETS))
    skipped = [f"{s.id}: {s.skip}" for s in SNIPPETS if s.skip]
    assert c["runnable"] >= TARGET * c["total"], f"{summary(SNIPPETS)}; skipped: {skipped}"


def test_extraction_and_marks(tmp_path):
    """The parser finds fences and their marks, and refuses what it does not know."""
    page = tmp_path / "page.md"
    page.write_text(
        "# t\n\n```python\nprint(1)\n```\n\n<!-- snippet: slow data fixture=models -->\n"
        "```bash\nseqattn run x\n```\n\n<!-- snippet: skip: needs a GPU -->\n"
        "```sh\nnvidia-smi\n```\n"
        "\n```json\n{}\n```\n\n```console\n$ seqattn --help\nusage: ...\n```\n"
        "<!-- snippet: sloow -->\n```py\nx\n```\n"
    )
    found = extract(page, tmp_path)
    assert [(s.line, s.lang) for s in found] == [(3, "python"), (8, "shell"), (13, "shell"),
                                                  (21, "shell"), (26, "python")]  # fmt: skip
    assert found[1].words == {"slow", "data"} and found[1].fixtures == ["models"]
    assert found[2].skip == "needs a GPU"
    assert found[3].code == "seqattn --help\n"
    assert found[4].error == "unknown snippet mark 'sloow'"
    assert parse_mark("skip")[3] == "skip needs a reason"
    assert parse_mark("timeout=abc")[3].startswith("timeout must be seconds")
    assert counts(found) == {
        "total": 5,
        "runnable": 3,
        "default": 2,
        "slow": 1,
        "data": 1,
        "skip": 1,
    }


def test_a_failing_snippet_fails(python_runner, tmp_path):
    """The runner reports a snippet's error: README snippet 2 without its ``import torch``."""
    s = Snippet("x.md", 1, "python", "x = torch.randn(2)\n")
    rc, output = python_runner.run(s, tmp_path)
    assert rc == 1 and "NameError: name 'torch' is not defined" in output
    ok = Snippet(
        "x.md",
        2,
        "python",
        "import torch\nopen('out.txt', 'w').write(str(torch.ones(1).sum().item()))\n",
    )
    assert python_runner.run(ok, tmp_path)[0] == 0
    assert (tmp_path / "out.txt").read_text() == "1.0"
    rc, output = _shell("false\necho not reached", tmp_path, _env(), 30)
    assert rc == 1 and "not reached" not in output
