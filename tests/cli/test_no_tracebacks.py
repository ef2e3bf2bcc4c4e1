"""No traceback at the default log level for any input, folder or signal; tracebacks under -v.

Bad input ends with one line on stderr and exit code 2; Ctrl-C with "interrupted; resume with
--resume" and exit code 130, the checkpoints intact; anything unexpected with one line "internal
error: <type>: <message>; run with -v for the traceback" and exit code 1.
"""

from __future__ import annotations

import csv
import os
import pickle
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors import SafetensorError

from seqattn.cli.main import main
from seqattn.training import checkpoint as ckpt_mod
from seqattn.training import list_checkpoints, load_checkpoint

TINY_CLASSIFY = ["--encoder", "gru", "--embed-dim", "8", "--hidden-size", "8", "--dropout", "0",
                 "--lr", "0.02"]  # fmt: skip
TINY_TRANSLATE = ["--subword", "word", "--min-freq", "1", "--embed-dim", "8", "--hidden-size",
                  "8", "--epochs", "1", "--batch-size", "2"]  # fmt: skip


def _rows(path: Path, n: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    words = ["the", "a", "movie", "film", "plot", "was", "is", "very"]
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for _ in range(n):
            label = rng.choice(["pos", "neg"])
            text = [rng.choice(words) for _ in range(6)] + ["good" if label == "pos" else "bad"]
            w.writerow([" ".join(text), label])
    return str(path)


# -- the cases of issue 20, item 5 ------------------------------------------------------------


def test_train_translate_non_utf8_names_file_line_column(tmp_path, capsys, one_line):
    src, tgt = tmp_path / "train.de", tmp_path / "train.en"
    src.write_bytes(b"ein Hund .\nein Mann .\nda ist ein caf\xe9 hier .\n")
    tgt.write_text("a dog .\na man .\nthere is a cafe here .\n", encoding="utf-8")
    code = main(["train", "translate", "--src-train", str(src), "--tgt-train", str(tgt),
                 "--out", str(tmp_path / "m"), *TINY_TRANSLATE])  # fmt: skip
    assert code == 2
    line = one_line()
    assert f"{src}" in line and "0xe9 at line 3, column 15" in line
    assert not (tmp_path / "m" / "model.safetensors").exists()


def _evil_planetoid(root: Path, name: str = "cora") -> Path:
    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {root / 'pwned'}",))

    folder = root / "planetoid"
    folder.mkdir(parents=True)
    for part in ("x", "y", "tx", "ty", "allx", "ally", "graph"):
        (folder / f"ind.{name}.{part}").write_bytes(pickle.dumps(Evil(), protocol=2))
    (folder / f"ind.{name}.test.index").write_text("1\n2\n")
    return folder


def test_run_gat_refused_pickle_is_one_line(tmp_path, monkeypatch, capsys, one_line):
    folder = _evil_planetoid(tmp_path / "data")
    monkeypatch.setenv("SEQATTN_DATA_DIR", str(tmp_path / "data"))
    code = main(["run", "gat", "--quick", "--dataset", "cora", "--out", str(tmp_path / "out")])
    assert code == 2
    line = one_line()
    assert line.startswith("seqattn run gat: ") and str(folder / "ind.cora.x") in line
    assert "refusing to load" in line
    assert not (tmp_path / "data" / "pwned").exists()


def test_disk_full_during_training_checkpoint(tmp_path, monkeypatch, capsys, one_line):
    real, calls = ckpt_mod.save_file, []

    def full_after_first_checkpoint(tensors, filename, *args, **kwargs):
        calls.append(filename)
        if len(calls) > 3:  # a checkpoint writes three safetensors files
            raise SafetensorError(
                "Error while serializing: I/O error: No space left on device (os error 28)"
            )
        return real(tensors, filename, *args, **kwargs)

    monkeypatch.setattr(ckpt_mod, "save_file", full_after_first_checkpoint)
    out = tmp_path / "model"
    code = main(["train", "classify", "--train", _rows(tmp_path / "t.csv", 40), "--out", str(out),
                 "--epochs", "3", *TINY_CLASSIFY])  # fmt: skip
    assert code == 2
    line = one_line()
    assert line.startswith("seqattn train classify: ")
    assert str(out / "checkpoints") in line and "no space left" in line
    monkeypatch.undo()
    ckpts = out / "checkpoints"
    assert [p.name.endswith(".tmp") for p in ckpts.iterdir()] == [False] * 2  # latest + one
    assert len(list_checkpoints(ckpts)) == 1
    assert load_checkpoint(ckpts).path == list_checkpoints(ckpts)[0]  # the previous one, intact


@pytest.mark.parametrize(
    "argv, target, hint",
    [
        (["run", "sentiment", "--quick"], "seqattn.experiments.run_experiment", ""),
        (["train", "translate", "--src-train", "a", "--tgt-train", "b"],
         "seqattn.pipelines.translation.read_parallel", "; resume with --resume"),
    ],
)  # fmt: skip
def test_ctrl_c_is_one_line_and_exit_130(
    tmp_path, monkeypatch, capsys, argv, target, hint, one_line
):
    module, name = target.rsplit(".", 1)

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(__import__(module, fromlist=[name]), name, interrupt)
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 130
    line = one_line()
    assert line.endswith(f": interrupted{hint}") and line.startswith("seqattn ")


def test_internal_error_one_line_traceback_under_v(tmp_path, monkeypatch, capsys, one_line):
    def bug(*args, **kwargs):
        raise RuntimeError("something nobody foresaw\nsecond line")

    monkeypatch.setattr("seqattn.experiments.run_experiment", bug)
    monkeypatch.chdir(tmp_path)
    assert main(["run", "sentiment", "--quick"]) == 1
    line = one_line()
    assert line == (
        "seqattn run sentiment: internal error: RuntimeError: something nobody foresaw ...; "
        "run with -v for the traceback"
    )
    assert main(["-v", "run", "sentiment", "--quick"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "second line" in err
    assert "internal error: RuntimeError" in err


# -- a scan of bad inputs across the commands ---------------------------------------------------


def _train_translate(src: Path, tgt: Path, out: Path) -> list[str]:
    return ["train", "translate", "--src-train", str(src), "--tgt-train", str(tgt), "--out",
            str(out)]  # fmt: skip


def _bad_inputs(tmp: Path) -> list[list[str]]:
    good = _rows(tmp / "good.csv", 20)
    latin1 = tmp / "latin1.csv"
    latin1.write_bytes(b"text,label\ncaf\xe9 good,pos\n")
    one, two = tmp / "one.de", tmp / "two.en"
    one.write_text("a b .\n")
    two.write_text("x y .\nz .\n")
    empty_model = tmp / "empty_model"
    empty_model.mkdir()
    bad_yaml = tmp / "bad.yaml"
    bad_yaml.write_text("seeds: [1, 2\n")
    cp1252 = tmp / "cp1252.de"
    cp1252.write_bytes(b"caf\xe9 .\n")
    _evil_planetoid(tmp / "data", "citeseer")  # and no cora
    return [
        ["run", "gat", "--quick", "--dataset", "citeseer", "--out", str(tmp / "gat2")],
        _train_translate(cp1252, one, tmp / "m0"),
        ["run", "no-such-experiment"],
        ["run", "sentiment", "--quick", "--set", "no_such_key=1"],
        ["run", "sentiment", "--quick", "--config", str(tmp / "missing.yaml")],
        ["run", "sentiment", "--quick", "--config", str(bad_yaml)],
        ["run", "gat", "--quick", "--dataset", "cora", "--out", str(tmp / "gat")],  # no data
        ["train", "classify", "--train", str(tmp / "missing.csv"), "--out", str(tmp / "m1")],
        ["train", "classify", "--train", str(latin1), "--out", str(tmp / "m2")],
        ["train", "classify", "--train", good, "--text-col", "nope", "--out", str(tmp / "m3")],
        _train_translate(one, two, tmp / "m4"),
        ["translate", "--model", str(tmp / "no_model"), "hello"],
        ["predict", "--model", str(tmp / "no_model"), "hello"],
        ["predict", "--model", str(empty_model), "hello"],
        ["caption", str(tmp / "missing.jpg"), "--model", str(empty_model)],
        ["data", "info", "no-such-dataset"],
    ]


def test_bad_inputs_never_print_a_traceback(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SEQATTN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    for argv in _bad_inputs(tmp_path):
        code = main(argv)
        err = capsys.readouterr().err
        assert "Traceback" not in err, (argv, err)
        assert code == 2, (argv, code, err)
        assert err.strip(), argv


# -- a real SIGINT --------------------------------------------------------------------------------


def test_sigint_during_training_then_resume(tmp_path):
    out = tmp_path / "model"
    argv = [sys.executable, "-m", "seqattn.cli.main", "train", "classify", "--train",
            _rows(tmp_path / "t.csv", 400), "--out", str(out), "--epochs", "4",
            *TINY_CLASSIFY]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 120
    while not (out / "checkpoints" / "latest").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no checkpoint within 120 s"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    err = err.decode()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == (
        "seqattn train classify: interrupted; resume with --resume"
    )
    ckpts = out / "checkpoints"
    assert not [p for p in ckpts.iterdir() if p.name.endswith(".tmp")]
    step = load_checkpoint(ckpts).step  # intact
    assert not (out / "model.safetensors").exists()
    resumed = subprocess.run([*argv, "--resume"], capture_output=True, env=env, timeout=180)
    assert resumed.returncode == 0, resumed.stderr.decode()
    assert load_checkpoint(ckpts).step > step
    assert (out / "model.safetensors").is_file()


def test_closed_stdout_pipe_is_quiet():
    """`seqattn data list | head -0`: the reader is gone before the output is written."""
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run([sys.executable, "-m", "seqattn.cli.main", "data", "list"],
                              stdout=write, stderr=subprocess.PIPE, timeout=60)  # fmt: skip
    finally:
        os.close(write)
    assert proc.returncode == 1
    assert proc.stderr == b""  # neither a traceback nor "Exception ignored ... BrokenPipeError"
