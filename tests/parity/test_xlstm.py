"""xLSTM: mLSTM's parallel and chunked forms equal its recurrence; sLSTM equals its definition."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from tests.parity.test_mamba import _assert_ragged_from_state_equals_unpadded
from tests.parity.test_modern_recurrent import (
    _assert_grads_equal,
    _assert_ragged_equals_unpadded,
    _assert_streaming_equals_forward,
)

from seqattn.nn.xlstm import MLSTM, SLSTM

F64 = torch.float64


def _mlstm(seed=0):
    torch.manual_seed(seed)
    cell = MLSTM(12, num_heads=3).double()
    with torch.no_grad():  # input gates large enough that the stabiliser matters
        cell.gate_proj.bias[:3].copy_(torch.tensor([2.0, -1.0, 5.0]))
    return cell


def _mlstm_paper_parallel(cell, x):
    """The paper's stabilised parallel form (App. A.3) from a zero state, written independently."""
    B, T, D = x.shape
    H, Dh = cell.num_heads, cell.head_dim
    q, k, v = cell.in_proj(x).view(B, T, 3, H, Dh).permute(2, 0, 3, 1, 4)
    i_pre, f_pre = cell.gate_proj(x).transpose(1, 2).split(H, 1)
    Fc = F.logsigmoid(f_pre).cumsum(-1)
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    logD = (Fc[..., :, None] - Fc[..., None, :] + i_pre[..., None, :]).masked_fill(
        ~causal, float("-inf")
    )
    m = logD.amax(-1, keepdim=True)
    Ct = (q @ k.transpose(-1, -2) / Dh**0.5) * torch.exp(logD - m)
    norm = torch.maximum(Ct.sum(-1, keepdim=True).abs(), torch.exp(-m))
    h = ((Ct / norm) @ v).transpose(1, 2).reshape(B, T, D)
    return cell.out_proj(torch.sigmoid(cell.o_proj(x)) * h)


def _mlstm_unstabilised(cell, x):
    """The recurrence of Eqs. 19-27 without the stabiliser (fine in float64 at small T)."""
    B, T, D = x.shape
    H, Dh = cell.num_heads, cell.head_dim
    q, k, v = cell.in_proj(x).view(B, T, 3, H, Dh).permute(2, 0, 3, 1, 4)
    i_pre, f_pre = cell.gate_proj(x).transpose(1, 2).split(H, 1)
    C, n, hs = torch.zeros(B, H, Dh, Dh, dtype=x.dtype), torch.zeros(B, H, Dh, dtype=x.dtype), []
    for t in range(T):
        f, i = torch.sigmoid(f_pre[..., t, None]), torch.exp(i_pre[..., t, None])
        kt = k[:, :, t] / Dh**0.5
        C = f[..., None] * C + i[..., None] * v[:, :, t, :, None] * kt[..., None, :]
        n = f * n + i * kt
        den = torch.clamp((n * q[:, :, t]).sum(-1, keepdim=True).abs(), min=1.0)
        hs.append(torch.einsum("bhvk,bhk->bhv", C, q[:, :, t]) / den)
    h = torch.stack(hs, 2).transpose(1, 2).reshape(B, T, D)
    return cell.out_proj(torch.sigmoid(cell.o_proj(x)) * h)


@pytest.mark.parametrize(
    "mode, chunk_size", [("parallel", 64), ("chunked", 1), ("chunked", 4), ("chunked", 7)]
)
def test_mlstm_parallel_and_chunked_equal_recurrent(mode, chunk_size):
    cell = _mlstm()
    x = torch.randn(2, 17, 12, dtype=F64, requires_grad=True)
    g = torch.Generator().manual_seed(1)
    state = (
        torch.randn(2, 3, 4, 4, dtype=F64, generator=g),
        torch.randn(2, 3, 4, dtype=F64, generator=g),
        torch.randn(2, 3, dtype=F64, generator=g),
    )
    y_s, st_s = cell(x, state, mode="sequential")
    y_c, st_c = cell(x, state, mode=mode, chunk_size=chunk_size)
    torch.testing.assert_close(y_c, y_s)
    for a, b in zip(st_c, st_s, strict=True):
        torch.testing.assert_close(a, b)
    _assert_grads_equal(cell, x, (y_s, st_s), (y_c, st_c))


