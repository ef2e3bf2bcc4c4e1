"""``seqattn train classify``, ``seqattn predict``, ``seqattn export``: the practitioner path.

Thin wrappers over :mod:`seqattn.pipelines`; the library raises, this module prints. Bad input
(a missing column, a ragged row, bytes that are not UTF-8, an empty text, an unknown label)
ends with ``seqattn <command>: <message>`` on stderr and exit code 2, and no output file.
torch is imported only when a command runs, so ``seqattn --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys

from seqattn._registry import LazyNames
from seqattn.cli._groups import (
    add_model_io,
    add_run_flags,
    add_train_config,
    check_inputs,
    guarded,
    option_changes,
    resolve_train_config,
    tensorboard_logger,
    train_group,
)

# The registries themselves (seqattn.models.ENCODERS / HEADS), read only when a value is checked
# or --help printed: the CLI imports no torch at parse time.
ENCODER_CHOICES = LazyNames("seqattn.models.classifier:ENCODERS")
HEAD_CHOICES = LazyNames("seqattn.models.classifier:HEADS")
FORMAT_CHOICES = ("onnx", "torchscript")


# -- train classify ---------------------------------------------------------------------------
_ENCODER_HELP = ENCODER_CHOICES.help("encoder, one of {} (default bilstm)")
_HEAD_HELP = HEAD_CHOICES.help("pooling head, one of {} (default attention)")
_TRAIN_OPTIONS = {
    # flag: (dotted TextClassifierConfig key, type, help)
    "--encoder": ("model.encoder", str, _ENCODER_HELP),
    "--head": ("model.head", str, _HEAD_HELP),
    "--embed-dim": ("model.embed_dim", int, "embedding size (ignored with --embeddings)"),
    "--hidden-size": ("model.hidden_size", int, "hidden size (per direction)"),
    "--num-layers": ("model.num_layers", int, "stacked layers / blocks"),
    "--dropout": ("model.dropout", float, "dropout rate"),
    "--max-length": ("model.max_length", int, "truncate texts to this many tokens"),
    "--num-heads": ("model.num_heads", int, "transformer heads"),
    "--min-freq": ("min_freq", int, "drop training words seen fewer times"),
    "--max-vocab": ("max_vocab", int, "vocabulary size cap, specials included"),
    "--epochs": ("epochs", int, "training epochs"),
    "--batch-size": ("batch_size", int, "examples per batch"),
    "--lr": ("lr", float, "Adam learning rate"),
    "--patience": ("patience", int, "epochs without a better validation accuracy before stopping"),
    "--seed": ("seed", int, "random seed"),
    "--embeddings": ("embeddings", str, "GloVe / word2vec / fastText vectors for the embeddings"),
    "--label-sep": ("label_sep", str, "with --multi-label: the separator between a text's labels"),
}


def _cmd_train_classify(args: argparse.Namespace) -> int:
    from seqattn.cli._progress import bar_factory
    from seqattn.lock import folder_lock
    from seqattn.pipelines import TextClassifierConfig, fit_text_classifier, read_text_examples
    from seqattn.training import ProgressBar

    changes = option_changes(args, _TRAIN_OPTIONS)
    if args.freeze_embeddings:
        changes["model.freeze_embeddings"] = True
    if args.no_lowercase:
        changes["lowercase"] = False
    if args.multi_label:
        changes["multi_label"] = True
    config = resolve_train_config(TextClassifierConfig, args, changes)
    empty = config.multi_label  # an empty multi-label field is the empty set
    train = read_text_examples(args.train, args.text_col, args.label_col, empty_labels=empty)
    valid = (read_text_examples(args.valid, args.text_col, args.label_col, empty_labels=empty)
             if args.valid else None)  # fmt: skip
    tb = tensorboard_logger(args)
    metric = "val_f1" if config.multi_label else "val_acc"
    callbacks = [ProgressBar(bar_factory(), metric=metric, items_label=None, desc="train")]
    callbacks = (callbacks if args.progress else []) + ([tb] if tb else [])
    with folder_lock(args.out):  # one writer per model folder
        bundle = fit_text_classifier(train, valid, config, args.out, callbacks=callbacks,
                                     resume=args.resume,
                                     resume_options=args.resume_options)  # fmt: skip
    import json

    summary = json.loads((bundle.path / "train_summary.json").read_text(encoding="utf-8"))
    line = (
        f"{config.model.encoder}+{config.model.head}: {summary['num_train']} training examples, "
        f"{len(bundle.labels)} labels {bundle.labels}, {summary['epochs_run']} epochs; "
        f"train accuracy {summary['train']['acc']:.4f}"
    )
    if summary["valid"] is not None:
        line += f", valid accuracy {summary['valid']['acc']:.4f} ({summary['num_valid']} examples)"
    if config.multi_label:
        line = line.replace("accuracy", "subset accuracy")
        if summary["valid"] is not None:
            line += f", valid micro-F1 {summary['valid']['f1']:.4f} at 0.5"
    print(line)
    if summary.get("thresholds"):
        print("thresholds: " + ", ".join(f"{k} {v:.2f}" for k, v in summary["thresholds"].items()))
    if summary["embedding_coverage"]:
        print(f"embeddings: {summary['embedding_coverage']}")
    print(f"model: {bundle.path}")
    return 0


# -- predict ----------------------------------------------------------------------------------
def _cmd_predict(args: argparse.Namespace) -> int:
    check_inputs(args.texts, args.input, args.output, "texts")
    if args.label_col and not args.input:
        raise ValueError("expected --label-col only with --input, got it with text arguments")
    if args.explain_limit < 1:
        raise ValueError(f"expected --explain-limit >= 1, got {args.explain_limit}")
    from seqattn.pipelines import ClassifierBundle, model_kind, read_table, write_csv

    kind = model_kind(args.model)
    other = {"sequence-tagger": "seqattn tag", "translation": "seqattn translate",
             "captioner": "seqattn caption"}  # fmt: skip
    if kind in other:
        raise ValueError(f"expected a text classifier in {args.model} for predict, got a {kind} "
                         f"model: use {other[kind]} --model {args.model}")  # fmt: skip
    bundle = ClassifierBundle.load(args.model)
    info = sys.stderr if args.input and not args.output else sys.stdout  # stdout may be the CSV
    gold = None
    if args.texts:
        texts, ids = list(args.texts), [f"text argument {i + 1}" for i in range(len(args.texts))]
        preds = bundle.predict(texts, args.batch_size, ids)
        for p, text in zip(preds, texts, strict=True):
            if p.labels is None:
                print(f"{p.label}\t{p.probs[p.label]:.4f}\t{text}")
            else:  # multi-label: the set and each chosen label's probability
                probs = bundle.label_sep.join(f"{p.probs[n]:.4f}" for n in p.labels)
                print(f"{p.label}\t{probs}\t{text}")
    else:
        table = read_table(args.input)
        texts = table.column(args.text_col)
        ids = [table.where(i) for i in range(len(table))]
        gold = table.column(args.label_col) if args.label_col else None
        if gold is not None:
            targets = bundle.check_labels(gold, ids)  # before anything is predicted or written
        preds = bundle.predict(texts, args.batch_size, ids)
        added = ["pred_label"] + [f"prob_{label}" for label in bundle.labels]
        keep = [i for i, c in enumerate(table.columns) if c not in added]
        columns = [table.columns[i] for i in keep] + added
        rows = [
            [row[i] for i in keep]
            + [p.label]
            + [f"{p.probs[label]:.6f}" for label in bundle.labels]
            for row, p in zip(table.rows, preds, strict=True)
        ]
        if args.output:
            path = write_csv(args.output, columns, rows)
            print(f"wrote {len(rows)} predictions to {path}", file=info)
        else:
            import csv

            writer = csv.writer(sys.stdout, lineterminator="\n")
            writer.writerow(columns)
            writer.writerows(rows)
        if gold is not None and bundle.multi_label:
            from seqattn.pipelines.multilabel import scores

            probs = [[p.probs[n] for n in bundle.labels] for p in preds]
            s = scores(probs, targets, bundle.labels, bundle.thresholds)
            print(f"micro-F1 {s['f1_micro']:.4f}, macro-F1 {s['f1_macro']:.4f}, subset accuracy "
                  f"{s['subset_accuracy']:.4f} ({len(targets)} texts)", file=info)  # fmt: skip
        elif gold is not None:
            correct = sum(p.label_id == t for p, t in zip(preds, targets, strict=True))
            acc = correct / len(targets) if targets else float("nan")
            print(f"accuracy {acc:.4f} ({correct}/{len(targets)})", file=info)
    if args.explain:
        _explain(bundle, texts, ids, gold, preds, args, info)
    return 0


def _explain(bundle, texts, ids, gold, preds, args: argparse.Namespace, info) -> None:
    """``--explain``: at most ``--explain-limit`` texts (with gold labels: the wrong ones
    first), one HTML page, figures only in ``--explain-figures`` formats."""
    order = list(range(len(texts)))
    if gold is not None:  # the wrong predictions are the ones worth a look
        order.sort(key=lambda i: bundle.canonical(gold[i]) == preds[i].label)
    chosen = sorted(order[: args.explain_limit])
    formats = [f for f in (args.explain_figures or "").split(",") if f]
    result = bundle.explain([texts[i] for i in chosen], args.explain,
                            ids=[ids[i] for i in chosen], formats=formats,
                            gold=None if gold is None else [gold[i] for i in chosen])  # fmt: skip
    n = len(result["figures"])
    figures = f" + {n} figures" if n else ""
    limited = f" ({len(chosen)} of {len(texts)} texts: --explain-limit)" if len(chosen) < len(
        texts) else ""  # fmt: skip
    print(f"explanations ({result['method']}): {result['html']}{figures}{limited}", file=info)


# -- export -----------------------------------------------------------------------------------
def _cmd_export(args: argparse.Namespace) -> int:
    from seqattn.pipelines import export_classifier
    from seqattn.pipelines import export_translator as tr

    if tr.is_translator_dir(args.model):
        path = tr.export_translator(args.model, args.format, args.output, args.quantize)
        print(f"exported {args.model} as {args.format}: {path} ({tr.ENCODER_FILE}, "
              f"{tr.STEP_FILE}, manifest.json; run it with seqattn.serving)")  # fmt: skip
        return 0
    tr.check_quantize(args.format, args.quantize)
    path = export_classifier(args.model, args.format, args.output)
    if args.quantize:
        print(f"quantized ({args.quantize}): {tr.quantize_onnx_file(path)}")
    print(f"exported {args.model} as {args.format}: {path}")
    print("inputs: tokens (B, T) int64 ids from vocab.json, mask (B, T) bool (True = token); "
          "output: probs (B, C) in the order of config.json's labels")  # fmt: skip
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``train`` (``train classify``), ``predict`` and ``export`` to the ``seqattn`` parser."""
    cls = train_group(sub).add_parser(
        "classify",
        help="train a text classifier from a CSV/TSV file",
        description="Train a text classifier; writes a model directory (weights, config, "
        "vocabulary, tokenizer, metrics). See docs/practitioners.md.",
    )
    cls.add_argument("--train", required=True, metavar="FILE", help="training CSV/TSV file")
    cls.add_argument("--valid", metavar="FILE", help="validation file (early stopping)")
    cls.add_argument("--text-col", default="text", help="text column (default text)")
    cls.add_argument("--label-col", default="label", help="label column (default label)")
    cls.add_argument("--out", default="model", help="model directory (default ./model)")
    add_train_config(
        cls,
        _TRAIN_OPTIONS,
        "seqattn.pipelines.classification_config:TextClassifierConfig",
        "configs/classify/",
    )
    cls.add_argument("--freeze-embeddings", action="store_true", help="keep embeddings fixed")
    cls.add_argument("--no-lowercase", action="store_true", help="keep the texts' case")
    cls.add_argument(
        "--multi-label", action="store_true",
        help="a set of labels per text (label column 'sports|politics', see --label-sep; empty "
        "= none): one sigmoid per label, thresholds tuned on --valid",
    )  # fmt: skip
    add_run_flags(cls)
    cls.set_defaults(func=guarded("train classify", _cmd_train_classify))

    pred = sub.add_parser(
        "predict",
        help="classify texts with a trained model",
        description="Print `label<TAB>probability` per text argument, or write a CSV of "
        "--input's rows with pred_label and prob_<label> columns.",
    )
    pred.add_argument("texts", nargs="*", metavar="TEXT", help="texts to classify")
    add_model_io(pred, "CSV/TSV file of texts", "CSV to write (default: stdout)")
    pred.add_argument("--text-col", default="text", help="text column of --input")
    pred.add_argument("--label-col", help="gold label column of --input: report accuracy")
    pred.add_argument("--batch-size", type=int, default=64, help="texts per batch")
    pred.add_argument("--explain", metavar="DIR", help="write token heat maps (explain.html) here")
    pred.add_argument(
        "--explain-limit",
        type=int,
        default=50,
        metavar="N",
        help="explain at most N texts (with --label-col the wrong ones first; default 50)",
    )
    pred.add_argument(
        "--explain-figures",
        metavar="FMTS",
        default="",
        help="also one figure per text in these formats, e.g. png or png,svg",
    )
    pred.set_defaults(func=guarded("predict", _cmd_predict))

    exp = sub.add_parser(
        "export",
        help="export a trained classifier to ONNX or TorchScript, a translator to ONNX",
        description="Export forward(tokens, mask) -> probs with dynamic batch and length; for a "
        "translator, an encoder and a one-step decoder graph with the tokenizers and a "
        "manifest (run them with seqattn.serving; see docs/onnx.md).",
    )
    exp.add_argument("--model", required=True, metavar="DIR", help="model directory")
    exp.add_argument("--format", required=True, choices=FORMAT_CHOICES, help="export format")
    exp.add_argument("--output", metavar="FILE", help="file (translator: folder) to write "
                     "(default: in DIR)")  # fmt: skip
    exp.add_argument(
        "--quantize",
        choices=["int8"],
        help="ONNX dynamic int8 quantisation (translator: into DIR/onnx-int8; classifier: also "
        "model.int8.onnx)",
    )
    exp.set_defaults(func=guarded("export", _cmd_export))
