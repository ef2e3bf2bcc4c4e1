"""Named files the doc-snippet test lays out before a snippet marked ``fixture=NAME`` runs.

They stand in for what a reader already has when the docs say "your CSV", "your model folder"
or "your parallel files"; each is small, made here from scratch (or copied from the project's
model-directory fixtures), and the same every run.
"""

from __future__ import annotations

import csv
import random
import shutil
import socket
import struct
import subprocess
import time
import zlib
from collections.abc import Callable
from pathlib import Path

from snippets import ROOT, Snippet, all_snippets, named

MODEL_DIRS = ROOT / "tests" / "fixtures" / "model_dirs" / "current"
GOOD = ["good", "great", "fine", "wonderful", "moving", "funny"]
BAD = ["bad", "dull", "awful", "boring", "weak", "silly"]
NOUNS = ["film", "plot", "movie", "cast", "story", "ending"]


def _reviews(n: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = "pos" if i % 2 else "neg"
        word = rng.choice(GOOD if label == "pos" else BAD)
        rows.append((f"the {rng.choice(NOUNS)} was {word} and {rng.choice(NOUNS)}", label))
    return rows


def reviews(cwd: Path) -> None:
    """data.csv / train.csv / reviews.csv (120 rows), dev.csv / valid.csv / test.csv (40 rows):
    ``text,label`` with string labels pos / neg; unlabelled.txt: one text per line."""
    for names, n, seed in (
        (("data", "train", "reviews"), 120, 0),
        (("dev", "valid", "test"), 40, 1),
    ):
        for name in names:
            with open(cwd / f"{name}.csv", "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["text", "label"])
                w.writerows(_reviews(n, seed))
    (cwd / "unlabelled.txt").write_text("\n".join(t for t, _ in _reviews(60, 2)) + "\n")


DE = {"ein": "a", "hund": "dog", "katze": "cat", "läuft": "runs", "schläft": "sleeps",
      "über": "over", "die": "the", "wiese": "meadow", "der": "the", "mann": "man"}  # fmt: skip


def parallel(cwd: Path) -> None:
    """train.de / train.en (200 pairs), val.de / val.en and test.de (20): word-for-word German
    to English sentences over a ten-word vocabulary; the same as a folder, corpus/ (train.*,
    valid.*, test.*, both languages)."""
    rng = random.Random(0)
    words = list(DE)
    (cwd / "corpus").mkdir()
    for split, n in (("train", 200), ("val", 20), ("test", 20)):
        src = [" ".join(rng.choice(words) for _ in range(rng.randint(3, 7))) for _ in range(n)]
        tgt = [_en(s) for s in src]
        (cwd / f"{split}.de").write_text("\n".join(src) + "\n")
        if split != "test":
            (cwd / f"{split}.en").write_text("\n".join(tgt) + "\n")
        folder_split = "valid" if split == "val" else split
        (cwd / "corpus" / f"{folder_split}.de").write_text("\n".join(src) + "\n")
        (cwd / "corpus" / f"{folder_split}.en").write_text("\n".join(tgt) + "\n")


def _en(de: str) -> str:
    return " ".join(DE[w] for w in de.split())


def models(cwd: Path) -> None:
    """Trained model folders (the project's fixtures): a classifier at model/ and
    runs/sst/model, a translator at de-en/, a captioner at captioner/."""
    shutil.copytree(MODEL_DIRS / "classifier" / "model", cwd / "model")
    shutil.copytree(MODEL_DIRS / "classifier" / "model", cwd / "runs" / "sst" / "model")
    shutil.copytree(MODEL_DIRS / "translator" / "model", cwd / "de-en")
    shutil.copytree(MODEL_DIRS / "captioner" / "model", cwd / "captioner")
    (cwd / "runs" / "sentiment").mkdir(parents=True)
    (cwd / "runs" / "sentiment" / "report.html").write_text("<html><body>a report</body></html>")
    (cwd / "runs" / "old").mkdir()
    (cwd / "runs" / "old" / "results.json").write_text("{}")


def text(cwd: Path) -> None:
    """my_text.txt: 2,000 lines (about 60 kB) of review-like English, for a language model."""
    (cwd / "my_text.txt").write_text("\n".join(t for t, _ in _reviews(2000, 3)) + "\n")


def translators(cwd: Path) -> None:
    """Two translator folders where `run translate` puts them: runs/plain/model and
    runs/bahdanau/model (copies of the project's fixture translator)."""
    for name in ("plain", "bahdanau"):
        shutil.copytree(MODEL_DIRS / "translator" / "model", cwd / "runs" / name / "model")


def _png(path: Path, width: int, height: int, seed: int) -> None:
    """An RGB PNG of seeded coloured noise, written with zlib alone (no Pillow needed)."""
    rng = random.Random(seed)
    raw = b"".join(
        b"\0" + bytes(rng.randrange(256) for _ in range(3 * width)) for _ in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    head = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", head)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def photos(cwd: Path) -> None:
    """Flicker8k_Dataset/ (8 PNG images, Flickr8k's folder name) with Flickr8k.token.txt (two
    captions each, Flickr8k's ``name#i<TAB>caption`` format), and photo1.jpg / photo2.png to
    caption (both PNG data; Pillow reads by content)."""
    images = cwd / "Flicker8k_Dataset"
    images.mkdir()
    lines = []
    for i in range(8):
        name = f"{1000 + i}_photo.jpg"
        _png(images / name, 24, 16, i)
        colour = ("red", "blue")[i % 2]
        lines += [f"{name}#0\tA {colour} square .", f"{name}#1\tThe {colour} block ."]
    (cwd / "Flickr8k.token.txt").write_text("\n".join(lines) + "\n")
    _png(cwd / "photo1.jpg", 24, 16, 20)
    _png(cwd / "photo2.png", 32, 20, 21)


def train_script(cwd: Path) -> None:
    """train.py: the docs snippet marked ``name=train.py`` (docs/training.md)."""
    found = named(all_snippets(), "train.py")
    if found is None:
        raise LookupError("no doc snippet is marked name=train.py")
    (cwd / "train.py").write_text(found.code)


FIXTURES: dict[str, Callable[[Path], None]] = {
    "reviews": reviews,
    "parallel": parallel,
    "models": models,
    "photos": photos,
    "text": text,
    "translators": translators,
    "train.py": train_script,
    "server": models,  # and a running `seqattn serve` (see serve below)
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(cwd: Path, env: dict[str, str], snippet: Snippet) -> tuple[subprocess.Popen, str]:
    """Start ``seqattn serve`` over the ``models`` fixture on a free port; the snippet's
    ``localhost:8000`` is pointed at it. Returns the process and the rewritten code."""
    port = free_port()
    models = ["--model", "runs/sst/model", "--model", "de-en", "--model", "captioner"]
    cmd = [str(ROOT / ".venv" / "bin" / "seqattn"), "serve", *models, "--runs", "runs"]
    cmd += ["--port", str(port)]
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"seqattn serve exited: {proc.stderr.read().decode()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError("seqattn serve did not listen within 60 s")
    return proc, snippet.code.replace("localhost:8000", f"localhost:{port}")
