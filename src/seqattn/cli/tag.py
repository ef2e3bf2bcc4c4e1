"""``seqattn train tag`` and ``seqattn tag``: sequence labelling from CoNLL / CoNLL-U files.

Thin wrappers over :mod:`seqattn.pipelines.tagging`; the library raises, this module prints.
(``seqattn predict`` is the classifier's; a tagger directory is applied with ``seqattn tag``.)
Bad input (a malformed line, an unknown tag, a missing file) ends with ``seqattn <command>:
<message>`` on stderr and exit code 2. torch is imported only when a command runs.
"""

from __future__ import annotations

import argparse
import sys

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

FORMATS = ("conll", "conllu")
_CONFIG = "seqattn.pipelines.tagging:TaggerTrainConfig"
_TRAIN_OPTIONS = {
    # flag: (dotted TaggerTrainConfig key, type, help)
    "--embed-dim": ("model.embed_dim", int, "embedding size"),
    "--hidden-size": ("model.hidden_size", int, "BiLSTM hidden size (per direction)"),
    "--num-layers": ("model.num_layers", int, "stacked BiLSTM layers"),
    "--dropout": ("model.dropout", float, "dropout rate"),
    "--min-freq": ("min_freq", int, "training words seen fewer times become <unk>"),
    "--max-vocab": ("max_vocab", int, "vocabulary size cap, specials included"),
    "--word-dropout": ("word_dropout", float, "probability a training token reads as <unk>"),
    "--epochs": ("epochs", int, "training epochs"),
    "--batch-size": ("batch_size", int, "sentences per batch"),
    "--lr": ("lr", float, "Adam learning rate"),
    "--patience": ("patience", int, "epochs without a better validation score before stopping"),
    "--seed": ("seed", int, "random seed"),
    "--metric": ("metric", str, "validation score: auto, entity_f1 or accuracy"),
    "--scheme": ("scheme", str, "seqeval strict mode under this scheme (IOB2, IOBES, BILOU...)"),
}


def _read(path: str, fmt: str, column: str | None, tagged: bool):
    from seqattn.data.datasets import read_tagged

    return read_tagged(path, fmt, column, tagged=tagged)


def _score_line(scores: dict) -> str:
    if scores["entity"] is not None:
        e = scores["entity"]
        return (f"entity F1 {e['f1']:.4f} (precision {e['precision']:.4f}, recall "
                f"{e['recall']:.4f}, {e['support']} entities), token accuracy "
                f"{scores['token_accuracy']:.4f}")  # fmt: skip
    return f"token accuracy {scores['token_accuracy']:.4f} ({scores['n_tokens']} tokens)"


# -- train tag --------------------------------------------------------------------------------
def _cmd_train_tag(args: argparse.Namespace) -> int:
    from seqattn.cli._progress import bar_factory
    from seqattn.lock import folder_lock
    from seqattn.pipelines.tagging import TaggerTrainConfig
    from seqattn.pipelines.tagging_training import fit_tagger
    from seqattn.training import ProgressBar

    changes = option_changes(args, _TRAIN_OPTIONS)
    if args.crf is not None:
        changes["model.crf"] = args.crf
    if args.lowercase:
        changes["lowercase"] = True
    config = resolve_train_config(TaggerTrainConfig, args, changes)
    train = _read(args.train, args.format, args.tag_col, True)
    valid = _read(args.valid, args.format, args.tag_col, True) if args.valid else None
    tb = tensorboard_logger(args)
    bar = ProgressBar(bar_factory(), items_label="tok", desc="train")
    callbacks = [bar] if args.progress else []
    callbacks += [tb] if tb else []
    with folder_lock(args.out):  # one writer per model folder
        bundle = fit_tagger(train, valid, config, args.out, callbacks=callbacks,
                            resume=args.resume, resume_options=args.resume_options)  # fmt: skip
    import json

    summary = json.loads((bundle.path / "train_summary.json").read_text(encoding="utf-8"))
    head = "crf" if config.model.crf else "softmax"
    print(f"bilstm+{head}: {summary['num_train']} training sentences, {len(bundle.tags)} tags, "
          f"{summary['epochs_run']} epochs; train {_score_line(summary['train'])}")  # fmt: skip
    if summary["valid"] is not None:
        print(f"valid ({summary['num_valid']} sentences): {_score_line(summary['valid'])}")
    print(f"model: {bundle.path}")
    return 0


