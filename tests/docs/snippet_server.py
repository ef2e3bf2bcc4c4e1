"""A fork server for the doc-snippet test: imports torch and seqattn once, then runs each Python
snippet in a forked child (a fresh process with fresh globals: a snippet's own imports must be
there, since nothing is in its namespace) so 30 snippets do not pay 30 interpreter start-ups.

Protocol: one JSON request per line on stdin, ``{"code", "name", "cwd", "timeout"}``; one JSON
answer per line on stdout, ``{"rc", "output", "seconds"}``. Run as a script by the test."""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import time
import traceback

# the heavy imports every snippet would repeat; nothing of them is visible to a snippet
import matplotlib

matplotlib.use("Agg")
import torch  # noqa: E402

import seqattn.data  # noqa: E402,F401
import seqattn.models  # noqa: E402,F401
import seqattn.nn  # noqa: E402,F401
import seqattn.pipelines  # noqa: E402,F401
import seqattn.viz  # noqa: E402,F401

torch.set_num_threads(1)


def _child(code: str, name: str, cwd: str, log: str) -> None:
    """In the forked child: run ``code`` as ``__main__`` in ``cwd``, output to ``log``."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.stdin = open(os.devnull)  # noqa: SIM115
    os.chdir(cwd)
    sys.path.insert(0, cwd)
    sys.argv = [name]
    rc = 0
    try:
        exec(compile(code, name, "exec"), {"__name__": "__main__", "__file__": name})
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:
        traceback.print_exc()
        rc = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)


def _run(req: dict) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".log", delete=False) as f:
        log = f.name
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        _child(req["code"], req["name"], req["cwd"], log)
    deadline = start + req["timeout"]
    status = None
    while status is None:
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status = os.waitstatus_to_exitcode(st)
        elif time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            status = 124
        else:
            time.sleep(0.02)
    with open(log, errors="replace") as f:
        output = f.read()
    os.unlink(log)
    return {"rc": status, "output": output, "seconds": time.monotonic() - start}


def main() -> None:
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(_run(json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