def test_mlstm_forms_equal_the_papers_parallel_and_unstabilised_definitions():
    cell = _mlstm()
    x = torch.randn(2, 11, 12, dtype=F64)
    with torch.no_grad():
        ref = _mlstm_paper_parallel(cell, x)
        torch.testing.assert_close(ref, _mlstm_unstabilised(cell, x))
        for mode in ("sequential", "parallel", "chunked"):
            torch.testing.assert_close(cell(x, mode=mode, chunk_size=3)[0], ref)


def test_mlstm_stabiliser_keeps_large_input_gates_finite():
    cell = _mlstm()
    with torch.no_grad():
        cell.gate_proj.bias[:3].fill_(800.0)  # exp(800) overflows float64
        x = torch.randn(1, 6, 12, dtype=F64)
        assert not torch.isfinite(_mlstm_unstabilised(cell, x)).all()
        y = {mode: cell(x, mode=mode, chunk_size=4)[0] for mode in ("sequential", "chunked")}
    assert torch.isfinite(y["sequential"]).all()
    torch.testing.assert_close(y["chunked"], y["sequential"])


def test_mlstm_ragged_lengths_streaming_and_finite_gradients():
    x = torch.randn(3, 9, 12, dtype=F64, requires_grad=True)
    lengths = torch.tensor([9, 4, 0])
    _assert_ragged_equals_unpadded(_mlstm(), x.detach(), lengths)
    _assert_streaming_equals_forward(_mlstm(), x.detach())
    cell = _mlstm()
    for mode in ("sequential", "chunked"):  # the -inf input gates of padded steps
        y, (C, n, m) = cell(x, lengths=lengths, mode=mode, chunk_size=4)
        grads = torch.autograd.grad(y.sum() + C.sum() + m.sum(), [x, *cell.parameters()])
        assert all(torch.isfinite(g).all() for g in grads)


def test_xlstm_ragged_lengths_from_a_carried_state():
    x = torch.randn(3, 12, 12, dtype=F64)
    for mode in ("sequential", "chunked"):
        _assert_ragged_from_state_equals_unpadded(
            _mlstm(), x, torch.tensor([9, 1, 0]), mode=mode, chunk_size=4
        )
    _assert_ragged_from_state_equals_unpadded(_slstm(), x[..., :5], torch.tensor([9, 1, 0]))


def _slstm(seed=0, **kw):
    torch.manual_seed(seed)
    return SLSTM(5, hidden_size=6, num_heads=2, **kw).double()


def _slstm_reference(cell, x):
    """Eqs. 8-14 unstabilised, with the block-diagonal R written as one dense matrix."""
    B, T, _ = x.shape
    Hd = cell.hidden_size
    # R_dense[g] (hidden, hidden) = block_diag over heads of weight_hh[head, g]
    R = torch.stack([torch.block_diag(*cell.weight_hh[:, g]) for g in range(4)])
    h, c, n = (torch.zeros(B, Hd, dtype=x.dtype) for _ in range(3))
    ys = []
    for t in range(T):
        pre = F.linear(x[:, t], cell.weight_ih, cell.bias_ih).view(B, 4, Hd)
        i_pre, f_pre, z_pre, o_pre = (pre + torch.einsum("gde,be->bgd", R, h)).unbind(1)
        f = torch.sigmoid(f_pre) if cell.forget_gate == "sigmoid" else torch.exp(f_pre)
        c = f * c + torch.exp(i_pre) * torch.tanh(z_pre)
        n = f * n + torch.exp(i_pre)
        h = torch.sigmoid(o_pre) * c / n
        ys.append(h)
    return torch.stack(ys, 1), (h, c, n)


