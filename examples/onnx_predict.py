"""Run a classifier exported by ``seqattn export`` with onnxruntime alone (no seqattn, no torch).

Usage:
    python examples/onnx_predict.py MODEL_DIR "a good film" "the plot was bad"
    python examples/onnx_predict.py MODEL_DIR --json "a good film"   # every probability

MODEL_DIR is the folder of ``seqattn train classify`` after ``seqattn export MODEL_DIR``: it
holds ``model.onnx``, ``tokenizer.json``, ``vocab.json`` and ``config.json`` (the labels and
``max_length``). The tokenisation below is the model's own for the ``word`` tokenizer: drop
HTML line breaks, unescape HTML entities, lowercase (each as tokenizer.json says), split with
tokenizer.json's regular expression (Python's ``re``, as seqattn uses), map unknown words to
``<unk>``, keep the first ``max_length`` tokens. The ``bpe`` tokenizer is not reproduced here.
"""

from __future__ import annotations

import html
import json
import re
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

BR = re.compile(r"<\s*br\s*/?\s*>", re.IGNORECASE)
# seqattn's built-in token patterns (seqattn.data.tokenize.PATTERNS); tokenizer.json names one
# (older files hold its text). A regular expression from a file is never compiled.
PATTERNS = {"word": r"[^\W_]+(?:['’\-][^\W_]+)*|\S"}


def pattern(tok: dict) -> str:
    name = tok.get("pattern", "word")
    if name in PATTERNS:
        return PATTERNS[name]
    if name in PATTERNS.values():
        return name
    raise SystemExit(f"expected a built-in pattern {sorted(PATTERNS)}, got {name!r}")


def load(model_dir: Path):
    tok = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    if tok.get("kind") != "word":
        raise SystemExit(f"only the 'word' tokenizer is reproduced here, got {tok.get('kind')!r}")
    vocab = json.loads((model_dir / "vocab.json").read_text(encoding="utf-8"))
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    return tok, vocab, config


def tokenize(text: str, tok: dict) -> list[str]:
    if tok["html_breaks"]:
        text = BR.sub(" ", text)
    if tok["unescape_html"]:
        text = html.unescape(text)
    if tok["lowercase"]:
        text = text.lower()
    return re.findall(pattern(tok), text)


def encode(texts: list[str], tok: dict, vocab: dict, max_length: int):
    stoi = {t: i for i, t in enumerate(vocab["tokens"])}
    unk, pad = stoi[vocab["specials"]["unk"]], stoi[vocab["specials"]["pad"]]
    rows = []
    for text in texts:
        tokens = tokenize(text, tok)[:max_length]
        if not tokens:
            raise SystemExit(f"expected a non-empty text, got {text!r} (no tokens)")
        rows.append([stoi.get(t, unk) for t in tokens])
    width = max(len(r) for r in rows)
    ids = np.full((len(rows), width), pad, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=bool)
    for i, row in enumerate(rows):
        ids[i, : len(row)], mask[i, : len(row)] = row, True
    return ids, mask


def main(argv: list[str]) -> int:
    as_json = "--json" in argv
    args = [a for a in argv if a != "--json"]
    if len(args) < 2:
        print(__doc__)
        return 2
    model_dir, texts = Path(args[0]), args[1:]
    tok, vocab, config = load(model_dir)
    ids, mask = encode(texts, tok, vocab, config["model"]["max_length"])
    session = ort.InferenceSession(str(model_dir / "model.onnx"))
    (probs,) = session.run(["probs"], {"tokens": ids, "mask": mask})
    labels = config["labels"]
    for text, row in zip(texts, probs, strict=True):
        k = int(row.argmax())
        if as_json:
            print(
                json.dumps(
                    {"label": labels[k], "probs": dict(zip(labels, row.tolist(), strict=True))}
                )
            )
        else:
            print(f"{labels[k]}\t{row[k]:.4f}\t{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
