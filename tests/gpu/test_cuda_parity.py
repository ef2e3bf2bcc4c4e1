"""Parity on a CUDA device (marker ``gpu``; skipped without one): every layer family computes
on the device what it computes on the CPU, and against torch's native CUDA kernels.

Our compiled kernels are CPU-only; on CUDA the layers run their PyTorch code (recurrent
layers: the reference time loop; attention: the blocked PyTorch ``efficient_attention``), so
these tests check those paths, in float64 against the float64 CPU result and the torch.nn
reference on the device. ``SEQATTN_TEST_DEVICE=cpu`` runs the same tests on the CPU (to check
the tests themselves where no GPU is lent); ``make test-gpu`` runs them on CUDA.
"""

from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F

import seqattn.nn as snn
from seqattn.functional import efficient_attention, scaled_dot_product_attention

DEVICE = os.environ.get("SEQATTN_TEST_DEVICE", "cuda")
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(DEVICE == "cuda" and not torch.cuda.is_available(),
                       reason="needs a CUDA device (SEQATTN_TEST_DEVICE=cpu checks the tests)"),
]  # fmt: skip
F64 = torch.float64
TOL = {"rtol": 1e-10, "atol": 1e-10}


def _on(x, device=DEVICE):
    return x.detach().to(device).requires_grad_(x.requires_grad)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_recurrent_layers_match_torch_nn_on_the_device(kind, bidirectional):
    torch.manual_seed(0)
    ref = getattr(torch.nn, kind)(5, 7, num_layers=2, bidirectional=bidirectional,
                                  batch_first=True).to(DEVICE, F64)  # fmt: skip
    ours = getattr(snn, kind)(5, 7, num_layers=2, bidirectional=bidirectional,
                              batch_first=True).to(DEVICE, F64)  # fmt: skip
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(3, 9, 5, dtype=F64, device=DEVICE, requires_grad=True)
    out, _ = ours(x)
    want, _ = ref(x)
    torch.testing.assert_close(out, want, **TOL)
    (g_ours,) = torch.autograd.grad(out.square().sum(), x)
    (g_ref,) = torch.autograd.grad(want.square().sum(), x)
    torch.testing.assert_close(g_ours, g_ref, **TOL)


def test_ragged_lengths_on_the_device_equal_the_cpu():
    torch.manual_seed(1)
    cpu = snn.LSTM(4, 6, batch_first=True).double()
    dev = snn.LSTM(4, 6, batch_first=True).to(DEVICE, F64)
    dev.load_state_dict(cpu.state_dict())
    x, lengths = torch.randn(4, 8, 4, dtype=F64), torch.tensor([8, 3, 5, 1])
    out_cpu, (h_cpu, _) = cpu(x, lengths=lengths)
    out_dev, (h_dev, _) = dev(x.to(DEVICE), lengths=lengths)
    torch.testing.assert_close(out_dev.cpu(), out_cpu, **TOL)
    torch.testing.assert_close(h_dev.cpu(), h_cpu, **TOL)


@pytest.mark.parametrize("is_causal", [False, True])
def test_attention_matches_torchs_kernel_on_the_device(is_causal):
    torch.manual_seed(2)
    q, k, v = (torch.randn(2, 3, 37, 16, dtype=F64, device=DEVICE, requires_grad=True)
               for _ in range(3))  # fmt: skip
    want = F.scaled_dot_product_attention(q, k, v, is_causal=is_causal)
    want_grads = torch.autograd.grad(want.sum(), (q, k, v))
    for got in (scaled_dot_product_attention(q, k, v, is_causal=is_causal),
                efficient_attention(q, k, v, is_causal=is_causal, block_size=8)):  # fmt: skip
        got = got[0] if isinstance(got, tuple) else got
        torch.testing.assert_close(got, want, **TOL)
        grads = torch.autograd.grad(got.sum(), (q, k, v))
        for g, w in zip(grads, want_grads, strict=True):
            torch.testing.assert_close(g, w, **TOL)


