"""``seqattn train caption`` and ``seqattn caption``: show-attend-tell on your own images.

Thin wrappers over :mod:`seqattn.data.datasets.captions` and the captioning pipeline
(:mod:`seqattn.pipelines.captioning`); the library raises, this module prints. Bad input
(a missing image named in the captions file, an empty caption, an image of the wrong size or
channel count) ends with ``seqattn <command>: <message>`` on stderr and exit code 2, and no
model directory. torch is imported only when a command runs.
"""

from __future__ import annotations

import argparse
import sys

from seqattn.cli._groups import add_run_flags, guarded, tensorboard_logger, train_group
from seqattn.cli._progress import progress as _progress

_TRAIN_OPTIONS = {
    # flag: (config field, type, help)
    "--epochs": ("epochs", int, "training epochs (default 20)"),
    "--batch-size": ("batch_size", int, "captions per batch (default 32)"),
    "--lr": ("lr", float, "Adam learning rate (default 2e-3)"),
    "--alpha-c": ("alpha_c", float, "lambda of the doubly stochastic penalty (default 1)"),
    "--num-pools": ("num_pools", int, "2x2 max-pools in the CNN: the grid is the image / 2**n"),
    "--embed-dim": ("embed_dim", int, "word embedding size"),
    "--hidden-size": ("hidden_size", int, "LSTM size"),
    "--attn-dim": ("attn_dim", int, "attention MLP size"),
    "--dropout": ("dropout", float, "dropout before the output layer"),
    "--min-freq": ("min_freq", int, "drop caption words seen fewer times (they become <unk>)"),
    "--max-len": ("max_len", int, "longest caption generated, in words"),
    "--seed": ("seed", int, "random seed"),
}


def _size(text: str) -> tuple[int, int]:
    h, sep, w = text.lower().partition("x")
    try:
        size = (int(h), int(w))
    except ValueError:
        size = (0, 0)
    if not sep or min(size) < 1:
        raise argparse.ArgumentTypeError(f"expected HxW such as 64x96, got {text!r}")
    return size


def _cmd_train_caption(args: argparse.Namespace) -> int:
    import dataclasses
    from pathlib import Path

    from seqattn.data.datasets.captions import load_caption_images
    from seqattn.lock import LOCK_NAME, folder_lock
    from seqattn.pipelines.captioning import CaptionTrainConfig, train_captioner

    overrides = {f: getattr(args, f) for f, _, _ in _TRAIN_OPTIONS.values()
                 if getattr(args, f) is not None}  # fmt: skip
    if args.channels:
        overrides["channels"] = tuple(args.channels)
    cfg = dataclasses.replace(CaptionTrainConfig(), **overrides)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"expected --out to be a directory, got a file at {out}")
    with folder_lock(out):  # one writer per model folder
        model_dir = any((out / n).is_file() for n in ("manifest.json", "config.json"))
        if not model_dir and any(p.name != LOCK_NAME for p in out.iterdir()):
            raise FileExistsError(f"expected --out to be new or a model directory, got {out}")
        data = load_caption_images(args.images, args.captions, size=args.size,
                                   resize=args.size is not None)  # fmt: skip
        print(f"{len(data.names)} images {data.images.shape[2]}x{data.images.shape[3]}x"
              f"{data.images.shape[1]}, {len(data)} captions")  # fmt: skip
        from seqattn.training import tracking

        with tracking(tensorboard_logger(args)):  # its TrainLoop steps (loss, lr, grad norm)
            captioner = train_captioner(data, cfg, progress=_progress if args.progress else None)
        captioner.save(out)  # written beside the target, then renamed (pipelines.model_dir)
    t = captioner.info["train"]
    print(
        f"{t['epochs']} epochs: final NLL per word {t['final_nll']:.3f}, training images "
        f"captioned exactly as one of their references: {t['exact_match_any_reference']:.3f}"
    )
    print(f"model: {out}")
    return 0


def _cmd_caption(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np
    import torch

    from seqattn.data.datasets.captions import read_image
    from seqattn.pipelines.captioning import Captioner
    from seqattn.pipelines.captioning_eval import plot_word_attention

    if args.beam < 1:
        raise ValueError(f"expected --beam >= 1, got {args.beam}")
    cap = Captioner.load(args.model)
    arrays = []
    for name in args.images:
        path = Path(name)
        if not path.is_file():
            raise FileNotFoundError(f"expected an image file, got no such file: {path}")
        arr = read_image(path, cap.image_size if args.resize else None)
        h, w, c = arr.shape
        if (h, w) != cap.image_size:
            want = f"{cap.image_size[0]}x{cap.image_size[1]}"
            raise ValueError(f"{path}: expected a {want} (HxW) image as the model was trained "
                             f"on, got {h}x{w} (--resize)")  # fmt: skip
        if c != cap.channels:
            raise ValueError(f"{path}: expected {cap.channels} channel(s) as the model was "
                             f"trained on, got {c}")  # fmt: skip
        arrays.append(arr)
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    captions, alphas, grid = cap.caption(images, beam_size=args.beam)
    for name, text in zip(args.images, captions, strict=True):
        print(f"{name}\t{text}")
    if args.attention:
        out = Path(args.attention)
        for i, (name, text) in enumerate(zip(args.images, captions, strict=True)):
            if text:
                p = plot_word_attention(images[i], text.split(), alphas[i], grid,
                                        out / f"{Path(name).stem}_attention.png")  # fmt: skip
                print(f"attention: {p}", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``train caption`` and ``caption`` to the ``seqattn`` parser."""
    tr = train_group(sub).add_parser(
        "caption",
        help="train a show-attend-tell image captioner",
        description="Train a show-attend-tell captioner (CNN from scratch, LSTM with soft "
        "attention) on a folder of images and a Flickr8k-style captions file "
        "(`image.jpg#0<TAB>caption` lines, or a CSV with the header `image,caption`). Writes "
        "a model directory: model.safetensors, config.json, vocab.json, tokenizer.json, "
        "manifest.json. See "
        "docs/show_attend_tell.md.",
    )
    tr.add_argument("--images", required=True, metavar="DIR", help="folder of the images")
    tr.add_argument("--captions", required=True, metavar="FILE", help="captions file")
    tr.add_argument("--out", default="captioner", help="model directory (default ./captioner)")
    tr.add_argument("--size", type=_size, metavar="HxW",
                    help="resize every image to HxW (default: all images must share the first "
                    "image's size)")  # fmt: skip
    tr.add_argument("--channels", type=int, nargs="+", metavar="C",
                    help="CNN block channels (default 32 64 64 128)")  # fmt: skip
    for flag, (field, kind, help_text) in _TRAIN_OPTIONS.items():
        tr.add_argument(flag, dest=field, type=kind, help=help_text)
    add_run_flags(tr, resume=False)
    tr.set_defaults(func=guarded("train caption", _cmd_train_caption))

    cp = sub.add_parser(
        "caption",
        help="caption images with a trained captioner",
        description="Print `image<TAB>caption` for every image.",
    )
    cp.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    cp.add_argument("--model", required=True, metavar="DIR", help="model directory")
    cp.add_argument("--beam", type=int, default=1, help="beam size (default 1: greedy)")
    cp.add_argument("--resize", action="store_true", help="resize images to the model's size")
    cp.add_argument("--attention", metavar="DIR", help="write per-word attention PNGs here")
    cp.set_defaults(func=guarded("caption", _cmd_caption))
