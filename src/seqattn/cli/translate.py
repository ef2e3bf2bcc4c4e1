"""``seqattn train translate`` and ``seqattn translate``: train a translator, use it.

Thin wrappers over :mod:`seqattn.pipelines.translation`; the library raises, this module prints.
Bad input (an empty line, a line longer than the model's max length, files with different
line counts, a missing model directory) ends with ``seqattn <command>: <message>`` on stderr,
exit code 2 and no output file. torch is imported only when a command runs.
"""

from __future__ import annotations

import argparse
import sys

from seqattn._registry import LazyNames
from seqattn.cli import _groups as g

# the registry itself (seqattn.models.DECODERS), read only when a value is checked or --help
# printed: the CLI imports no torch at parse time
DECODER_CHOICES = LazyNames("seqattn.models.seq2seq:DECODERS")

_TRAIN_OPTIONS = {
    # flag: (dotted TranslationConfig key, type, help)
    "--subword": ("subword", str, "bpe (default) or word"),
    "--bpe-vocab": ("bpe_vocab", int, "BPE vocabulary size per language (default 8000)"),
    "--min-freq": ("min_freq", int, "word vocabularies: drop rarer words (default 2)"),
    "--max-length": ("max_length", int, "skip training pairs longer than this (tokens)"),
    "--decoder": ("model.decoder", str, DECODER_CHOICES.help("one of {} (default bahdanau)")),
    "--cell": ("model.cell", str, "gru (default) or lstm"),
    "--embed-dim": ("model.embed_dim", int, "embedding size"),
    "--hidden-size": ("model.hidden_size", int, "hidden size"),
    "--layers": ("model.encoder_layers", int, "encoder layers"),
    "--decoder-layers": ("model.decoder_layers", int, "decoder layers"),
    "--luong-score": ("model.luong_score", str, "dot, general or concat"),
    "--luong-attention": ("model.luong_attention", str, "global, local-m or local-p"),
    "--dropout": ("model.dropout", float, "dropout rate"),
    "--label-smoothing": ("label_smoothing", float, "label smoothing epsilon"),
    "--teacher-forcing": ("teacher_forcing", float, "teacher forcing ratio at the start"),
    "--teacher-forcing-final": ("teacher_forcing_final", float, "ratio at the end (linear)"),
    "--epochs": ("epochs", int, "training epochs"),
    "--batch-size": ("batch_size", int, "sentences per batch"),
    "--lr": ("lr", float, "Adam learning rate"),
    "--patience": ("patience", int, "epochs without a better validation loss before stopping"),
    "--seed": ("seed", int, "random seed"),
}