def test_fully_masked_rows_give_zeros_not_nan_on_the_device():
    q = torch.randn(1, 1, 4, 8, dtype=F64, device=DEVICE)
    mask = torch.ones(4, 6, dtype=torch.bool, device=DEVICE)
    mask[2] = False  # row 2 sees nothing
    out = efficient_attention(q, q[:, :, :1].expand(1, 1, 6, 8), q[:, :, :1].expand(1, 1, 6, 8),
                              attn_mask=mask)  # fmt: skip
    assert torch.isfinite(out).all() and not out[0, 0, 2].any()


def test_multihead_attention_matches_torch_on_the_device():
    torch.manual_seed(3)
    ref = torch.nn.MultiheadAttention(16, 4, batch_first=True).to(DEVICE, F64)
    ours = snn.MultiHeadAttention(16, 4, batch_first=True).to(DEVICE, F64)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(2, 7, 16, dtype=F64, device=DEVICE)
    out, w = ours(x, x, x)
    want, want_w = ref(x, x, x)
    torch.testing.assert_close(out, want, **TOL)
    torch.testing.assert_close(w, want_w, **TOL)


@pytest.mark.parametrize("name", ["MinGRU", "Mamba", "MLSTM", "DeltaNet", "SSD"])
def test_modern_layers_on_the_device_equal_the_cpu(name):
    torch.manual_seed(4)
    make = {"MinGRU": lambda: snn.MinGRU(8, 8, batch_first=True),
            "Mamba": lambda: snn.Mamba(8), "MLSTM": lambda: snn.MLSTM(8, num_heads=2),
            "DeltaNet": lambda: snn.DeltaNet(8, num_heads=2),
            "SSD": lambda: snn.SSD(8)}  # fmt: skip
    cpu = make[name]().double()
    dev = make[name]().to(DEVICE, F64)
    dev.load_state_dict(cpu.state_dict())
    x = torch.randn(2, 11, 8, dtype=F64)
    out_cpu = cpu(x)[0]
    out_dev = dev(x.to(DEVICE))[0]
    torch.testing.assert_close(out_dev.cpu(), out_cpu, **TOL)


def test_gat_matches_pyg_on_the_device():
    pyg_nn = pytest.importorskip("torch_geometric.nn", reason="torch_geometric absent")
    from seqattn.nn.graph import GATConv

    torch.manual_seed(5)
    ref = pyg_nn.GATConv(6, 4, heads=2).to(DEVICE, F64)
    ours = GATConv(6, 4, heads=2).to(DEVICE, F64)
    ours.load_state_dict(ref.state_dict(), strict=True)  # PyG's names and layout
    x = torch.randn(10, 6, dtype=F64, device=DEVICE)
    edges = torch.randint(0, 10, (2, 30), device=DEVICE)
    torch.testing.assert_close(ours(x, edges), ref(x, edges), **TOL)


def test_beam_search_on_the_device_equals_the_cpu():
    from seqattn.decoding import beam_search
    from seqattn.models import Seq2Seq, Seq2SeqConfig

    torch.manual_seed(6)
    cfg = Seq2SeqConfig(src_vocab=12, tgt_vocab=11, embed_dim=8, hidden_size=8,
                        decoder="bahdanau")  # fmt: skip
    cpu = Seq2Seq(cfg).double().eval()
    dev = Seq2Seq(cfg).to(DEVICE, F64).eval()
    dev.load_state_dict(cpu.state_dict())
    src, lengths = torch.randint(3, 12, (3, 6)), torch.tensor([6, 4, 2])
    found = []
    for model, device in ((cpu, "cpu"), (dev, DEVICE)):
        with torch.no_grad():
            state = model.decode_state(src.to(device), lengths.to(device))
            hyps = beam_search(model.step, state, bos=1, eos=2, beam_size=4, max_len=8)
        found.append(([[list(map(int, t)) for t in row] for row in hyps.tokens], hyps.scores))
    assert found[0][0] == found[1][0]
    torch.testing.assert_close(torch.as_tensor(found[1][1]).cpu(), torch.as_tensor(found[0][1]),
                               **TOL)  # fmt: skip
