"""Captioned images from your own files: a Flickr8k-style captions file and a folder of images.

Two captions-file forms are read (the form is told by the first line):

* Flickr8k ``Flickr8k.token.txt``: ``image.jpg#0<TAB>A caption .`` (the ``#n`` suffix numbers an
  image's captions and is dropped);
* the Kaggle Flickr8k CSV ``captions.txt``: a header ``image,caption``, then ``image.jpg,A
  caption .`` rows (quoted or not: the caption is everything after the first comma).

Images are read with Pillow (PNG, JPEG, ...) or, without Pillow, with ``matplotlib.image.imread``
(PNG only). Every problem names its file, and its line in the captions file: a missing image, an
empty caption, an image of the wrong size or channel count.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "CaptionRecord",
    "CaptionImages",
    "read_captions_file",
    "read_image",
    "load_caption_images",
]

_CSV_HEADER = ("image", "caption")


@dataclass(frozen=True)
class CaptionRecord:
    """One caption: the image's file name, the caption text, and where it was read (file:line)."""

    image: str
    caption: str
    where: str


def read_captions_file(path: str | os.PathLike) -> list[CaptionRecord]:
    """Read a Flickr8k token file or a Kaggle-style ``image,caption`` CSV.

    Blank lines are skipped. Raises ``ValueError`` naming ``file:line`` for a line that is not
    ``image<TAB>caption`` (token form), a row without a caption (CSV form), an empty caption or
    bytes that are not UTF-8.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "captions.txt"
        >>> _ = p.write_text("a.png#0\\tA dog runs .\\na.png#1\\tA brown dog .\\n")
        >>> [(r.image, r.caption, r.where[-1]) for r in read_captions_file(p)]
        [('a.png', 'A dog runs .', '1'), ('a.png', 'A brown dog .', '2')]
    """
    path = Path(path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        msg = f"{path}:{line}: expected UTF-8 text, got byte {raw[err.start]:#04x}"
        raise ValueError(msg) from None
    lines = text.splitlines()
    first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if first is None:
        raise ValueError(f"{path}: expected caption lines, got an empty file")
    head = [c.strip().lower() for c in lines[first].split(",")]
    records = []
    if tuple(head) == _CSV_HEADER:
        for i in range(first + 1, len(lines)):
            if not lines[i].strip():
                continue
            where = f"{path}:{i + 1}"
            row = next(csv.reader(io.StringIO(lines[i])))
            if len(row) < 2:
                raise ValueError(f"{where}: expected 'image,caption', got {lines[i]!r:.80}")
            records.append(_record(row[0], ",".join(row[1:]), where))
        return records
    for i in range(first, len(lines)):
        if not lines[i].strip():
            continue
        where = f"{path}:{i + 1}"
        name, tab, caption = lines[i].partition("\t")
        if not tab:
            raise ValueError(
                f"{where}: expected 'image.jpg#0<TAB>caption' (or a CSV with the header "
                f"'image,caption'), got {lines[i]!r:.80}"
            )
        records.append(_record(name.split("#", 1)[0], caption, where))
    return records


def _record(image: str, caption: str, where: str) -> CaptionRecord:
    image, caption = image.strip(), caption.strip()
    if not image:
        raise ValueError(f"{where}: expected an image file name, got an empty one")
    if not caption:
        raise ValueError(f"{where}: expected a non-empty caption for {image}, got an empty one")
    return CaptionRecord(image, caption, where)


def _pillow():
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow comes with matplotlib
        return None
    return Image


def read_image(path: str | os.PathLike, size: tuple[int, int] | None = None) -> np.ndarray:
    """An image as float32 (H, W, C) in [0, 1]; C is 1 (grey) or 3 (RGB; alpha is dropped).

    Args:
        path: PNG, JPEG or anything Pillow reads (PNG only without Pillow).
        size: (H, W) to resize to (bilinear; needs Pillow), or None to keep the size.
    """
    path = Path(path)
    image_mod = _pillow()
    if image_mod is None:
        if path.suffix.lower() != ".png" or size is not None:
            raise ValueError(
                f"{path}: reading {path.suffix or 'this'} images or resizing needs Pillow "
                f"(pip install pillow); without it only PNG at its own size is supported"
            )
        import matplotlib.image

        arr = np.asarray(matplotlib.image.imread(path), dtype=np.float32)
    else:
        try:
            with image_mod.open(path) as im:
                if im.mode not in ("L", "RGB", "RGBA"):
                    im = im.convert("RGBA" if "A" in im.getbands() else "RGB")
                if size is not None:
                    im = im.resize((size[1], size[0]), image_mod.Resampling.BILINEAR)
                arr = np.asarray(im, dtype=np.float32) / 255.0
        except (OSError, image_mod.UnidentifiedImageError) as err:
            raise ValueError(f"{path}: expected an image file, got: {err}") from None
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise ValueError(f"{path}: expected a grey, RGB or RGBA image, got shape {arr.shape}")
    if arr.shape[2] == 4:
        arr = arr[:, :, :3]
    return np.ascontiguousarray(arr)


@dataclass
class CaptionImages:
    """Images and their captions.

    Attributes:
        images: (N, C, H, W) float32 in [0, 1], one per distinct image file.
        names: the N image file names.
        captions: per image, its caption texts.
        pairs: (image index, caption text) for every caption, in file order.
    """

    images: Tensor
    names: list[str]
    captions: list[list[str]]
    pairs: list[tuple[int, str]]

    def __len__(self) -> int:
        return len(self.pairs)


def load_caption_images(
    images_dir: str | os.PathLike,
    captions_file: str | os.PathLike,
    *,
    size: tuple[int, int] | None = None,
    channels: int | None = None,
    resize: bool = False,
) -> CaptionImages:
    """Read a captions file and the images it names.

    Args:
        images_dir: the folder of images.
        captions_file: see :func:`read_captions_file`.
        size: the required (H, W) (default: the first image's).
        channels: the required channel count, 1 or 3 (default: the first image's).
        resize: resize every image to ``size`` instead of refusing other sizes.

    Raises:
        FileNotFoundError: an image named in the captions file is missing (file:line).
        ValueError: a bad captions line, or an image of another size or channel count.
    """
    images_dir = Path(images_dir)
    if not images_dir.is_dir():
        raise FileNotFoundError(f"expected a folder of images, got no folder at {images_dir}")
    if resize and size is None:
        raise ValueError("expected a size to resize to, got resize=True without one")
    records = read_captions_file(captions_file)
    index: dict[str, int] = {}
    arrays, names, captions, pairs = [], [], [], []
    for rec in records:
        if rec.image not in index:
            path = images_dir / rec.image
            if not path.is_file():
                raise FileNotFoundError(
                    f"{rec.where}: expected the image {rec.image} in {images_dir}, got no such file"
                )
            arr = read_image(path, size if resize else None)
            h, w, c = arr.shape
            size = size or (h, w)
            channels = channels or c
            if (h, w) != tuple(size):
                raise ValueError(
                    f"{path} (named at {rec.where}): expected a {size[0]}x{size[1]} (HxW) image, "
                    f"got {h}x{w}; resize the images or pass a size with resize"
                )
            if c != channels:
                raise ValueError(
                    f"{path} (named at {rec.where}): expected {channels} channel(s), got {c}"
                )
            index[rec.image] = len(names)
            arrays.append(arr)
            names.append(rec.image)
            captions.append([])
        captions[index[rec.image]].append(rec.caption)
        pairs.append((index[rec.image], rec.caption))
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    return CaptionImages(images, names, captions, pairs)
