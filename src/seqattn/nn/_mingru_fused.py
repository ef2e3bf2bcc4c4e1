"""The fused CPU path of :class:`~seqattn.nn.MinGRU` / :class:`~seqattn.nn.MinLSTM`.

``seqattn/csrc/mingru.cpp`` computes, in one pass over time, the gate nonlinearities and the
recurrence of one layer and direction straight from the (B, T, G*hidden_size) input
projection, and in one reverse pass the gradients of that projection, of the bias and of h0
(exact, the gates recomputed). The projection and its gradients are single matmuls around it.
It is built on first use like the recurrent layers' extension (:mod:`seqattn.nn.recurrent.
_extension`: same compiler flags, same cache, same conditions); with ``SEQATTN_NO_EXT=1``, no
toolchain or a failed build, :func:`load` returns None and logs why once, and the layers run
their Python path instead.

With ``SEQATTN_HUGEPAGES=1`` (read once per process) the large buffers written here (the
projection, the outputs, the gradients) ask the OS for transparent huge pages (``madvise``):
at T = 4096 faulting fresh 4 KiB pages costs as much as the fused pass itself. Opt-in, because
the gain varied from run to run on a shared machine (docs/benchmarks.md).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import torch
from torch import Tensor

from seqattn.nn.recurrent import _extension as _recurrent_ext

__all__ = ["load", "unavailable_reason", "fused_minrnn", "MINGRU", "MINLSTM"]

log = logging.getLogger(__name__)

MINGRU, MINLSTM = 0, 1
_SOURCE = Path(__file__).resolve().parents[1] / "csrc" / "mingru.cpp"
_lock = threading.Lock()
_state: dict = {}


def load():
    """The compiled module (``forward``/``backward``), or None with the reason logged once."""
    return _recurrent_ext.build_once(_state, _lock, _SOURCE, "seqattn_mingru_", "minGRU",
                                     "the layers run the Python recurrence", log)  # fmt: skip


def unavailable_reason() -> str | None:
    """Why the extension is not in use (None when it is loaded), after :func:`load`."""
    load()
    return _state.get("reason")


def _mm_into(ext, a: Tensor, b: Tensor, shape: tuple[int, ...]) -> Tensor:
    """a @ b (2-D) written into a fresh huge-page buffer of ``shape`` (see csrc ``fresh``)."""
    out = ext.fresh(a, list(shape))
    torch.mm(a, b, out=out.view(-1, b.shape[1]))
    return out


class _FusedMinRNN(torch.autograd.Function):
    """x (B, T, I) -> the projection x W^T and the fused pass; backward: dW, dx, dbias, dh0.

    The projection is computed here rather than by ``nn.functional.linear`` so that it (and in
    backward the gradients dproj and dx) lands in a buffer that asked for huge pages."""

    @staticmethod
    def forward(ctx, x, weight, bias, h0, lengths, kind, reverse):
        ext = load()
        B, T, I = x.shape
        proj = _mm_into(ext, x.reshape(B * T, I), weight.t(), (B, T, weight.shape[0]))
        out, last = ext.forward(proj, bias, h0, lengths, kind, reverse)
        ctx.save_for_backward(x, weight, proj, bias, out, h0, lengths)
        ctx.kind, ctx.reverse = kind, reverse
        ctx.set_materialize_grads(False)
        return out, last

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out, grad_last):
        x, weight, proj, bias, out, h0, lengths = ctx.saved_tensors
        if grad_out is None and grad_last is None:
            return None, None, None, None, None, None, None
        ext = load()
        dproj, dh0, dbias = ext.backward(
            proj, bias, out, h0, lengths, grad_out, grad_last, ctx.kind, ctx.reverse
        )
        need = ctx.needs_input_grad
        B, T, I = x.shape
        dp = dproj.view(B * T, -1)
        dx = _mm_into(ext, dp, weight, (B, T, I)) if need[0] else None
        dw = dp.t().mm(x.reshape(B * T, I)) if need[1] else None
        return (dx, dw, (dbias if need[2] else None), (dh0 if need[3] else None), None, None,
                None)  # fmt: skip


def fused_minrnn(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    h0: Tensor | None,
    lengths: Tensor | None,
    kind: int,
    reverse: bool,
) -> tuple[Tensor, Tensor]:
    """Gates and recurrence of one minGRU (``kind=MINGRU``) or minLSTM layer and direction.

    Args:
        x: the layer input (B, T, I).
        weight: (G*hidden_size, I), rows [z; h~] (G = 2, minGRU) or [f; i; h~] (G = 3,
            minLSTM).
        bias: (G*hidden_size,) added to x W^T inside the kernel (cheaper than addmm's copy), or
            None.
        h0: (B, hidden_size) initial state, or None for zeros.
        lengths: (B,) valid steps of right-padded rows, or None (all T).
        reverse: run each row from its last valid step to its first.

    Shape:
        Returns output (B, T, hidden_size) (zeros at padded steps, in the original time order)
        and last (B, hidden_size), the state after each row's final step (h0 for an empty row).
    """
    H = weight.shape[0] // (2 if kind == MINGRU else 3)
    if h0 is None:
        h0 = x.new_zeros(x.shape[0], H)
    if lengths is not None:
        lengths = lengths.to(device="cpu", dtype=torch.long).contiguous()
    if bias is not None:
        bias = bias.contiguous()
    h0 = h0.to(x.dtype).contiguous()
    return _FusedMinRNN.apply(x, weight, bias, h0, lengths, kind, reverse)
