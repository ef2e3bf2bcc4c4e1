"""Real, downloadable datasets: a registry with canonical sources and checksums, and loaders.

Files live in ``<data dir>/<folder>/`` where the data dir is the ``root=`` argument, else
``$SEQATTN_DATA_DIR``, else ``~/.cache/seqattn/data``. Loaders never download: a missing file
raises :class:`DatasetNotFoundError` saying where to put it; :func:`download` (or
``seqattn data download NAME``) fetches and checks files. See ``docs/data.md``.

Example:
    >>> [d.name for d in list_datasets()][:3]
    ['babi', 'fashion-mnist', 'fra-eng']
"""

from seqattn.data.datasets import _catalog  # noqa: F401  (registers the built-in datasets)
from seqattn.data.datasets import conll as _conll
from seqattn.data.datasets import text_classification as _text_classification
from seqattn.data.datasets._download import (
    ChecksumError,
    DatasetNotFoundError,
    FileStatus,
    download,
    missing_files,
    require,
    sha256_file,
    verify,
)
from seqattn.data.datasets._registry import (
    ENV_VAR,
    DatasetInfo,
    FileSpec,
    data_dir,
    dataset_dir,
    get_info,
    list_datasets,
    register,
)
from seqattn.data.datasets.babi import BABI_TASKS, BabiExample, babi_file, load_babi, parse_babi
from seqattn.data.datasets.conll import *  # noqa: F403  (its __all__)
from seqattn.data.datasets.digits import DIGIT_WORDS, load_digits
from seqattn.data.datasets.fashion_mnist import FASHION_MNIST_CLASSES, load_fashion_mnist, read_idx
from seqattn.data.datasets.parallel import (
    SentencePair,
    load_fra_eng,
    load_multi30k,
    load_parallel_files,
    normalize_spaces,
)
from seqattn.data.datasets.planetoid import PlanetoidGraph, load_planetoid, read_planetoid_pickle
from seqattn.data.datasets.text_classification import *  # noqa: F403  (its __all__)

__all__ = [
    "ENV_VAR",
    "DatasetInfo",
    "FileSpec",
    "register",
    "get_info",
    "list_datasets",
    "data_dir",
    "dataset_dir",
    "DatasetNotFoundError",
    "ChecksumError",
    "FileStatus",
    "download",
    "verify",
    "require",
    "missing_files",
    "sha256_file",
    *_text_classification.__all__,
    *_conll.__all__,
    "SentencePair",
    "load_multi30k",
    "load_fra_eng",
    "load_parallel_files",
    "normalize_spaces",
    "BABI_TASKS",
    "BabiExample",
    "babi_file",
    "load_babi",
    "parse_babi",
    "PlanetoidGraph",
    "load_planetoid",
    "read_planetoid_pickle",
    "FASHION_MNIST_CLASSES",
    "read_idx",
    "load_fashion_mnist",
    "DIGIT_WORDS",
    "load_digits",
]
