"""``seqattn train vectors``: word2vec vectors from unlabelled text, for ``--embeddings``.

The texts come from a registered dataset (``--dataset imdb --splits train,test``; labels are
not read) or from files (``--input a.csv b.txt``: a CSV/TSV/JSONL text column, or a ``.txt``
file with one text per line). They are tokenised as ``seqattn train classify`` and the
sentiment experiment tokenise, so the vectors match the classifier's vocabulary. See
:mod:`seqattn.data.word_vectors`.
"""

from __future__ import annotations

import argparse
import sys
import time

from seqattn.cli._groups import train_group

#: dataset -> {split: loader call}; texts only (labels are ignored)
DATASET_SPLITS = {
    "imdb": ("train", "test"),
    "sst2": ("train", "dev", "test"),
    "rt-polarity": ("all",),
    "vader-tweets": ("all",),
}


def _dataset_texts(name: str, splits: list[str]) -> list[str]:
    from seqattn.data import datasets as ds

    if name not in DATASET_SPLITS:
        raise ValueError(f"expected --dataset in {tuple(DATASET_SPLITS)}, got {name!r}")
    allowed = DATASET_SPLITS[name]
    splits = splits or [allowed[0]]
    bad = [s for s in splits if s not in allowed]
    if bad:
        raise ValueError(f"expected --splits from {allowed} for {name}, got {','.join(bad)}")
    texts: list[str] = []
    for split in splits:
        if name == "imdb":
            examples = ds.load_imdb(split)
        elif name == "sst2":
            examples = ds.load_sst2(split)
        elif name == "rt-polarity":
            examples = ds.load_rt_polarity()
        else:
            examples = ds.load_vader("tweets")
        texts += [ex.text for ex in examples]
    return texts


def _file_texts(path: str, text_col: str) -> list[str]:
    """The texts of one ``--input`` file: ``.txt`` (a text per line), ``.jsonl`` (the
    ``text_col`` field of each line's object) or a CSV/TSV table; errors name file:line."""
    from pathlib import Path

    suffix = Path(path).suffix.lower()
    if suffix not in (".txt", ".jsonl"):
        from seqattn.pipelines import read_text_examples

        return [ex.text for ex in read_text_examples(path, text_col, None)]
    from seqattn.pipelines.tables import _decode  # UTF-8 and NUL checks naming line:column

    text = _decode(Path(path).read_bytes(), Path(path))
    lines = [(n, line.strip()) for n, line in enumerate(text.split("\n"), start=1)
             if line.strip()]  # fmt: skip
    if suffix == ".txt":
        return [line for _, line in lines]
    return [_jsonl_text(line, f"{path}:{n}", text_col) for n, line in lines]


def _jsonl_text(line: str, where: str, text_col: str) -> str:
    import json

    try:
        row = json.loads(line)
    except json.JSONDecodeError as err:
        raise ValueError(f"expected a JSON object at {where}, got invalid JSON: {err}") from None
    if not isinstance(row, dict) or not isinstance(row.get(text_col), str):
        got = sorted(row) if isinstance(row, dict) else type(row).__name__
        raise ValueError(f"expected an object with a string {text_col!r} (--text-col) at "
                         f"{where}, got {got}")  # fmt: skip
    return row[text_col].strip()


def _cmd_train_vectors(args: argparse.Namespace) -> int:
    from seqattn.data import WordTokenizer
    from seqattn.data.word_vectors import save_vectors, train_word_vectors
    from seqattn.lock import file_lock

    if bool(args.dataset) == bool(args.input):
        print("seqattn train vectors: expected --dataset NAME or --input FILE..., got "
              + ("both" if args.dataset else "neither"), file=sys.stderr)  # fmt: skip
        return 2
    t0 = time.perf_counter()
    try:
        if args.dataset:
            splits = [s for s in (args.splits or "").split(",") if s]
            texts = _dataset_texts(args.dataset, splits)
            held_out = [s for s in splits if s in ("dev", "test")]
            if held_out:  # unlabelled text leaks too
                print(f"seqattn train vectors: note: these vectors have seen the {args.dataset} "
                      f"{'/'.join(held_out)} texts; do not use them for results on "
                      f"{args.dataset}'s {'/'.join(held_out)} split", file=sys.stderr)  # fmt: skip
        else:
            texts = [t for path in args.input for t in _file_texts(path, args.text_col)]
        tok = WordTokenizer(lowercase=not args.no_lowercase)
        with file_lock(args.out):  # one writer per vectors file
            vectors = train_word_vectors(
                (tok(t) for t in texts), dim=args.dim, method=args.method, window=args.window,
                min_count=args.min_count, negative=args.negative, epochs=args.epochs,
                workers=args.workers, seed=args.seed,
            )  # fmt: skip
            path = save_vectors(vectors, args.out)
    except (ValueError, OSError, ImportError) as err:
        print(f"seqattn train vectors: {err}", file=sys.stderr)
        return 2
    print(f"{len(texts):,} texts -> {len(vectors):,} words x {vectors.dim} "
          f"in {time.perf_counter() - t0:.0f} s: {path}")  # fmt: skip
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    tasks = train_group(sub)
    p = tasks.add_parser(
        "vectors",
        help="word2vec vectors from unlabelled text (for --embeddings)",
        description="Train word2vec vectors (gensim; pip install 'seqattn[vectors]') on a "
        "dataset's texts or your own, tokenised as `train classify` tokenises; writes the "
        "word2vec text format. See docs/practitioners.md.",
    )
    source = p.add_argument_group("texts (one of)")
    source.add_argument("--dataset", help=f"one of {', '.join(DATASET_SPLITS)} (labels unused)")
    source.add_argument("--input", nargs="+", metavar="FILE",
                        help="CSV/TSV/JSONL files (the --text-col column) or .txt files "
                        "(one text per line)")  # fmt: skip
    p.add_argument(
        "--splits",
        help="comma-separated splits of --dataset (default: the first: "
        + "; ".join(f"{k} {'|'.join(v)}" for k, v in DATASET_SPLITS.items())
        + ")",
    )
    p.add_argument("--text-col", default="text", help="text column of --input tables")
    p.add_argument("--out", default="vectors.txt", help="output file (default vectors.txt)")
    p.add_argument("--dim", type=int, default=300, help="vector size (default 300)")
    p.add_argument("--method", default="skipgram", choices=("skipgram", "cbow"))
    p.add_argument("--window", type=int, default=5, help="context words each side (default 5)")
    p.add_argument("--min-count", type=int, default=3, help="drop rarer words (default 3)")
    p.add_argument("--negative", type=int, default=10, help="negative samples (default 10)")
    p.add_argument("--epochs", type=int, default=5, help="passes over the texts (default 5)")
    p.add_argument("--workers", type=int, default=1,
                   help="threads (default 1: identical vectors run to run)")  # fmt: skip
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-lowercase", action="store_true", help="keep the texts' case")
    p.set_defaults(func=_cmd_train_vectors)