# -- tag --------------------------------------------------------------------------------------
def _cmd_tag(args: argparse.Namespace) -> int:
    check_inputs(args.sentences, args.input, args.output, "sentences")
    if args.evaluate and not args.input:
        raise ValueError("expected --evaluate only with --input (a tagged file), got it with "
                         "sentence arguments")  # fmt: skip
    from seqattn.data.datasets import format_conll
    from seqattn.io import atomic_write_text
    from seqattn.pipelines.tagging import TaggerBundle

    bundle = TaggerBundle.load(args.model)
    if args.sentences:
        sentences = [s.split() for s in args.sentences]
        ids = [f"sentence argument {i + 1}" for i in range(len(sentences))]
        for tokens, tags in zip(sentences, bundle.predict(sentences, args.batch_size, ids),
                                strict=True):  # fmt: skip
            print(" ".join(f"{w}/{t}" for w, t in zip(tokens, tags, strict=True)))
        return 0
    info = sys.stderr if not args.output else sys.stdout  # stdout may be the CoNLL text
    data = _read(args.input, args.format, args.tag_col, args.evaluate)
    if args.evaluate:
        bundle.check_tags(data)  # before anything is predicted or written
    ids = [s.id or f"sentence {i + 1}" for i, s in enumerate(data)]
    pred = bundle.predict([s.tokens for s in data], args.batch_size, ids)
    blocks = [[[w, *([g] if args.evaluate else []), p]
               for w, g, p in zip(s.tokens, s.tags or s.tokens, tags, strict=True)]
              for s, tags in zip(data, pred, strict=True)]  # fmt: skip
    text = format_conll(blocks)
    if args.output:
        path = atomic_write_text(args.output, text)
        print(f"wrote {len(data)} tagged sentences to {path}", file=info)
    else:
        sys.stdout.write(text)
    if args.evaluate:
        from seqattn.evaluation.tagging import is_entity_tagset, tagging_scores

        gold = [list(s.tags) for s in data]
        scores = tagging_scores(gold, pred, entities=is_entity_tagset(bundle.tags),
                                scheme=args.scheme)  # fmt: skip
        print(f"{len(data)} sentences: {_score_line(scores)}", file=info)
    return 0


def _add_format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=FORMATS, default="conll",
                        help="file format: conll (columns, blank lines between sentences) or "
                        "conllu (Universal Dependencies)")  # fmt: skip
    parser.add_argument("--tag-col", metavar="COL",
                        help="tag column: a number for conll (default -1, the last; 1 is "
                        "CoNLL-2003's POS), a field name for conllu (default upos; xpos, "
                        "deprel...)")  # fmt: skip


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``train tag`` and ``tag`` to the ``seqattn`` parser."""
    tr = train_group(sub).add_parser(
        "tag",
        help="train a sequence tagger (NER, POS) from CoNLL / CoNLL-U files",
        description="Train a BiLSTM tagger with a CRF or softmax head; writes a model "
        "directory (weights, config with the tag map, vocabulary, metrics). See docs/tagging.md.",
    )
    tr.add_argument("--train", required=True, metavar="FILE", help="training file")
    tr.add_argument("--valid", metavar="FILE", help="validation file (best weights, early stop)")
    _add_format(tr)
    tr.add_argument("--out", default="tagger", help="model directory (default ./tagger)")
    tr.add_argument("--crf", action=argparse.BooleanOptionalAction, default=None,
                    help="a CRF head (Viterbi decoding) or, with --no-crf, a softmax per "
                    "token (default: --crf)")  # fmt: skip
    tr.add_argument("--lowercase", action="store_true", help="lowercase tokens (default: keep)")
    add_train_config(tr, _TRAIN_OPTIONS, _CONFIG, "docs/tagging.md")
    add_run_flags(tr)
    tr.set_defaults(func=guarded("train tag", _cmd_train_tag))

    tag = sub.add_parser(
        "tag",
        help="tag sentences with a trained tagger (seqattn train tag)",
        description="Print token/TAG per sentence argument (split on whitespace), or write "
        "--input's sentences as CoNLL (token, [gold,] predicted tag).",
    )
    tag.add_argument("sentences", nargs="*", metavar="SENTENCE", help="sentences to tag")
    add_model_io(tag, "CoNLL / CoNLL-U file of sentences", "CoNLL file to write (default: stdout)")
    _add_format(tag)
    tag.add_argument("--evaluate", action="store_true",
                     help="--input is tagged: write token, gold, predicted and report entity F1 "
                     "(entity tags) or token accuracy")  # fmt: skip
    tag.add_argument("--scheme", help="with --evaluate: seqeval strict mode under this scheme")
    tag.add_argument("--batch-size", type=int, default=64, help="sentences per batch")
    tag.set_defaults(func=guarded("tag", _cmd_tag))
