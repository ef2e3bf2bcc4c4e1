"""Sequence tagger with and without a CRF head on the synthetic entity language
(:mod:`seqattn.data.synthetic.tagging`), several seeds and training-set sizes.

For each training size, head and seed: test entity F1 (seqeval, conlleval mode), token
accuracy, the fraction of test sentences whose predicted tags are ill-formed IOB2 (an ``I-X``
after ``O`` or after another type: what a CRF's transition scores learn to forbid), epochs
run and training seconds (fit_tagger's wall time, validation included, after a warm-up fit
that loads seqeval and the recurrent extension). Prints a Markdown table of mean ± std over
the seeds; ``--json`` writes every run. The data are fixed (train seed 0, valid seed 1, test
seed 2); the seed draws the initialisation and the data order.

    python benchmarks/tagging_synthetic.py                    # sizes 150 300 1000, seeds 0 1 2
    python benchmarks/tagging_synthetic.py --sizes 300 --seeds 0 1 --json runs.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time

import torch

from seqattn.data.synthetic import synthetic_tagging
from seqattn.models import TaggerConfig
from seqattn.pipelines import TaggerTrainConfig, fit_tagger


def ill_formed(tags: list[str]) -> bool:
    """An ``I-X`` that does not continue a ``B-X`` / ``I-X`` (invalid in IOB2)."""
    prev = "O"
    for tag in tags:
        if tag.startswith("I-") and prev[2:] != tag[2:]:
            return True
        prev = tag
    return False


def run_one(train, valid, test, crf: bool, seed: int, args) -> dict:
    model = TaggerConfig(vocab_size=1, embed_dim=args.dim, hidden_size=args.dim, dropout=0.1,
                         crf=crf)  # fmt: skip
    cfg = TaggerTrainConfig(model=model, epochs=args.epochs, lr=args.lr, seed=seed)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        bundle = fit_tagger(train, valid, cfg, out)
        seconds = time.perf_counter() - started
        summary = json.loads((bundle.path / "train_summary.json").read_text())
    scores = bundle.evaluate(test)
    pred = bundle.predict([s.tokens for s in test])
    return {
        "crf": crf, "seed": seed, "train_size": len(train),
        "entity_f1": scores["entity"]["f1"], "token_accuracy": scores["token_accuracy"],
        "ill_formed": sum(map(ill_formed, pred)) / len(pred),
        "epochs_run": summary["epochs_run"], "seconds": seconds,
    }  # fmt: skip


def _ms(values: list[float], fmt: str) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{format(statistics.mean(values), fmt)} ± {format(sd, fmt)}"


def table(runs: list[dict]) -> str:
    lines = ["| train sentences | head | test entity F1 | token accuracy | ill-formed sentences "
             "| epochs | train s |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for size in sorted({r["train_size"] for r in runs}):
        for crf in (True, False):
            rs = [r for r in runs if r["train_size"] == size and r["crf"] == crf]
            head = "crf" if crf else "softmax"
            lines.append(
                f"| {size} | {head} | {_ms([r['entity_f1'] for r in rs], '.4f')} "
                f"| {_ms([r['token_accuracy'] for r in rs], '.4f')} "
                f"| {_ms([r['ill_formed'] for r in rs], '.3f')} "
                f"| {_ms([r['epochs_run'] for r in rs], '.1f')} "
                f"| {_ms([r['seconds'] for r in rs], '.1f')} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[150, 300, 1000])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--dim", type=int, default=32, help="embed_dim = hidden_size")
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", help="write every run here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import seqeval.metrics  # noqa: F401  (its import, ~4 s with scikit-learn, is not training)

    valid, test = synthetic_tagging(200, seed=1), synthetic_tagging(1000, seed=2)
    runs = []
    for size in args.sizes:
        train = synthetic_tagging(size, seed=0)
        for crf in (True, False):
            for seed in args.seeds:
                runs.append(run_one(train, valid, test, crf, seed, args))
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{args.threads} thread(s); epochs {args.epochs}, dim {args.dim}, lr {args.lr}, "
          f"seeds {args.seeds}; valid 200, test 1000 sentences")  # fmt: skip
    print(table(runs))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(runs, f, indent=1)


if __name__ == "__main__":
    main()
