"""Planetoid citation graphs (Yang, Cohen & Salakhutdinov, 2016): Cora, CiteSeer, PubMed.

The files ``ind.<name>.{x,y,tx,ty,allx,ally,graph}`` are Python 2 pickles. Unpickling runs
whatever the file says, so they are read with a restricted unpickler that only builds the
NumPy arrays, SciPy CSR matrices, lists and ``defaultdict`` these files contain; anything else
raises ``pickle.UnpicklingError``. Still, only load files whose sha256 ``seqattn data verify
planetoid`` accepts. ``ind.<name>.test.index`` is plain text.

The graph is assembled as in Kipf & Welling's GCN code (and PyTorch Geometric): features and
labels are ``allx``/``ally`` followed by the test rows placed at their node ids; train = the
first ``len(y)`` nodes (140 Cora, 120 CiteSeer, 60 PubMed), val = the next 500 (within
``allx``), test = the 1,000 test ids.
"""

from __future__ import annotations

import codecs
import collections
import importlib
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from seqattn.data.datasets._download import require

__all__ = ["PlanetoidGraph", "PLANETOID_NAMES", "load_planetoid", "read_planetoid_pickle"]

PLANETOID_NAMES = ("cora", "citeseer", "pubmed")
_PARTS = ("x", "y", "tx", "ty", "allx", "ally", "graph")


def _numpy_attr(modules: tuple[str, ...], name: str):
    for module in modules:
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
    raise pickle.UnpicklingError(f"expected NumPy to provide {name}, got none in {modules}")


def _allowed(module: str, name: str):
    import scipy.sparse

    multiarray = ("numpy._core.multiarray", "numpy.core.multiarray")
    table = {
        ("numpy", "ndarray"): lambda: np.ndarray,
        ("numpy", "dtype"): lambda: np.dtype,
        ("numpy.core.multiarray", "_reconstruct"): lambda: _numpy_attr(multiarray, "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"): lambda: _numpy_attr(multiarray, "_reconstruct"),
        ("numpy.core.multiarray", "scalar"): lambda: _numpy_attr(multiarray, "scalar"),
        ("numpy._core.multiarray", "scalar"): lambda: _numpy_attr(multiarray, "scalar"),
        # pickled under SciPy's pre-1.8 module path; map it to the public class
        ("scipy.sparse.csr", "csr_matrix"): lambda: scipy.sparse.csr_matrix,
        ("scipy.sparse._csr", "csr_matrix"): lambda: scipy.sparse.csr_matrix,
        ("scipy.sparse", "csr_matrix"): lambda: scipy.sparse.csr_matrix,
        ("collections", "defaultdict"): lambda: collections.defaultdict,
        ("__builtin__", "list"): lambda: list,
        ("builtins", "list"): lambda: list,
        # protocol-2 pickles written by Python 3 spell bytes as _codecs.encode(str, "latin1")
        ("_codecs", "encode"): lambda: codecs.encode,
    }
    factory = table.get((module, name))
    if factory is None:
        raise pickle.UnpicklingError(
            f"expected only NumPy/SciPy arrays, lists and defaultdict in a Planetoid file, "
            f"got a reference to {module}.{name}; refusing to load it"
        )
    return factory()


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        return _allowed(module, name)


def read_planetoid_pickle(path: str | os.PathLike):
    """Unpickle one Planetoid file (Python 2 pickle) with the restricted unpickler.

    Example:
        >>> import io, pickle, tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "evil"
        >>> _ = p.write_bytes(pickle.dumps(print))
        >>> read_planetoid_pickle(p)
        Traceback (most recent call last):
        ...
        _pickle.UnpicklingError: expected only ... got a reference to builtins.print; ...
    """
    with open(path, "rb") as f:
        return _RestrictedUnpickler(f, encoding="latin1").load()


def _read_part(path: Path):
    """:func:`read_planetoid_pickle`, its refusal (or a damaged file) as ValueError naming it."""
    try:
        return read_planetoid_pickle(path)
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, UnicodeDecodeError) as err:  # fmt: skip
        raise ValueError(
            f"expected a Planetoid pickle at {path}, got a file that does not load: {err} "
            f"(check it with `seqattn data verify planetoid`)"
        ) from err


@dataclass(frozen=True)
class PlanetoidGraph:
    """A Planetoid graph with the standard split.

    Attributes:
        name: ``cora``, ``citeseer`` or ``pubmed``.
        x: ``(N, F)`` float32 node features (bag of words; rows of isolated CiteSeer test-range
            nodes without features are zero).
        y: ``(N,)`` int64 class ids; ``-1`` for nodes without a label (the 15 featureless
            CiteSeer nodes), which no mask contains.
        edge_index: ``(2, E)`` int64, undirected: each edge in both directions, no duplicates,
            no self-loops (unless ``self_loops=True``), sorted by (source, target).
        train_mask, val_mask, test_mask: ``(N,)`` bool.
        num_classes: number of classes.
    """

    name: str
    x: Tensor
    y: Tensor
    edge_index: Tensor
    train_mask: Tensor
    val_mask: Tensor
    test_mask: Tensor
    num_classes: int

    @property
    def num_nodes(self) -> int:
        return self.x.shape[0]


