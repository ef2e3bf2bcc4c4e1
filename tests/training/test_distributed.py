"""Multi-process training: 2 gloo processes under torchrun equal one process with the same
global batch; only rank 0 writes; the set-up helpers are no-ops in a plain process."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from seqattn.training import (
    DistInfo,
    all_reduce_mean,
    barrier,
    broadcast_object,
    cleanup,
    get_world_size,
    init_distributed,
    is_main_process,
    load_checkpoint,
)

SCRIPT = Path(__file__).with_name("_ddp_script.py")
TORCHRUN_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def _script():
    spec = importlib.util.spec_from_file_location("_ddp_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _metrics(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()),
    reason="torch.distributed with the gloo backend is not available in this torch build",
)
def test_two_gloo_processes_equal_one_process_with_the_global_batch(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in TORCHRUN_ENV}
    env["OMP_NUM_THREADS"] = "1"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(SCRIPT), str(tmp_path / "ddp")]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-4000:]

    _script().run_single(tmp_path / "single")

    reports = [json.loads((tmp_path / "ddp" / f"report-rank{r}.json").read_text()) for r in (0, 1)]
    assert [(r["rank"], r["world_size"], r["backend"], r["is_main"]) for r in reports] == [
        (0, 2, "gloo", True), (1, 2, "gloo", False)]  # fmt: skip
    for r in reports:
        assert "multiple of the world size 2, got 9" in r["batch_error"]
        assert r["step"] == 9  # 3 epochs x ceil(6 batches / grad_accum 2)

    single = load_checkpoint(tmp_path / "single" / "checkpoints")
    ddp = load_checkpoint(tmp_path / "ddp" / "run" / "checkpoints")
    assert single.step == ddp.step == 9
    assert single.model.keys() == ddp.model.keys()
    for name, ref in single.model.items():
        assert ref.dtype == torch.float64
        torch.testing.assert_close(ddp.model[name], ref, rtol=1e-9, atol=1e-11, msg=name)
    # training moved the weights: the comparison is not between two untouched inits
    torch.manual_seed(0)  # the init both runs started from
    init = _script().Tagger().double().state_dict()
    assert not torch.allclose(single.model["head.weight"], init["head.weight"])

    # only rank 0 wrote: rank 1's phase-1 folder was never created, and the shared folder
    # holds one metric line per step and per validation (two writers would double them)
    assert not (tmp_path / "ddp" / "rank1-private").exists()
    assert (tmp_path / "ddp" / "run" / "best.safetensors").exists()
    lines, ref_lines = _metrics(tmp_path / "ddp" / "run" / "metrics.jsonl"), _metrics(
        tmp_path / "single" / "metrics.jsonl")  # fmt: skip
    assert [(m["step"], sorted(m)) for m in lines] == [(m["step"], sorted(m)) for m in ref_lines]
    for got, want in zip(lines, ref_lines, strict=True):  # the global loss, not rank 0's share
        for key in ("loss", "val_loss", "val_acc"):
            if key in want:
                assert got[key] == pytest.approx(want[key], rel=1e-9), (got["step"], key)
        if "loss" in want:
            assert got["examples_per_s"] > 0 and got["items_per_s"] > got["examples_per_s"]


def test_single_process_helpers_are_no_ops(monkeypatch):
    for name in TORCHRUN_ENV:
        monkeypatch.delenv(name, raising=False)
    info = init_distributed()
    assert info == DistInfo(device=info.device) and info.is_main and info.backend is None
    assert get_world_size() == 1 and is_main_process()
    x = torch.tensor([1.0, 3.0])
    assert torch.equal(all_reduce_mean(x), x) and all_reduce_mean(x) is not x
    assert broadcast_object(["a"]) == ["a"]
    barrier()
    cleanup()


@pytest.mark.parametrize(
    ("env", "match"),
    [
        ({"RANK": "x", "WORLD_SIZE": "2"}, "expected environment variable RANK"),
        ({"RANK": "2", "WORLD_SIZE": "2"}, r"expected 0 <= RANK < WORLD_SIZE, got RANK=2"),
        ({"RANK": "0", "WORLD_SIZE": "2"}, "expected MASTER_ADDR and MASTER_PORT"),
    ],
)
def test_bad_torchrun_environment_is_reported(monkeypatch, env, match):
    for name in TORCHRUN_ENV:
        monkeypatch.delenv(name, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ValueError, match=match):
        init_distributed()
    with pytest.raises(ValueError, match="expected backend 'gloo', 'nccl' or None, got 'mpi'"):
        init_distributed(backend="mpi")
    with pytest.raises(TypeError, match="expected a floating-point torch.Tensor"):
        all_reduce_mean(torch.tensor([1, 2]))
