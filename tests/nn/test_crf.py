"""Linear-chain CRF: forward algorithm and Viterbi against brute-force enumeration of every tag
path (float64, small T and K, ragged), gradients, masking invariance, bad input."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from seqattn.nn.crf import CRF


def _crf(k: int, seed: int = 0) -> CRF:
    torch.manual_seed(seed)
    crf = CRF(k).double()
    with torch.no_grad():  # larger than the U(-0.1, 0.1) init, so transitions matter
        for p in crf.parameters():
            p.normal_(0.0, 1.0)
    return crf


def _path_score(crf: CRF, emissions: torch.Tensor, path: tuple[int, ...]) -> float:
    """s(y) of one sequence (L, K) written out term by term from the definition."""
    crf = _Detached(crf)
    s = float(crf.start_transitions[path[0]]) + float(crf.end_transitions[path[-1]])
    s += sum(float(emissions[t, y]) for t, y in enumerate(path))
    s += sum(float(crf.transitions[a, b]) for a, b in itertools.pairwise(path))
    return s


class _Detached:
    """The CRF's scores without autograd (plain float reads)."""

    def __init__(self, crf: CRF) -> None:
        self.start_transitions = crf.start_transitions.detach()
        self.end_transitions = crf.end_transitions.detach()
        self.transitions = crf.transitions.detach()


def _brute(crf: CRF, emissions: torch.Tensor, length: int) -> tuple[float, float, tuple]:
    """(log Z, best score, best path) of one sequence over all K^length paths."""
    k = emissions.shape[-1]
    scores = {p: _path_score(crf, emissions[:length], p)
              for p in itertools.product(range(k), repeat=length)}  # fmt: skip
    best = max(scores, key=scores.get)
    top = max(scores.values())
    log_z = top + math.log(sum(math.exp(v - top) for v in scores.values()))
    return log_z, scores[best], best


def _ragged(b: int, t: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, t + 1, (b,), generator=g)
    lengths[0] = t  # one full row, so T is reached
    return lengths, torch.arange(t)[None, :] < lengths[:, None]


CASES = [(t, k, seed) for t in (1, 2, 3, 4) for k in (1, 2, 3) for seed in (0, 1)]


@pytest.mark.parametrize("t,k,seed", CASES)
def test_forward_algorithm_and_viterbi_equal_brute_force(t, k, seed):
    crf = _crf(k, seed)
    b = 4
    lengths, mask = _ragged(b, t, seed)
    emissions = torch.randn(
        b, t, k, dtype=torch.float64, generator=torch.Generator().manual_seed(seed)
    )
    log_z = crf.log_partition(emissions, mask).detach()
    scores, paths = crf.viterbi(emissions, mask)
    for i in range(b):
        want_z, want_best, want_path = _brute(crf, emissions[i], int(lengths[i]))
        assert math.isclose(float(log_z[i]), want_z, rel_tol=1e-12, abs_tol=1e-12)
        assert math.isclose(float(scores[i].detach()), want_best, rel_tol=1e-12, abs_tol=1e-12)
        assert tuple(paths[i]) == want_path
        assert len(paths[i]) == int(lengths[i])


@pytest.mark.parametrize("t,k,seed", [(4, 3, 0), (3, 2, 1), (1, 3, 2)])
def test_gold_score_and_likelihood_equal_the_definition(t, k, seed):
    crf = _crf(k, seed)
    lengths, mask = _ragged(3, t, seed + 10)
    emissions = torch.randn(3, t, k, dtype=torch.float64)
    tags = torch.randint(0, k, (3, t))
    got = crf.score(emissions, tags, mask).detach()
    ll = crf.log_likelihood(emissions, tags, mask).detach()
    for i in range(3):
        n = int(lengths[i])
        want = _path_score(crf, emissions[i], tuple(tags[i, :n].tolist()))
        assert math.isclose(float(got[i]), want, rel_tol=1e-12, abs_tol=1e-12)
        log_z = _brute(crf, emissions[i], n)[0]
        assert math.isclose(float(ll[i]), want - log_z, rel_tol=1e-12, abs_tol=1e-12)
    # the probabilities of all paths of one sequence sum to 1
    n = int(lengths[0])
    log_z0 = float(crf.log_partition(emissions[:1, :n])[0].detach())
    total = sum(math.exp(_path_score(crf, emissions[0], p) - log_z0)
                for p in itertools.product(range(k), repeat=n))  # fmt: skip
    assert math.isclose(total, 1.0, rel_tol=1e-12)


def test_reductions():
    crf = _crf(3)
    _, mask = _ragged(5, 6, 3)
    emissions = torch.randn(5, 6, 3, dtype=torch.float64)
    tags = torch.randint(0, 3, (5, 6))
    nll = crf(emissions, tags, mask, reduction="none")
    assert nll.shape == (5,) and bool((nll > 0).all())
    assert torch.allclose(crf(emissions, tags, mask, reduction="sum"), nll.sum())
    assert torch.allclose(crf(emissions, tags, mask), nll.mean())
    assert torch.allclose(
        crf(emissions, tags, mask, reduction="token_mean"), nll.sum() / mask.sum()
    )


