"""Node-classification graphs for the GAT experiment: one container, feature normalisation and
an offline stochastic block model.

>>> g = sbm_graph(120, 3, seed=0)
>>> g.x.shape[0], g.num_classes, int(g.train_mask.sum())
(120, 3, 60)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["Graph", "row_normalize", "sbm_graph"]


@dataclass(frozen=True)
class Graph:
    """A graph with node features, labels and a train/validation/test split.

    Shape:
        x (N, F) features; y (N,) class ids, -1 = unlabelled; edge_index (2, E);
        train_mask, val_mask, test_mask (N,) bool.
    """

    name: str
    x: Tensor  # (N, F)
    y: Tensor  # (N,), -1 = unlabelled
    edge_index: Tensor  # (2, E)
    train_mask: Tensor
    val_mask: Tensor
    test_mask: Tensor
    num_classes: int


def row_normalize(x: Tensor) -> Tensor:
    """Divide each row by its sum (the GAT authors' ``preprocess_features``); zero rows stay 0.

    >>> row_normalize(torch.tensor([[1.0, 3.0], [0.0, 0.0]])).tolist()
    [[0.25, 0.75], [0.0, 0.0]]
    """
    total = x.sum(dim=1, keepdim=True)
    return x / torch.where(total != 0, total, torch.ones_like(total))


def sbm_graph(num_nodes: int, num_classes: int, seed: int = 0) -> Graph:
    """A stochastic block model with noisy class-dependent binary features (offline test data).

    Nodes link within their class with probability 8/N and across with 1/N; each class owns 10
    of ``10 * num_classes + 30`` feature words, present with probability 0.3 (others 0.1). 20
    training nodes per class, a quarter of the rest for validation, the remainder for testing.
    """
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(num_nodes) % num_classes
    y = y[torch.randperm(num_nodes, generator=g)]
    same = y[:, None] == y[None, :]
    p = torch.where(same, 8.0 / num_nodes, 1.0 / num_nodes)
    adj = torch.rand(num_nodes, num_nodes, generator=g) < p
    adj = (adj.triu(1) | adj.triu(1).T).nonzero().T.contiguous()  # (2, E), both directions
    words = 10 * num_classes + 30
    own = torch.zeros(num_classes, words, dtype=torch.bool)
    for c in range(num_classes):
        own[c, 10 * c : 10 * c + 10] = True
    x = (torch.rand(num_nodes, words, generator=g) < torch.where(own[y], 0.3, 0.1)).float()
    order = torch.randperm(num_nodes, generator=g)
    train = torch.zeros(num_nodes, dtype=torch.bool)
    for c in range(num_classes):
        train[order[y[order] == c][:20]] = True
    rest = order[~train[order]]
    val = torch.zeros(num_nodes, dtype=torch.bool)
    val[rest[: len(rest) // 4]] = True
    test = ~(train | val)
    return Graph("sbm", x, y, adj, train, val, test, num_classes)
