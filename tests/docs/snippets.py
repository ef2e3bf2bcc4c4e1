"""Extract the Python and shell snippets of README.md and docs/*.md and the marks before them.

The convention (docs/contributing.md, "Runnable snippets"): every ```python, ```bash, ```sh,
```shell and ```console fence is a snippet that the test runs, fresh and alone, in an empty
folder: Python in a new process, shell with the virtualenv's bin/ first on PATH and
SEQATTN_DATA_DIR passed through. An HTML comment on the line right above the fence changes that:

    <!-- snippet: slow -->                 runs only with -m slow (over a minute, or trains)
    <!-- snippet: data -->                 needs the real datasets (SEQATTN_DATA_DIR); skips
                                           without them (marked ``data``)
    <!-- snippet: fixture=models,reviews --> the test lays out named files first (FIXTURES)
    <!-- snippet: fails -->                the snippet shows an error: it must exit non-zero
    <!-- snippet: serves -->               it starts a server that runs until stopped: it must
                                           still be running after ``timeout`` seconds
    <!-- snippet: cwd=repo -->             runs in the repository root (make targets)
    <!-- snippet: timeout=300 -->          its time limit in seconds (default 120)
    <!-- snippet: name=train.py -->        other snippets' ``fixture=train.py`` is this one
    <!-- snippet: skip: REASON -->         not runnable (counts against the 95 % target)

Words combine (``<!-- snippet: slow data fixture=models -->``). An unmarked snippet must run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = {"python", "py", "python3"}
SHELL = {"bash", "sh", "shell", "console"}
MARK = re.compile(r"^\s*<!--\s*snippet:\s*(.*?)\s*-->\s*$")
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)")
WORDS = {"run", "slow", "data", "fails", "serves"}
OPTIONS = {"fixture", "cwd", "timeout", "name"}


@dataclass
class Snippet:
    """One fenced snippet: where it is, its language, code and marks."""

    path: str  # relative to the repository root
    line: int  # of the opening fence, 1-based
    lang: str  # "python" or "shell"
    code: str
    words: set[str] = field(default_factory=set)
    options: dict[str, str] = field(default_factory=dict)
    skip: str | None = None  # the reason, when marked skip
    error: str | None = None  # a malformed mark

    @property
    def id(self) -> str:
        return f"{self.path}:{self.line}"

    @property
    def fixtures(self) -> list[str]:
        return [f for f in self.options.get("fixture", "").split(",") if f]

    @property
    def timeout(self) -> int:
        return int(self.options.get("timeout", 120))


def parse_mark(text: str) -> tuple[set[str], dict[str, str], str | None, str | None]:
    """``"slow fixture=a,b"`` -> ({"slow"}, {"fixture": "a,b"}, skip reason, error)."""
    if text.startswith("skip"):
        reason = text[4:].lstrip(":").strip()
        return set(), {}, reason or None, None if reason else "skip needs a reason"
    words, options = set(), {}
    for token in text.split():
        key, eq, value = token.partition("=")
        if eq and key in OPTIONS:
            options[key] = value
        elif not eq and token in WORDS:
            words.add(token)
        else:
            return set(), {}, None, f"unknown snippet mark {token!r}"
    if "timeout" in options and not options["timeout"].isdigit():
        return set(), {}, None, f"timeout must be seconds, got {options['timeout']!r}"
    if options.get("cwd", "repo") != "repo":
        return set(), {}, None, f"cwd can only be 'repo', got {options['cwd']!r}"
    return words, options, None, None


def extract(path: Path, root: Path = ROOT) -> list[Snippet]:
    """Every Python and shell snippet of one Markdown file, with its mark."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, lang = m.group(1), m.group(2), m.group(3).lower()
        end = i + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            end += 1
        body = [ln[len(indent) :] if ln.startswith(indent) else ln for ln in lines[i + 1 : end]]
        if lang in PYTHON | SHELL:
            mark = MARK.match(lines[i - 1]) if i else None
            words, options, skip, error = (
                parse_mark(mark.group(1)) if mark else (set(), {}, None, None)
            )
            code = "\n".join(body) + "\n"
            if lang == "console":
                code = console_commands(code)
            kind = "python" if lang in PYTHON else "shell"
            rel = path.resolve().relative_to(root).as_posix()
            found.append(Snippet(rel, i + 1, kind, code, words, options, skip, error))
        i = end + 1
    return found


def console_commands(text: str) -> str:
    """The commands of a console transcript: its ``$ `` lines, prompts removed."""
    return "".join(ln[2:] + "\n" for ln in text.splitlines() if ln.startswith("$ "))


def all_snippets(root: Path = ROOT) -> list[Snippet]:
    files = [root / "README.md", *sorted((root / "docs").glob("*.md"))]
    return [s for f in files if f.is_file() for s in extract(f, root)]


def named(snippets: list[Snippet], name: str) -> Snippet | None:
    return next((s for s in snippets if s.options.get("name") == name), None)
