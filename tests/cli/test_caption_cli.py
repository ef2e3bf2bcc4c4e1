"""``seqattn train caption`` / ``seqattn caption`` on small generated PNGs, and every bad input."""

from __future__ import annotations

import json

import matplotlib.image
import numpy as np
import pytest

from seqattn.cli.main import main

_COLOURS = {"red": (1.0, 0.0, 0.0), "green": (0.0, 1.0, 0.0), "blue": (0.0, 0.0, 1.0)}


def _scene(path, left: str, right: str, h: int = 8, w: int = 16):
    """A left and a right square of two colours on black; caption 'left right'."""
    arr = np.zeros((h, w, 3))
    arr[2:6, 1:7] = _COLOURS[left]
    arr[2:6, 9:15] = _COLOURS[right]
    matplotlib.image.imsave(path, arr)


@pytest.fixture
def captioned(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    lines = []
    names = list(_COLOURS)
    k = 0
    for a in names:
        for b in names:
            _scene(images / f"im{k}.png", a, b)
            lines.append(f"im{k}.png#0\t{a.title()} then {b} .")
            lines.append(f"im{k}.png#1\t{a.upper()} then {b}.")  # the same words
            k += 1
    cap = tmp_path / "Flickr8k.token.txt"
    cap.write_text("\n".join(lines) + "\n")
    return tmp_path, images, cap


_FAST = ["--epochs", "40", "--batch-size", "9", "--channels", "8", "8", "--num-pools", "2",
         "--embed-dim", "16", "--hidden-size", "32", "--attn-dim", "16", "--dropout", "0",
         "--lr", "1e-2", "--alpha-c", "0"]  # fmt: skip


def _train(images, cap, out, epochs: int) -> int:
    fast = [*_FAST]
    fast[1] = str(epochs)
    return main(["train", "caption", "--images", str(images), "--captions", str(cap),
                 "--out", str(out), *fast])  # fmt: skip


def test_train_writes_a_model_directory_and_caption_prints(captioned, capsys):
    tmp_path, images, cap = captioned
    out = tmp_path / "model"
    assert _train(images, cap, out, epochs=2) == 0
    printed = capsys.readouterr().out
    assert "9 images 8x16x3, 18 captions" in printed and f"model: {out}" in printed
    assert {p.name for p in out.iterdir()} == {"model.safetensors", "config.json", "vocab.json",
                                               "tokenizer.json", "manifest.json"}  # fmt: skip
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["format"], manifest["version"], manifest["kind"]) == (
        "seqattn.model-dir", 1, "captioner")  # fmt: skip
    assert sorted(manifest["files"]) == ["config.json", "model.safetensors", "tokenizer.json",
                                         "vocab.json"]  # fmt: skip
    config = json.loads((out / "config.json").read_text())
    assert config["image"] == {"height": 8, "width": 16, "channels": 3}
    assert "then" in (out / "vocab.json").read_text()
    assert main(["caption", "--model", str(out), str(images / "im1.png"), str(images / "im5.png"),
                 "--attention", str(tmp_path / "att")]) == 0  # fmt: skip
    lines = capsys.readouterr().out.strip("\n").split("\n")
    assert [line.split("\t")[0] for line in lines] == [str(images / "im1.png"),
                                                       str(images / "im5.png")]  # fmt: skip
    words = {w for line in lines for w in line.split("\t")[1].split()}
    assert words <= {"red", "green", "blue", "then", ".", "<unk>"}


@pytest.mark.slow
def test_train_then_caption_learns_the_scenes(captioned, capsys):
    tmp_path, images, cap = captioned
    out = tmp_path / "model"
    assert _train(images, cap, out, epochs=40) == 0
    capsys.readouterr()
    assert main(["caption", "--model", str(out), str(images / "im1.png"), str(images / "im5.png"),
                 "--attention", str(tmp_path / "att")]) == 0  # fmt: skip
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == [f"{images / 'im1.png'}\tred then green .",
                     f"{images / 'im5.png'}\tgreen then blue ."]  # fmt: skip
    assert (tmp_path / "att" / "im1_attention.png").is_file()
    # beam search gives the same captions on this easy task
    assert main(["caption", "--model", str(out), "--beam", "3", str(images / "im1.png")]) == 0
    assert capsys.readouterr().out.strip() == f"{images / 'im1.png'}\tred then green ."


