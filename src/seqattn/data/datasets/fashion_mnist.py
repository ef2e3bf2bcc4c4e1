"""Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017) and the IDX file format it shares with MNIST."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from seqattn.data.datasets._download import require

__all__ = ["FASHION_MNIST_CLASSES", "read_idx", "load_fashion_mnist"]

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip

# IDX type codes -> big-endian numpy dtypes (LeCun's MNIST page).
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike, expected_ndim: int | None = None) -> np.ndarray:
    """Read an IDX file (gzipped if it ends in ``.gz``) into a native-endian numpy array.

    The header is checked: two zero bytes, a known type code, the number of dimensions, then
    one big-endian uint32 per dimension; the payload must have exactly that many items.

    Args:
        path: the file.
        expected_ndim: raise unless the file has this many dimensions (3 images, 1 labels).

    Returns:
        the array, e.g. ``(60000, 28, 28)`` uint8 for Fashion-MNIST training images.

    Raises:
        ValueError: bad magic number, dimension count or size.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "labels-idx1-ubyte"
        >>> _ = p.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 0, 9]))
        >>> read_idx(p, expected_ndim=1).tolist()
        [7, 0, 9]
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(
            f"expected an IDX magic number 0x0000TTNN (TT in "
            f"{[hex(k) for k in _IDX_DTYPES]}), got {data[:4].hex() or 'an empty file'} in {path}"
        )
    ndim = data[3]
    if expected_ndim is not None and ndim != expected_ndim:
        raise ValueError(f"expected {expected_ndim} dimension(s) in {path}, got {ndim}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"expected a {header}-byte IDX header in {path}, got {len(data)} bytes")
    shape = tuple(int(x) for x in np.frombuffer(data, ">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        raise ValueError(f"expected {expected} bytes for shape {shape} in {path}, got {len(data)}")
    array = np.frombuffer(data, dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=True)


def load_fashion_mnist(
    split: str = "train", root: str | os.PathLike | None = None
) -> tuple[Tensor, Tensor]:
    """Fashion-MNIST images and labels: 60,000 train / 10,000 test, 10 balanced classes.

    Args:
        split: ``train`` or ``test`` (the ``t10k`` files).
        root: data dir (default ``SEQATTN_DATA_DIR`` or the user cache).

    Returns:
        images ``(N, 28, 28)`` uint8 (0-255) and labels ``(N,)`` int64 in 0..9
        (names in ``FASHION_MNIST_CLASSES``).

    Example:
        >>> images, labels = load_fashion_mnist("test")  # doctest: +SKIP
        >>> images.shape, labels.bincount().tolist()[:3]  # doctest: +SKIP
        (torch.Size([10000, 28, 28]), [1000, 1000, 1000])
    """
    if split not in ("train", "test"):
        raise ValueError(f"expected split 'train' or 'test', got {split!r}")
    prefix = "train" if split == "train" else "t10k"
    images_name, labels_name = f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz"
    folder = require("fashion-mnist", [images_name, labels_name], root)
    images = read_idx(folder / images_name, expected_ndim=3)
    labels = read_idx(folder / labels_name, expected_ndim=1)
    if images.shape[0] != labels.shape[0] or images.dtype != np.uint8:
        raise ValueError(
            f"expected as many uint8 images as labels in {folder}, got {images.shape} "
            f"{images.dtype} images and {labels.shape[0]} labels"
        )
    return torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))
