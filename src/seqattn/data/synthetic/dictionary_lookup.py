"""DictionaryLookup (Brody, Alon, Yahav 2022, section 3): a task GAT provably cannot fit.

Each graph is a complete bipartite graph of k key nodes and k value nodes. Key node q carries
the attribute q; value node v carries an attribute a_v and a value label, a random permutation
of 0..k-1 over the k value nodes. Every value node sends an edge to every key node; key q must
output the label of the value node whose attribute is q. Static (GAT) attention ranks the
value nodes the same way for every key, so it cannot pick a different neighbour per key;
dynamic (GATv2) attention can.

Features are one-hot: key q is ``[onehot(q), 0]``, value v is ``[onehot(a_v), onehot(label_v)]``
(2k features). Graphs are returned as one disjoint union.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["DictionaryLookup", "dictionary_lookup"]


@dataclass(frozen=True)
class DictionaryLookup:
    """A batch of G DictionaryLookup graphs as one disjoint union.

    Attributes:
        x: (G * 2k, 2k) node features; graph g's keys are nodes ``g*2k .. g*2k+k-1``, its
            values the next k.
        edge_index: (2, G * k * k) int64, value node -> key node.
        key_index: (G * k,) int64 ids of the key nodes.
        y: (G * k,) int64 target label of each key node.
    """

    x: Tensor
    edge_index: Tensor
    key_index: Tensor
    y: Tensor


def dictionary_lookup(k: int, num_graphs: int, *, seed: int = 0) -> DictionaryLookup:
    """Draw ``num_graphs`` seeded DictionaryLookup graphs with ``k`` keys each.

    Args:
        k: keys (and values) per graph, >= 2.
        num_graphs: graphs G, >= 1.
        seed: seed of the generator (the value attributes' and labels' permutations).

    >>> d = dictionary_lookup(3, 2)
    >>> d.x.shape, d.edge_index.shape, d.y.shape
    (torch.Size([12, 6]), torch.Size([2, 18]), torch.Size([6]))
    """
    for name, value, low in (("k", k, 2), ("num_graphs", num_graphs, 1)):
        if not isinstance(value, int) or value < low:
            raise ValueError(f"expected {name} to be an int >= {low}, got {value!r}")
    gen = torch.Generator().manual_seed(seed)
    n = 2 * k
    attr = torch.stack([torch.randperm(k, generator=gen) for _ in range(num_graphs)])  # (G, k)
    label = torch.stack([torch.randperm(k, generator=gen) for _ in range(num_graphs)])  # (G, k)
    eye = torch.eye(k)
    keys = torch.cat([eye, torch.zeros(k, k)], dim=1).expand(num_graphs, k, n)
    values = torch.cat([eye[attr], eye[label]], dim=2)  # (G, k, 2k)
    x = torch.cat([keys, values], dim=1).reshape(num_graphs * n, n)
    offset = (torch.arange(num_graphs) * n).view(-1, 1, 1)
    src = (k + torch.arange(k)).view(1, 1, k).expand(num_graphs, k, k) + offset
    dst = torch.arange(k).view(1, k, 1).expand(num_graphs, k, k) + offset
    edge_index = torch.stack([src.reshape(-1), dst.reshape(-1)])
    key_index = (torch.arange(k).view(1, k) + offset.view(-1, 1)).reshape(-1)
    # key q's answer: the label of the value node whose attribute is q
    y = torch.empty_like(label).scatter_(1, attr, label).reshape(-1)
    return DictionaryLookup(x, edge_index, key_index, y)