def _fails(argv, capsys, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert "Traceback" not in err


def test_bad_training_inputs(captioned, capsys):
    tmp_path, images, cap = captioned
    out = tmp_path / "model"
    base = ["train", "caption", "--images", str(images), "--out", str(out), *_FAST]
    cap.write_text("im0.png#0\tRed then red .\nnope.png#0\tA cat\n")
    _fails([*base, "--captions", str(cap)], capsys, f"{cap}:2: expected the image nope.png")
    cap.write_text("im0.png#0\tRed then red .\nim1.png#0\t \n")
    _fails([*base, "--captions", str(cap)], capsys, f"{cap}:2: expected a non-empty caption")
    _scene(images / "wide.png", "red", "red", w=24)
    cap.write_text("im0.png#0\tRed then red .\nwide.png#0\tRed red\n")
    _fails([*base, "--captions", str(cap)], capsys, "wide.png (named at")
    _fails([*base, "--captions", str(cap)], capsys, "expected a 8x16 (HxW) image, got 8x24")
    from PIL import Image

    Image.fromarray(np.zeros((8, 16), dtype=np.uint8), mode="L").save(images / "grey.png")
    cap.write_text("im0.png#0\tRed then red .\ngrey.png#0\tdark\n")
    _fails([*base, "--captions", str(cap)], capsys, "expected 3 channel(s), got 1")
    cap.write_text("im0.png#0\tRed then red .\n")
    _fails([*base, "--captions", str(cap), "--num-pools", "4"], capsys,
           "expected image height and width divisible by 16")  # fmt: skip
    assert not out.exists()  # no model directory after any failure
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".model")]


def test_bad_caption_inputs(captioned, capsys):
    tmp_path, images, cap = captioned
    out = tmp_path / "model"
    cap.write_text("im0.png#0\tred then red\nim4.png#0\tgreen then green\n")
    assert _train(images, cap, out, epochs=1) == 0  # only the file checks matter here
    capsys.readouterr()
    _scene(tmp_path / "wide.png", "red", "red", w=24)
    _fails(["caption", "--model", str(out), str(tmp_path / "wide.png")], capsys,
           "expected a 8x16 (HxW) image as the model was trained on, got 8x24")  # fmt: skip
    assert main(["caption", "--model", str(out), "--resize", str(tmp_path / "wide.png")]) == 0
    capsys.readouterr()
    _fails(["caption", "--model", str(out), str(tmp_path / "none.png")], capsys,
           "no such file")  # fmt: skip
    _fails(["caption", "--model", str(tmp_path), str(images / "im0.png")], capsys,
           "expected a captioner directory")  # fmt: skip
    (out / "vocab.json").write_text("{}")
    _fails(["caption", "--model", str(out), str(images / "im0.png")], capsys,
           "to match the sha256")  # fmt: skip


def test_train_group_keeps_classify():
    from seqattn.cli.main import build_parser

    parser = build_parser()
    args = parser.parse_args(["train", "classify", "--train", "x.csv"])
    assert args.train == "x.csv"
    args = parser.parse_args(["train", "caption", "--images", "d", "--captions", "c"])
    assert args.images == "d" and args.out == "captioner"


def test_train_into_a_locked_folder_exits_2_naming_the_holder(captioned, capsys):
    import os

    from seqattn.lock import LOCK_NAME, folder_lock

    tmp_path, images, cap = captioned
    out = tmp_path / "conc"
    with folder_lock(out):  # another training holds the folder
        assert _train(images, cap, out, epochs=1) == 2
    err = capsys.readouterr().err
    assert f"pid {os.getpid()}" in err and "Traceback" not in err
    assert not out.exists()  # the folder made only for the lock went with it
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("mine")
    assert _train(images, cap, tmp_path / "notes", epochs=1) == 2  # refused before training
    assert "expected --out to be new or a model directory" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "notes").iterdir()) == ["todo.txt"]
    assert _train(images, cap, out, epochs=1) == 0
    assert not (out / LOCK_NAME).exists()
