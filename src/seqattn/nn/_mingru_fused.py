"""The fused CPU path of :class:`~seqattn.nn.MinGRU` / :class:`~seqattn.nn.MinLSTM`.

``seqattn/csrc/mingru.cpp`` computes, in one pass over time, the gate nonlinearities and the
recurrence of one layer and direction straight from the (B, T, G*H) input projection, and in
one reverse pass the gradients of that projection and of h0 (exact, the gates recomputed).
It is built on first use like the recurrent layers' extension (:mod:`seqattn.nn.recurrent.
_extension`: same compiler flags, same cache, same conditions); with ``SEQATTN_NO_EXT=1``, no
toolchain or a failed build, :func:`load` returns None and logs why once, and the layers run
their Python path instead.
"""

from __future__ import annotations

import logging
import threading
import time
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
    if "done" in _state:
        return _state.get("module")
    with _lock:
        if "done" in _state:
            return _state.get("module")
        reason = _recurrent_ext._why_not()  # SEQATTN_NO_EXT, compiler, ninja
        if reason is None and not _SOURCE.is_file():
            reason = f"C++ source not found at {_SOURCE}"
        module = None
        if reason is None:
            name, flags = _recurrent_ext._flags()
            name = name.replace("seqattn_recurrent_", "seqattn_mingru_")
            start = time.perf_counter()
            try:
                from torch.utils.cpp_extension import load as _load

                module = _load(name, [str(_SOURCE)], extra_cflags=flags, verbose=False)
            except Exception as err:  # a broken toolchain must not break the layers
                reason = f"build failed: {type(err).__name__}: {str(err)[-500:]}"
            else:
                _state["seconds"] = time.perf_counter() - start
                log.info("seqattn minGRU extension %s ready in %.1f s", name, _state["seconds"])
        if module is None:
            log.warning("seqattn minGRU fused path: compiled extension unavailable (%s); "
                        "the layers run the Python recurrence", reason)  # fmt: skip
        _state.update(done=True, module=module, reason=reason)
        return module


def unavailable_reason() -> str | None:
    """Why the extension is not in use (None when it is loaded), after :func:`load`."""
    load()
    return _state.get("reason")


class _FusedMinRNN(torch.autograd.Function):
    @staticmethod
    def forward(ctx, proj, bias, h0, lengths, kind, reverse):
        out, last = load().forward(proj, bias, h0, lengths, kind, reverse)
        ctx.save_for_backward(proj, bias, out, h0, lengths)
        ctx.kind, ctx.reverse = kind, reverse
        ctx.set_materialize_grads(False)
        return out, last

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out, grad_last):
        proj, bias, out, h0, lengths = ctx.saved_tensors
        if grad_out is None and grad_last is None:
            return None, None, None, None, None, None
        dproj, dh0, dbias = load().backward(
            proj, bias, out, h0, lengths, grad_out, grad_last, ctx.kind, ctx.reverse
        )
        need = ctx.needs_input_grad
        return dproj, (dbias if need[1] else None), (dh0 if need[2] else None), None, None, None


def fused_minrnn(
    proj: Tensor,
    bias: Tensor | None,
    h0: Tensor | None,
    lengths: Tensor | None,
    kind: int,
    reverse: bool,
) -> tuple[Tensor, Tensor]:
    """Gates and recurrence of one minGRU (``kind=MINGRU``) or minLSTM layer and direction.

    Args:
        proj: the input projection x W^T, (B, T, G*H) with G = 2 ([z; h~]) or 3 ([f; i; h~]).
        bias: (G*H,) added to ``proj`` inside the kernel (cheaper than addmm's copy), or None.
        h0: (B, H) initial state, or None for zeros.
        lengths: (B,) valid steps of right-padded rows, or None (all T).
        reverse: run each row from its last valid step to its first.

    Shape:
        Returns output (B, T, H) (zeros at padded steps, in the original time order) and
        last (B, H), the state after each row's final step (h0 for an empty row).
    """
    B, _, GH = proj.shape
    H = GH // (2 if kind == MINGRU else 3)
    if h0 is None:
        h0 = proj.new_zeros(B, H)
    if lengths is not None:
        lengths = lengths.to(device="cpu", dtype=torch.long).contiguous()
    if bias is not None:
        bias = bias.contiguous()
    h0 = h0.to(proj.dtype).contiguous()
    return _FusedMinRNN.apply(proj.contiguous(), bias, h0, lengths, kind, reverse)