def test_gradients_finite_and_marginals():
    """d log Z / d e[b, t, k] is the marginal P(y_t = k): it sums to 1 over k at real tokens
    and is 0 at padding; the NLL's gradients are finite and pass gradcheck."""
    crf = _crf(3)
    lengths, mask = _ragged(4, 5, 7)
    emissions = torch.randn(4, 5, 3, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(crf.log_partition(emissions, mask).sum(), emissions)
    assert torch.allclose(grad.sum(-1), mask.double(), atol=1e-12)
    assert bool((grad >= 0).all())
    tags = torch.randint(0, 3, (4, 5))
    crf(emissions, tags, mask).backward()
    for tensor in (emissions.grad, *(p.grad for p in crf.parameters())):
        assert tensor is not None and bool(torch.isfinite(tensor).all())
    small = emissions.detach()[:2, :3].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda e: crf(e, tags[:2, :3], mask[:2, :3]), (small,))


def test_large_scores_stay_finite():
    crf = _crf(3)
    emissions = torch.randn(2, 6, 3, dtype=torch.float64) * 1e4
    tags = torch.randint(0, 3, (2, 6))
    assert bool(torch.isfinite(crf(emissions, tags)).all())
    assert bool(torch.isfinite(crf.log_partition(emissions.float().requires_grad_())).all())


def test_padding_changes_nothing():
    """Results of a padded batch equal those of each sequence alone, whatever the padding's
    emissions and tag values hold."""
    crf = _crf(3)
    lengths, mask = _ragged(5, 6, 11)
    emissions = torch.randn(5, 6, 3, dtype=torch.float64)
    tags = torch.randint(0, 3, (5, 6))
    noisy_e = torch.where(mask[..., None], emissions, torch.randn_like(emissions) * 100)
    noisy_t = torch.where(mask, tags, torch.full_like(tags, -100))
    for e, y in ((emissions, tags), (noisy_e, noisy_t)):
        nll = crf(e, y, mask, reduction="none")
        log_z = crf.log_partition(e, mask)
        paths = crf.decode(e, mask)
        for i in range(5):
            n = int(lengths[i])
            alone = crf(emissions[i : i + 1, :n], tags[i : i + 1, :n], reduction="none")
            assert torch.allclose(nll[i], alone[0], rtol=1e-13, atol=1e-13)
            assert torch.allclose(log_z[i], crf.log_partition(emissions[i : i + 1, :n])[0])
            assert paths[i] == crf.decode(emissions[i : i + 1, :n])[0]


def test_mask_none_is_all_real():
    crf = _crf(2)
    emissions = torch.randn(3, 4, 2, dtype=torch.float64)
    full = torch.ones(3, 4, dtype=torch.bool)
    assert torch.equal(crf.log_partition(emissions), crf.log_partition(emissions, full))
    assert crf.decode(emissions) == crf.decode(emissions, full)


def test_learns_a_transition_rule():
    """Emissions that cannot tell tags apart: only the transitions (0 -> 1 -> 0 ...) can, and
    training the CRF alone learns them."""
    torch.manual_seed(0)
    crf = CRF(2)
    opt = torch.optim.Adam(crf.parameters(), lr=0.1)
    tags = torch.tensor([[0, 1, 0, 1, 0, 1]] * 4)
    emissions = torch.zeros(4, 6, 2)
    for _ in range(100):
        opt.zero_grad()
        crf(emissions, tags).backward()
        opt.step()
    assert crf.decode(emissions[:1])[0] == [0, 1, 0, 1, 0, 1]


BAD = [
    (lambda: CRF(0), ValueError, "num_tags"),
    (lambda: CRF(True), ValueError, "num_tags"),
    (lambda: CRF(3).log_partition(torch.zeros(2, 4, 2)), ValueError, r"\(B, T, 3\)"),
    (lambda: CRF(3).log_partition(torch.zeros(4, 3)), ValueError, r"\(B, T, 3\)"),
    (lambda: CRF(3).log_partition(torch.zeros(2, 0, 3)), ValueError, "T >= 1"),
    (lambda: CRF(3).log_partition(torch.zeros(2, 4, 3, dtype=torch.long)), TypeError, "float"),
    (lambda: CRF(3).log_partition(torch.zeros(2, 4, 3), torch.ones(2, 4)), TypeError, "bool"),
    (lambda: CRF(3).log_partition(torch.zeros(2, 4, 3), torch.ones(2, 3, dtype=torch.bool)),
     ValueError, "mask of shape"),
    (lambda: CRF(3).decode(torch.zeros(2, 4, 3), torch.tensor([[True] * 4, [False] * 4])),
     ValueError, "at least one token"),
    (lambda: CRF(3).decode(torch.zeros(1, 3, 3), torch.tensor([[True, False, True]])),
     ValueError, "prefix"),
    (lambda: CRF(3)(torch.zeros(1, 3, 3), torch.tensor([[0, 1, 3]])), ValueError, r"\[0, 3\)"),
    (lambda: CRF(3)(torch.zeros(1, 3, 3), torch.tensor([[0, 1, -1]])), ValueError, r"\[0, 3\)"),
    (lambda: CRF(3)(torch.zeros(1, 3, 3), torch.tensor([[0.0, 1.0, 2.0]])), TypeError, "int64"),
    (lambda: CRF(3)(torch.zeros(1, 3, 3), torch.tensor([[0, 1]])), ValueError, "tags of shape"),
    (lambda: CRF(3)(torch.zeros(1, 3, 3), torch.tensor([[0, 1, 2]]), reduction="avg"),
     ValueError, "reduction"),
]  # fmt: skip


@pytest.mark.parametrize("call,error,match", BAD)
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_out_of_range_tags_at_padding_are_fine():
    crf = CRF(3)
    mask = torch.tensor([[True, True, False]])
    loss = crf(torch.zeros(1, 3, 3), torch.tensor([[0, 1, 99]]), mask)
    assert bool(torch.isfinite(loss))
