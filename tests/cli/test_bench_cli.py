"""`seqattn bench`: finds the checkout's benchmarks and runs one with the shared options."""

from __future__ import annotations

import json

from seqattn.cli.main import main


def test_bench_scan_runs_and_writes_json(tmp_path, capsys):
    out = tmp_path / "scan.json"
    code = main(["bench", "scan", "--device", "cpu", "--json", str(out), "--args",
                 "--lengths 16 --batch 2 --input 4 --hidden 8 --repeats 1"])  # fmt: skip
    assert code == 0
    data = json.loads(out.read_text())
    modes = {r["mode"] for r in data["rows"]}
    assert {"sequential", "chunked", "scan"} <= modes <= {"fused", "sequential", "chunked", "scan"}
    assert data["torch"] and "command" in data
    assert "| T | mode |" in capsys.readouterr().out


def test_bench_names_a_missing_benchmarks_folder(tmp_path, capsys):
    assert main(["bench", "scan", "--benchmarks", str(tmp_path)]) == 2
    assert "expected the benchmark scripts ['scan.py']" in capsys.readouterr().out
