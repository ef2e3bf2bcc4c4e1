"""Segment (scatter) softmax over destination nodes, against a dense masked softmax."""

from __future__ import annotations

import pytest
import torch

from seqattn.functional import masked_softmax
from seqattn.functional.graph import (
    add_self_loops,
    check_edge_index,
    in_degree,
    remove_self_loops,
    scatter_sum,
    segment_softmax,
)


def _random_graph(n: int, e: int, gen: torch.Generator) -> torch.Tensor:
    return torch.randint(0, n, (2, e), generator=gen)


def _dense_reference(scores: torch.Tensor, edge_index: torch.Tensor, n: int) -> torch.Tensor:
    """Per-edge weights from a dense (H, N_dst, E) masked softmax: row i may attend to the
    edges whose destination is i (duplicates are separate columns, as in the sparse form)."""
    e, h = scores.shape
    mask = edge_index[1][None, :] == torch.arange(n)[:, None]  # (N, E)
    dense = scores.T[:, None, :].expand(h, n, e)  # (H, N, E)
    w = masked_softmax(dense, mask)  # (H, N, E)
    return w[:, edge_index[1], torch.arange(e)].T  # (E, H)


@pytest.mark.parametrize("trial", range(6))
def test_matches_dense_masked_softmax(trial):
    gen = torch.Generator().manual_seed(trial)
    n, e, h = 3 + trial * 4, 5 + trial * 11, 1 + trial % 3
    edge_index = _random_graph(n, e, gen)
    scores = torch.randn(e, h, generator=gen, dtype=torch.float64) * 5
    got = segment_softmax(scores, edge_index[1], n)
    torch.testing.assert_close(got, _dense_reference(scores, edge_index, n), rtol=0, atol=1e-12)
    # every destination with edges sums to one per head
    sums = scatter_sum(got, edge_index[1], n)
    has = in_degree(edge_index, n) > 0
    torch.testing.assert_close(sums[has], torch.ones_like(sums[has]))
    assert (sums[~has] == 0).all()


def test_one_dimensional_scores_and_doctest_values():
    w = segment_softmax(torch.tensor([1.0, 2.0, 3.0, 5.0]), torch.tensor([1, 1, 1, 2]), 3)
    torch.testing.assert_close(w[:3], torch.softmax(torch.tensor([1.0, 2.0, 3.0]), 0))
    assert w[3] == 1.0


def test_stable_for_huge_scores():
    # exp(1000) overflows; the per-segment max shift makes it exact
    scores = torch.tensor([[1000.0], [999.0], [-1000.0], [-1001.0]], dtype=torch.float64)
    w = segment_softmax(scores, torch.tensor([0, 0, 1, 1]), 2)
    e = torch.exp(torch.tensor([0.0, -1.0], dtype=torch.float64))
    torch.testing.assert_close(w[:, 0], torch.cat([e / e.sum(), e / e.sum()]))


def test_fully_masked_segment_gives_zeros_and_finite_grads():
    scores = torch.tensor([0.5, float("-inf"), float("-inf"), 2.0], requires_grad=True)
    index = torch.tensor([0, 1, 1, 2])
    w = segment_softmax(scores, index, 4)  # node 1 all -inf; node 3 no edges at all
    assert w.tolist() == [1.0, 0.0, 0.0, 1.0]
    (w * torch.arange(4.0)).sum().backward()
    assert torch.isfinite(scores.grad).all()


def test_empty_graph():
    w = segment_softmax(torch.zeros(0, 2), torch.zeros(0, dtype=torch.int64), 5)
    assert w.shape == (0, 2)


def test_gradcheck():
    gen = torch.Generator().manual_seed(3)
    edge_index = _random_graph(6, 20, gen)
    scores = torch.randn(20, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda s: segment_softmax(s, edge_index[1], 7), (scores,))
    assert torch.autograd.gradgradcheck(lambda s: segment_softmax(s, edge_index[1], 7), (scores,))
    values = torch.randn(20, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: scatter_sum(v, edge_index[1], 7), (values,))


def test_no_dense_intermediate():
    # O(E) memory: a graph of a million nodes and a few edges must not allocate N x N
    n = 1_000_000
    edge_index = torch.tensor([[0, 1, 2], [5, 5, n - 1]])
    w = segment_softmax(torch.tensor([0.0, 0.0, 3.0]), edge_index[1], n)
    assert w.tolist() == [0.5, 0.5, 1.0]


def test_self_loop_helpers():
    ei = torch.tensor([[0, 1, 2, 2], [1, 1, 0, 2]])
    kept, mask = remove_self_loops(ei)
    assert kept.tolist() == [[0, 2], [1, 0]] and mask.tolist() == [True, False, True, False]
    assert add_self_loops(kept, 3).tolist() == [[0, 2, 0, 1, 2], [1, 0, 0, 1, 2]]
    assert in_degree(ei, 4).tolist() == [1, 2, 1, 0]


@pytest.mark.parametrize(
    ("edge_index", "error", "message"),
    [
        ([[0, 1], [1, 0]], TypeError, "expected edge_index as a torch.Tensor, got list"),
        (torch.tensor([[0.0, 1.0], [1.0, 0.0]]), TypeError, "dtype torch.int64, got torch.float32"),
        (torch.tensor([[0, 1], [1, 0]], dtype=torch.int32), TypeError, "got torch.int32"),
        (torch.tensor([[0, 1, 2]]), ValueError, r"shape \(2, E\), got \(1, 3\)"),
        (torch.tensor([0, 1]), ValueError, r"shape \(2, E\), got \(2,\)"),
        (torch.tensor([[0, 4], [1, 0]]), ValueError, r"source node ids .* in \[0, 3\].*to 4"),
        (torch.tensor([[0, 1], [-1, 0]]), ValueError, r"destination node ids .* from -1"),
    ],
)
def test_check_edge_index_errors(edge_index, error, message):
    with pytest.raises(error, match=message):
        check_edge_index(edge_index, 4)


def test_index_errors():
    with pytest.raises(ValueError, match="matching src's first dim"):
        segment_softmax(torch.zeros(3), torch.zeros(2, dtype=torch.int64), 2)
    with pytest.raises(TypeError, match="index of dtype torch.int64, got torch.float32"):
        segment_softmax(torch.zeros(3), torch.zeros(3), 2)