@pytest.mark.parametrize("forget_gate", ["sigmoid", "exp"])
def test_slstm_equals_unstabilised_dense_definition(forget_gate):
    cell = _slstm(forget_gate=forget_gate)
    x = torch.randn(2, 13, 5, dtype=F64, requires_grad=True)
    y, (h, c, n, m) = cell(x)
    y_ref, (h_ref, c_ref, n_ref) = _slstm_reference(cell, x)
    torch.testing.assert_close(y, y_ref)
    torch.testing.assert_close(h, h_ref)
    torch.testing.assert_close(c * torch.exp(m), c_ref)  # stored c is the true one times e^-m
    torch.testing.assert_close(n * torch.exp(m), n_ref)
    w = torch.randn_like(y)
    params = [x, *cell.parameters()]
    for a, b in zip(
        torch.autograd.grad((y * w).sum(), params),
        torch.autograd.grad((y_ref * w).sum(), params),
        strict=True,
    ):
        torch.testing.assert_close(a, b)


def test_slstm_recurrence_is_block_diagonal_per_head():
    cell = _slstm()
    h0 = torch.zeros(1, 6, dtype=F64, requires_grad=True)
    state = (h0, *cell.init_state(1, dtype=F64)[1:])
    y, _ = cell(torch.randn(1, 1, 5, dtype=F64), state)
    (g,) = torch.autograd.grad(y[0, 0, :3].sum(), h0)  # head 0's units
    assert torch.all(g[0, 3:] == 0) and torch.any(g[0, :3] != 0)


def test_slstm_stabiliser_ragged_and_streaming():
    cell = _slstm()
    with torch.no_grad():
        cell.bias_ih[:6].fill_(800.0)
        x = torch.randn(2, 5, 5, dtype=F64)
        assert not torch.isfinite(_slstm_reference(cell, x)[0]).all()
        assert torch.isfinite(cell(x)[0]).all()
    x = torch.randn(3, 9, 5, dtype=F64)
    _assert_ragged_equals_unpadded(_SeqOnly(_slstm()), x, torch.tensor([9, 4, 0]))
    _assert_streaming_equals_forward(_SeqOnly(_slstm()), x)


class _SeqOnly(torch.nn.Module):
    """sLSTM has one (recurrent) form: drop the helpers' mode/chunk_size arguments."""

    def __init__(self, cell):
        super().__init__()
        self.cell = cell
        self.init_state, self.step = cell.init_state, cell.step

    def forward(self, x, state=None, lengths=None, mode=None, chunk_size=None):
        return self.cell(x, state, lengths=lengths)


def test_xlstm_bad_inputs_raise_value_errors():
    cell, x = _mlstm(), torch.randn(2, 5, 12, dtype=F64)
    with pytest.raises(ValueError, match="expected x of shape"):
        cell(torch.randn(2, 5, 10, dtype=F64))
    with pytest.raises(ValueError, match="expected lengths"):
        cell(x, lengths=torch.tensor([6, 1]))
    with pytest.raises(ValueError, match="expected state"):
        cell(x, cell.init_state(3, dtype=F64))
    with pytest.raises(ValueError, match="expected mode"):
        cell(x, mode="scan")
    with pytest.raises(ValueError, match="expected chunk_size"):
        cell(x, chunk_size=0)
    with pytest.raises(ValueError, match="expected x_t"):
        cell.step(x)
    with pytest.raises(ValueError, match="expected embed_dim divisible"):
        MLSTM(10, num_heads=3)
    s = _slstm()
    with pytest.raises(ValueError, match="expected x of shape"):
        s(torch.randn(2, 5, 4, dtype=F64))
    with pytest.raises(ValueError, match="expected state"):
        s(torch.randn(2, 5, 5, dtype=F64), s.init_state(3, dtype=F64))
    with pytest.raises(ValueError, match="expected x_t"):
        s.step(torch.randn(2, 5, 5, dtype=F64))
    with pytest.raises(ValueError, match="divisible by num_heads"):
        SLSTM(5, hidden_size=7, num_heads=2)
    with pytest.raises(ValueError, match="expected forget_gate"):
        SLSTM(5, hidden_size=6, forget_gate="tanh")