def _cmd_train(args: argparse.Namespace) -> int:
    from seqattn.cli._progress import bar_factory
    from seqattn.lock import folder_lock
    from seqattn.pipelines.translation import (
        TimeBudget,
        TranslationConfig,
        fit_translation,
        read_parallel,
    )
    from seqattn.training import ProgressBar

    changes = g.option_changes(args, _TRAIN_OPTIONS)
    if args.tie_embeddings:
        changes["model.tie_embeddings"] = True
    if args.lowercase:
        changes["lowercase"] = True
    if args.no_input_feeding:
        changes["model.input_feeding"] = False
    if args.unidirectional:
        changes["model.bidirectional"] = False
    config = g.resolve_train_config(TranslationConfig, args, changes)  # checked before reading data
    for side in ("valid", "test"):
        if bool(getattr(args, f"src_{side}")) != bool(getattr(args, f"tgt_{side}")):
            raise ValueError(f"expected both --src-{side} and --tgt-{side} or neither, got one")
    if args.bleu_beam < 1:
        raise ValueError(f"expected --bleu-beam >= 1, got {args.bleu_beam}")
    train = read_parallel(args.src_train, args.tgt_train)
    valid = read_parallel(args.src_valid, args.tgt_valid) if args.src_valid else None
    test = read_parallel(args.src_test, args.tgt_test) if args.src_test else None
    tb = g.tensorboard_logger(args)
    callbacks = [TimeBudget(args.max_minutes)] + ([tb] if tb else [])
    if args.progress:
        callbacks.append(ProgressBar(bar_factory(), metric="val_loss", items_label="tok",
                                     desc="train", budget_minutes=args.max_minutes))  # fmt: skip
        print(f"train: learning the subwords and vocabularies of {len(train)} pairs, then "
              "training", file=sys.stderr, flush=True)  # fmt: skip
    with folder_lock(args.out):  # one writer per model folder
        bundle = fit_translation(train, valid, config, args.out, callbacks=callbacks,
                                 resume=args.resume,
                                 resume_options=args.resume_options)  # fmt: skip
    info = bundle.info
    vocab = f"{info['src_vocab']}/{info['tgt_vocab']}"
    line = (f"{config.model.cell}+{config.model.decoder}: {info['train_pairs']} training pairs, "
            f"vocabularies {vocab}, {info['steps']} steps")  # fmt: skip
    if info["val"]:
        line += f", valid loss {info['val']['val_loss']:.3f}"
    print(line)
    if info["skipped_long_pairs"]:
        print(f"skipped {info['skipped_long_pairs']} pairs longer than {config.max_length} tokens")
    if info.get("stopped") not in (None, "max_epochs"):
        print(f"stopped after {info['steps']} steps ({info['epochs']} full epochs): "
              f"{info['stopped']}")  # fmt: skip
    if not args.no_bleu and (valid or test):
        _bleu_lines(bundle, {"valid": valid, "test": test}, args)
    print(f"model: {args.out}")
    return 0


def _bleu_lines(bundle, splits, args: argparse.Namespace) -> None:
    """Score the splits greedy and with beam ``--bleu-beam``; print, keep in config.json."""
    from seqattn.pipelines.translation_eval import bleu_summary

    scores = {}
    for split, pairs in splits.items():  # one split at a time: each says it runs, then scores
        if not pairs:
            continue
        print(f"scoring {split} with sacreBLEU ({len(pairs)} sentences, greedy and beam "
              f"{args.bleu_beam})...", flush=True)  # fmt: skip
        rows = bleu_summary(bundle, {split: pairs}, beams=(1, args.bleu_beam))[split]
        scores[split] = rows
        parts = [f"{row['bleu']:.2f} {'greedy' if name == 'greedy' else 'beam ' + name[4:]}"
                 for name, row in rows.items()]  # fmt: skip
        print(f"{split} BLEU ({len(pairs)} sentences): {' / '.join(parts)}", flush=True)
    print(f"  sacreBLEU {next(iter(next(iter(scores.values())).values()))['signature']}")
    bundle.info["bleu"] = scores
    bundle.save(args.out)  # the scores go into config.json with the model


