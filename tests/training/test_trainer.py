"""Trainer and checkpoints: exact resume after SIGKILL, atomic writes, corruption handling."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from seqattn.training import (
    CheckpointError,
    Trainer,
    TrainerConfig,
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
)

SCRIPT = Path(__file__).with_name("_train_script.py")


def _run(out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(SCRIPT), str(out), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip


def _final_weights(out: Path) -> dict[str, torch.Tensor]:
    ckpt = load_checkpoint(out / "checkpoints")
    assert ckpt.step == 48  # 4 epochs x 12 batches
    return ckpt.model


def test_sigkill_then_resume_is_bit_identical(tmp_path):
    full = tmp_path / "full"
    assert _run(full).wait(timeout=300) == 0
    reference = _final_weights(full)

    crashed = tmp_path / "crashed"
    proc = _run(crashed, "--delay", "0.05")
    deadline = time.time() + 120
    while time.time() < deadline:  # kill it mid-epoch, after a checkpoint has landed
        done = [
            p for p in list_checkpoints(crashed / "checkpoints") if (p / "MANIFEST.json").exists()
        ]
        if done and int(done[-1].name.split("-")[1]) >= 15:
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    killed_at = load_checkpoint(crashed / "checkpoints").step
    assert 15 <= killed_at < 48

    assert _run(crashed, "--resume").wait(timeout=300) == 0
    resumed = _final_weights(crashed)
    assert resumed.keys() == reference.keys()
    for name in reference:
        assert torch.equal(resumed[name], reference[name]), f"{name} differs after resume"
    steps = [
        json.loads(line)["step"] for line in (crashed / "metrics.jsonl").read_text().splitlines()
    ]
    assert steps == sorted(steps) and len(steps) == len(set(steps)) == 48


def _tiny():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    return model, opt


def test_checkpoint_roundtrip_and_pruning(tmp_path):
    model, opt = _tiny()
    for step in (1, 2, 3):
        save_checkpoint(tmp_path, step, model, opt, {"vocab": ["a", "b"]}, keep_last=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-00000002", "step-00000003"]
    ckpt = load_checkpoint(tmp_path)
    assert ckpt.step == 3 and ckpt.state["vocab"] == ["a", "b"]
    fresh, fresh_opt = torch.nn.Linear(3, 2), torch.optim.Adam(torch.nn.Linear(3, 2).parameters())
    fresh_opt = torch.optim.Adam(fresh.parameters(), lr=0.1)
    ckpt.restore(fresh, fresh_opt)
    assert torch.equal(fresh.weight, model.weight)
    s1, s2 = opt.state_dict(), fresh_opt.state_dict()
    for pid in s1["state"]:
        for k, v in s1["state"][pid].items():
            assert torch.equal(torch.as_tensor(v), torch.as_tensor(s2["state"][pid][k])), k
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary leftovers


def test_rng_state_is_restored(tmp_path):
    model, opt = _tiny()
    torch.manual_seed(5)
    save_checkpoint(tmp_path, 1, model, opt)
    a = torch.rand(3)
    torch.manual_seed(99)
    load_checkpoint(tmp_path).restore(model, opt)
    assert torch.equal(torch.rand(3), a)


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete_manifest"])
def test_corrupted_latest_falls_back_to_last_good(tmp_path, damage, caplog):
    model, opt = _tiny()
    save_checkpoint(tmp_path, 1, model, opt, keep_last=3)
    save_checkpoint(tmp_path, 2, model, opt, keep_last=3)
    bad = tmp_path / "step-00000002"
    target = bad / "model.safetensors"
    if damage == "truncate":
        target.write_bytes(target.read_bytes()[:-7])
    elif damage == "flip":
        raw = bytearray(target.read_bytes())
        raw[-1] ^= 0xFF
        target.write_bytes(bytes(raw))
    else:
        (bad / "MANIFEST.json").unlink()
    ckpt = load_checkpoint(tmp_path)
    assert ckpt.step == 1
    assert "step-00000002" in caplog.text
    with pytest.raises(CheckpointError, match="step-00000002"):
        load_checkpoint(bad)


def test_no_usable_checkpoint_names_every_file(tmp_path):
    model, opt = _tiny()
    save_checkpoint(tmp_path, 1, model, opt)
    (tmp_path / "step-00000001" / "state.json").write_text("{")
    with pytest.raises(CheckpointError, match=r"step-00000001.*state\.json"):
        load_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match="no checkpoint in"):
        load_checkpoint(tmp_path / "empty")


def test_files_are_safetensors_and_json_only(tmp_path):
    model, opt = _tiny()
    path = save_checkpoint(tmp_path, 7, model, opt)
    assert sorted(p.name for p in path.iterdir()) == [
        "MANIFEST.json", "model.safetensors", "optimizer.json", "optimizer.safetensors",
        "rng.safetensors", "state.json",
    ]  # fmt: skip
    assert set(load_file(str(path / "model.safetensors"))) == {"weight", "bias"}


def test_early_stopping_and_grad_accumulation(tmp_path):
    torch.manual_seed(0)
    data = [(torch.randn(3), torch.tensor(1.0)) for _ in range(16)]
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)  # lr 0: validation never improves

    def loss_fn(m, batch):
        x = torch.stack([a for a, _ in batch])
        y = torch.stack([b for _, b in batch])
        return ((m(x).squeeze(-1) - y) ** 2).mean(), len(batch)

    calls = []
    cfg = TrainerConfig(max_epochs=20, batch_size=4, grad_accum=2, patience=2, log_every=1)
    trainer = Trainer(model, opt, loss_fn, data, cfg, tmp_path, val_fn=lambda m: calls.append(1)
                      or {"val_loss": 1.0})  # fmt: skip
    result = trainer.fit()
    assert len(calls) == 3  # best at epoch 1, then 2 bad epochs
    assert result["epoch"] == 3 and result["step"] == 3 * 2  # 4 batches / 2 per step
    assert (tmp_path / "best.safetensors").exists()
    with pytest.raises(ValueError, match="expected grad_accum to be a positive int"):
        TrainerConfig(grad_accum=0)


def test_batch_sampler_drives_the_epochs(tmp_path):
    from seqattn.data import BucketBatchSampler

    lengths = [1 + (7 * i) % 23 for i in range(40)]
    data = [(torch.ones(n), torch.tensor(float(n))) for n in lengths]
    seen: list[list[int]] = []
    model = torch.nn.Linear(1, 1)

    def loss_fn(m, batch):
        seen.append([len(x) for x, _ in batch])
        x = torch.stack([x.sum(0, keepdim=True) for x, _ in batch])
        y = torch.stack([y for _, y in batch])
        return ((m(x).squeeze(-1) - y) ** 2).mean(), len(batch)

    sampler = BucketBatchSampler(lengths, batch_size=5, pool_batches=8, seed=1)
    cfg = TrainerConfig(max_epochs=2, batch_size=5)
    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=1e-3), loss_fn, data, cfg,
                      tmp_path, batch_sampler=sampler)  # fmt: skip
    assert trainer.batches_per_epoch() == 8
    trainer.fit()
    # the sampler's batches, epoch by epoch: each holds similar lengths, all 40 examples once
    expected = [[lengths[i] for i in b] for e in (0, 1) for b in sampler.batches(e)]
    assert seen == expected
    assert sorted(n for b in seen[:8] for n in b) == sorted(lengths)
    with pytest.raises(TypeError, match="batches"):
        Trainer(model, torch.optim.SGD(model.parameters(), lr=0.1), loss_fn, data, cfg,
                tmp_path, batch_sampler=[[0, 1]])  # fmt: skip