def _dense(m) -> np.ndarray:
    return np.asarray(m.toarray() if hasattr(m, "toarray") else m)


def _edge_index(graph: dict, num_nodes: int, self_loops: bool) -> Tensor:
    src = [u for u, nbrs in graph.items() for _ in nbrs]
    dst = [v for nbrs in graph.values() for v in nbrs]
    pairs = np.array([src + dst, dst + src], dtype=np.int64)  # both directions
    if not self_loops:
        pairs = pairs[:, pairs[0] != pairs[1]]
    if pairs.size and (pairs.min() < 0 or pairs.max() >= num_nodes):
        raise ValueError(
            f"expected node ids in 0..{num_nodes - 1}, got {pairs.min()}..{pairs.max()}"
        )
    pairs = np.unique(pairs[0] * num_nodes + pairs[1])  # dedupe and sort by (source, target)
    return torch.from_numpy(np.stack([pairs // num_nodes, pairs % num_nodes]))


def load_planetoid(
    name: str = "cora", root: str | os.PathLike | None = None, *, self_loops: bool = False
) -> PlanetoidGraph:
    """A Planetoid citation graph with Kipf & Welling's standard split.

    Cora: 2,708 nodes, 1,433 features, 7 classes, 5,278 undirected edges, 140/500/1,000 split.
    CiteSeer: 3,327 nodes (15 isolated test-range nodes without features, padded with zeros
    as in Kipf's code and PyG), 3,703 features, 6 classes, 4,552 undirected edges (+124
    self-loops with ``self_loops=True``), 120/500/1,000. PubMed: loaded when its files are
    present (19,717 nodes, 3 classes, 60/500/1,000).

    Args:
        name: ``cora``, ``citeseer`` or ``pubmed``.
        root: data dir (default ``SEQATTN_DATA_DIR`` or the user cache).
        self_loops: keep the self-loops listed in the graph file.

    Returns:
        a :class:`PlanetoidGraph`.

    Example:
        >>> g = load_planetoid("cora")  # doctest: +SKIP
        >>> g.num_nodes, g.edge_index.shape[1], int(g.train_mask.sum())  # doctest: +SKIP
        (2708, 10556, 140)
    """
    name = name.lower()
    if name not in PLANETOID_NAMES:
        raise ValueError(f"expected name in {list(PLANETOID_NAMES)}, got {name!r}")
    files = [f"ind.{name}.{p}" for p in (*_PARTS, "test.index")]
    folder = Path(require("planetoid", files, root))
    parts = {p: _read_part(folder / f"ind.{name}.{p}") for p in _PARTS}
    test_ids = np.loadtxt(folder / f"ind.{name}.test.index", dtype=np.int64, ndmin=1)

    allx, tx = _dense(parts["allx"]).astype(np.float32), _dense(parts["tx"]).astype(np.float32)
    ally, ty = _dense(parts["ally"]), _dense(parts["ty"])
    if len(test_ids) != len(tx) or len(ty) != len(tx) or len(ally) != len(allx):
        raise ValueError(
            f"expected matching row counts in {name}: test.index {len(test_ids)}, tx {len(tx)}, "
            f"ty {len(ty)}; allx {len(allx)}, ally {len(ally)}"
        )
    # Test ids may leave gaps (CiteSeer): such nodes exist in the graph but have no row.
    num_nodes = max(len(allx) + len(tx), int(test_ids.max()) + 1)
    x = np.zeros((num_nodes, allx.shape[1]), dtype=np.float32)
    onehot = np.zeros((num_nodes, ally.shape[1]), dtype=ally.dtype)
    x[: len(allx)], onehot[: len(ally)] = allx, ally
    x[test_ids], onehot[test_ids] = tx, ty
    y = np.where(onehot.any(axis=1), onehot.argmax(axis=1), -1).astype(np.int64)

    n_train = _dense(parts["y"]).shape[0]
    masks = np.zeros((3, num_nodes), dtype=bool)
    masks[0, :n_train] = True
    masks[1, n_train : min(n_train + 500, len(allx))] = True  # never a test node
    masks[2, test_ids] = True
    masks &= y >= 0  # a mask never contains an unlabelled node
    return PlanetoidGraph(
        name=name,
        x=torch.from_numpy(x),
        y=torch.from_numpy(y),
        edge_index=_edge_index(parts["graph"], num_nodes, self_loops),
        train_mask=torch.from_numpy(masks[0]),
        val_mask=torch.from_numpy(masks[1]),
        test_mask=torch.from_numpy(masks[2]),
        num_classes=int(ally.shape[1]),
    )
