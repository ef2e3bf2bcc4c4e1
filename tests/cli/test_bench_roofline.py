"""`seqattn bench roofline` and `seqattn bench local-attention`: tiny runs, their tables and
JSON, and the roofline's arithmetic (bound and share of the roof from the counted work)."""

from __future__ import annotations

import json

import pytest

from seqattn.cli.main import main

TINY = (
    "--paths lstm-ours gru-torch mingru-fused attention-sdpa attention-banded --repeats 1 "
    "--peak-n 128 --copy-mib 4 --rnn-steps 8 --rnn-batch 2 --rnn-input 8 --rnn-hidden 16 "
    "--scan-steps 16 --scan-batch 2 --attn-len 64 --attn-bh 2 --head-dim 8 --window 4"
)


def test_bench_roofline_tiny(tmp_path, capsys):
    out = tmp_path / "roofline.json"
    assert main(["bench", "roofline", "--device", "cpu", "--json", str(out), "--args", TINY]) == 0
    data = json.loads(out.read_text())
    peaks, rows = data["peaks"], data["rows"]
    assert peaks["matmul_gflops"] > 0 and peaks["copy_gbs"] > 0
    assert data["ridge"] == pytest.approx(peaks["matmul_gflops"] / peaks["copy_gbs"])
    assert [r["path"] for r in rows] == TINY.split("--repeats")[0].split()[1:]
    for r in rows:
        assert r["gflops"] == pytest.approx(r["gflop"] / (r["ms"] / 1e3))
        assert r["bound"] == ("compute" if r["ai"] > data["ridge"] else "memory")
        roof = min(peaks["matmul_gflops"], r["ai"] * peaks["copy_gbs"])
        assert r["pct_roof"] == pytest.approx(100 * r["gflops"] / roof)
    sdpa, banded = rows[3], rows[4]
    assert sdpa["gflop"] == pytest.approx(4 * 2 * 64 * 64 * 8 / 1e9)  # 4·B·H·n²·Dh
    assert banded["gflop"] == pytest.approx(4 * 2 * 64 * 9 * 8 / 1e9)  # keys = 2w + 1
    assert "| path | size | ms |" in capsys.readouterr().out


def test_bench_local_attention_tiny(tmp_path, capsys):
    out = tmp_path / "local.json"
    args = ("--lengths 64 128 --windows 4 --bh 1 --head-dim 8 --repeats 1 --no-memory "
            "--sources 32 --hidden 8 --batch 2 --local-window 2 --decode-sources 12 "
            "--decode-steps 3")  # fmt: skip
    assert main(["bench", "local-attention", "--device", "cpu", "--json", str(out),
                 "--args", args]) == 0  # fmt: skip
    data = json.loads(out.read_text())
    assert {(r["impl"], r["n"]) for r in data["rows"]} == {
        (i, n) for i in ("banded", "sdpa", "efficient") for n in (64, 128)
    }
    assert set(data["slopes"]) == {"banded w=4", "sdpa", "efficient"}
    assert [r["impl"] for r in data["steps"]] == ["global", "local-p reference", "local-p window"]
    assert len(data["decode"]) == 3 and all(r["decode_ms"] > 0 for r in data["decode"])
    assert "Greedy decoding, untrained" in capsys.readouterr().out