def _cmd_translate(args: argparse.Namespace) -> int:
    g.check_inputs(args.sentences, args.input, args.output, "sentences")
    if args.beam < 1:
        raise ValueError(f"expected --beam >= 1, got {args.beam}")
    from pathlib import Path

    from seqattn.io import atomic_write_text
    from seqattn.pipelines.translation import TranslationModel

    bundle = TranslationModel.load(args.model)
    if args.sentences:
        texts = list(args.sentences)
        where = [f"sentence argument {i + 1}" for i in range(len(texts))]
    else:
        path = Path(args.input)
        try:
            texts = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as err:
            raise ValueError(f"expected UTF-8 text in {path}, got {err.reason}") from None
        where = [f"{path}:{i + 1}" for i in range(len(texts))]
        if not texts:
            raise ValueError(f"expected at least one sentence in {path}, got an empty file")
    _, unknown = bundle.encode_sources(texts, where)  # all checks before any output
    info = sys.stderr if not args.output else sys.stdout
    if unknown:
        print(f"note: {unknown} unknown source tokens mapped to <unk>", file=sys.stderr)
    if args.input:  # a file can take minutes: say what runs
        search = "greedy" if args.beam == 1 else f"beam {args.beam}"
        print(f"translating {len(texts)} sentences of {args.input} ({search})...",
              file=sys.stderr, flush=True)  # fmt: skip
    out = bundle.translate(texts, beam=args.beam, where=where, batch_size=args.batch_size)
    if args.output:
        atomic_write_text(args.output, "".join(t.text + "\n" for t in out))
        print(f"wrote {len(out)} translations to {args.output}", file=info)
    else:
        for t in out:
            print(t.text)
    if args.show_alignment:
        t = out[0]
        if not t.tokens:
            raise ValueError("expected a non-empty first translation for --show-alignment, got "
                             "an empty one (only <eos>)")  # fmt: skip
        if t.attention is None:
            raise ValueError(f"expected an attention decoder for --show-alignment, got "
                             f"{bundle.config.model.decoder!r}")  # fmt: skip
        from seqattn.viz.attention import AttentionView, save_attention

        view = AttentionView(t.attention, keys=t.src_tokens, queries=t.tokens, title=t.text)
        target = Path(args.show_alignment)
        fmt = target.suffix.lstrip(".").lower() or "png"
        if fmt not in ("png", "svg", "html"):
            raise ValueError(f"expected --show-alignment to end in .png, .svg or .html, got {fmt}")
        written = save_attention(view, target.parent, target.stem, formats=(fmt,))
        print(f"alignment of the first sentence: {written[fmt]}", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``train translate`` and ``translate`` to the ``seqattn`` parser."""
    tr = g.train_group(sub).add_parser(
        "translate",
        help="train a translation model from two line-aligned files",
        description="Train a seq2seq translator; writes a model directory (model.safetensors, "
        "config.json, tokenizers, vocabularies, checkpoints). See docs/seq2seq.md.",
    )
    tr.add_argument("--src-train", required=True, metavar="FILE", help="source sentences")
    tr.add_argument("--tgt-train", required=True, metavar="FILE", help="their translations")
    tr.add_argument("--src-valid", metavar="FILE", help="validation source sentences")
    tr.add_argument("--tgt-valid", metavar="FILE", help="validation translations")
    tr.add_argument("--src-test", metavar="FILE", help="test source sentences (scored at the end)")
    tr.add_argument("--tgt-test", metavar="FILE", help="test translations")
    tr.add_argument(
        "--bleu-beam",
        type=int,
        default=5,
        help="beam size of the final BLEU summary, besides greedy (default 5)",
    )
    tr.add_argument(
        "--no-bleu", action="store_true", help="skip the final BLEU summary on --*-valid / --*-test"
    )
    tr.add_argument("--out", default="translator", help="model directory (default ./translator)")
    g.add_train_config(
        tr,
        _TRAIN_OPTIONS,
        "seqattn.pipelines.translation_config:TranslationConfig",
        "configs/translate/",
    )
    tr.add_argument("--tie-embeddings", action="store_true", help="share output embeddings")
    tr.add_argument("--lowercase", action="store_true", help="lowercase both sides")
    tr.add_argument("--no-input-feeding", action="store_true", help="Luong without input feeding")
    tr.add_argument("--unidirectional", action="store_true", help="a one-direction encoder")
    tr.add_argument("--max-minutes", type=float, help="stop training after this wall time")
    g.add_run_flags(tr)
    tr.set_defaults(func=g.guarded("train translate", _cmd_train))

    p = sub.add_parser(
        "translate",
        help="translate sentences with a trained model",
        description="Print one translation per sentence argument, or translate --input's "
        "lines (to --output or stdout).",
    )
    p.add_argument("sentences", nargs="*", metavar="SENTENCE", help="sentences to translate")
    g.add_model_io(p, "file of sentences, one per line", "file to write (default: stdout)")
    p.add_argument("--beam", type=int, default=5, help="beam size (1 = greedy; default 5)")
    p.add_argument("--batch-size", type=int, default=64, help="sentences per batch")
    p.add_argument("--show-alignment", metavar="PNG", help="heat map of the first sentence")
    p.set_defaults(func=g.guarded("translate", _cmd_translate))
