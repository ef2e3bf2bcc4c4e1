"""Fast path of the recurrent layers: one autograd Function per layer and direction.

The reference layers (:mod:`.layers`) run the textbook loop in Python and let autograd record
every step, which costs about ten small ops per step forward and as many backward. Here one
:class:`torch.autograd.Function` runs the whole time loop of a layer and direction, with the
backward through time written by hand (the same equations as :mod:`.cells`, differentiated):

LSTM, with activated gates i, f, g, o, c_t and tc_t = tanh(c_t) saved by the forward::

    dh  = dh_{t+1 -> t} + dout_t          dc = dc_{t+1 -> t} + dh ⊙ o ⊙ (1 - tc²)
    di = dc ⊙ g ⊙ i(1-i)    df = dc ⊙ c_{t-1} ⊙ f(1-f)    dg = dc ⊙ i ⊙ (1-g²)
    do = dh ⊙ tc ⊙ o(1-o)   dc_{t -> t-1} = dc ⊙ f        dh_{t -> t-1} = dgates W_hh

GRU (r, z, n and hn = W_hn h + b_hn saved)::

    dn = dh ⊙ (1-z) ⊙ (1-n²)   dr = dn ⊙ hn ⊙ r(1-r)   dz = dh ⊙ (h_{t-1} - n) ⊙ z(1-z)
    d(input gates) = (dr, dz, dn)     d(hidden gates) = (dr, dz, dn ⊙ r)
    dh_{t -> t-1} = d(hidden gates) W_hh + dh ⊙ z

RNN: dpre = dh ⊙ (1 - h²) (tanh) or dh ⊙ [h > 0] (ReLU); dh_{t -> t-1} = dpre W_hh.

The weight gradients are matmuls over all steps after the loop: dW_hh = Σ_t dgates_tᵀ h_{t-1}
and dW_ih = Σ_t dgates_tᵀ x_t (one matmul for both, over [x_t, h_{t-1}], for RNN and LSTM),
dx = dgates W_ih. RNN and LSTM take x itself and project it inside the per-step GEMM,
[x_t, h_{t-1}] [W_ih, W_hh]ᵀ + (b_ih + b_hh) (the two biases only ever add up); the GRU takes
the projections xp of all steps (its b_hn sits inside r ⊙ (W_hn h + b_hn)).

Two engines run the same algorithm: the compiled one (``seqattn/csrc/recurrent.cpp``, CPU,
float32/float64; one GEMM plus one fused vectorised gate kernel per step) and
:class:`PythonEngine` below (any device and dtype), used when the extension is unavailable.

Variable lengths: a row b is live at time t iff t < len[b]. A dead row keeps its state, its
output is zero and the state gradient passes through it. The reverse direction runs
t = T-1 .. 0, so each sequence starts at its own end without reversing the input.

Shape glossary: T time, B batch, hidden_size by name, G gates (1 RNN, 4 LSTM, 3 GRU).
"""

from __future__ import annotations

import weakref

import torch
from torch import Tensor

from seqattn.nn.recurrent import _extension

__all__ = [
    "MODES", "PythonEngine", "recurrence", "projection", "engine_for", "ONEDNN", "FUSED_LSTM",
    "workspace_info", "clear_workspace",
]  # fmt: skip

#: Mode names of :class:`~seqattn.nn.recurrent.layers.RNNBase` -> the integer the C++ side uses.
MODES = {"RNN_TANH": 0, "RNN_RELU": 1, "LSTM": 2, "GRU": 3}
_LSTM, _GRU = 2, 3

#: Use oneDNN (torch's ``mkldnn::_linear_pointwise``) for float32 CPU GEMMs: the per-step
#: GEMMs of the compiled engine and the input projection; off, ``at::mm``/``F.linear`` (MKL).
ONEDNN = True

#: float32 LSTM on the CPU through the compiled engine's fused kernels where they apply
#: (AVX2/AVX-512 build, hidden size a multiple of the vector width): forward and backward
#: through time each as one parallel region, a register-tiled GEMM per block of hidden units
#: with the cell update (or the gate gradients, then the weight gradients) from the
#: registers, one barrier per step. Off: the generic per-step oneDNN GEMM and gate pass.
FUSED_LSTM = True


def _live(lengths: Tensor | None, steps: int, device) -> Tensor | None:
    """(T, B, 1) bool: step t is a real step of sequence b."""
    if lengths is None:
        return None
    return (torch.arange(steps, device=device)[:, None] < lengths.to(device)[None, :])[..., None]


# Inference reuses the packed [W_ih, W_hh] of a layer across calls while the weights are
# unchanged (packing takes about 0.7 ms for a 1024 x 384 weight here: a tenth of an LSTM
# layer's inference at T = 64). Keyed by the kind of packing and the weight tensors' identity,
# checked through weak references and their version counters, so an optimiser step, copy_ or
# load_state_dict (all in place: the version moves) or a freed tensor never serves a stale
# packing. Training packs per call, as the weights change after every step anyway.
_PACKED: dict[tuple, tuple] = {}
_PACKED_MAX = 64


def _packed_weight(kind: str, pack, w_ih: Tensor, w_hh: Tensor, batch: int) -> Tensor | None:
    """``pack(w_ih, w_hh)``, cached as described above under ``(kind, ids, batch)``."""
    key = (kind, id(w_ih), id(w_hh), batch)
    try:
        versions = (w_ih._version, w_hh._version)
    except RuntimeError:  # inference tensors keep no version counter: no cache
        return pack(w_ih, w_hh)
    hit = _PACKED.get(key)
    if hit is not None:
        ref_ih, ref_hh, seen, packed = hit
        if ref_ih() is w_ih and ref_hh() is w_hh and seen == versions:
            return packed
    packed = pack(w_ih, w_hh)
    if packed is None:  # this packing does not apply (cheap to find out again)
        return None
    if len(_PACKED) >= _PACKED_MAX:
        _PACKED.pop(next(iter(_PACKED)))  # the oldest entry
    _PACKED[key] = (weakref.ref(w_ih), weakref.ref(w_hh), versions, packed)
    return packed


def _pack_for(engine, mode: int, x: Tensor, w_ih: Tensor, w_hh: Tensor, save: bool):
    """The packed weight the engine's merged forward takes, or None: panels for the fused
    LSTM kernel (cached in inference, fresh in training), else oneDNN's reordered weight
    (inference only)."""
    if x.dtype != torch.float32 or x.device.type != "cpu":
        return None
    if mode == _LSTM and FUSED_LSTM and hasattr(engine, "pack_lstm"):
        if save:
            packed = engine.pack_lstm(w_ih, w_hh)
        else:
            packed = _packed_weight("lstm", engine.pack_lstm, w_ih, w_hh, 0)
        if packed is not None:
            return packed
    if not save and ONEDNN and hasattr(engine, "pack"):
        batch = x.shape[1]
        return _packed_weight(
            "onednn", lambda a, b: engine.pack(torch.cat([a, b], 1), batch), w_ih, w_hh, batch
        )
    return None


def workspace_info() -> dict[str, int]:
    """The compiled engine's pool of large buffers: ``cached_bytes`` (freed blocks kept for
    reuse) and ``cap_bytes`` (its bound, ``SEQATTN_WORKSPACE_MB``, default 512 MB; 0: off).

    States, saved gate activations and gate gradients of at least 1 MB come from this pool:
    glibc maps large blocks fresh from the OS on every call, and page-faulting them in again
    cost more than the recurrent GEMMs in an LSTM training step at T = 256 on the dev machine.
    Without the extension both numbers are 0."""
    module = _extension.load()
    if module is None:
        return {"cached_bytes": 0, "cap_bytes": 0}
    cached, cap = module.workspace(False)
    return {"cached_bytes": int(cached), "cap_bytes": int(cap)}


def clear_workspace() -> int:
    """Frees the pool's cached blocks (buffers still in use are not affected); returns the
    number of bytes freed."""
    module = _extension.load()
    if module is None:
        return 0
    cached, _ = module.workspace(False)
    module.workspace(True)
    return int(cached)


class PythonEngine:
    """The algorithm of ``csrc/recurrent.cpp`` in torch ops (same signatures, same buffers)."""

    @staticmethod
    def forward(
        mode, reverse, xp, h0, c0, w_hh, b_hh, lengths, save, allow_onednn, x=None, w_ih=None,
        b_in=None, packed=None,
    ):  # fmt: skip
        if xp is None:  # the compiled engine merges this into the per-step GEMM
            xp = torch.nn.functional.linear(x, w_ih, b_in)
        steps, batch, _ = xp.shape
        hidden = h0.shape[1]
        hs = xp.new_empty(steps, batch, hidden)
        cs = xp.new_empty(steps, batch, hidden) if mode == _LSTM else None
        keep = steps if save else 1
        act = xp.new_empty(keep, batch, 4 * hidden) if mode in (_LSTM, _GRU) else None
        tc = xp.new_empty(keep, batch, hidden) if mode == _LSTM else None
        live = _live(lengths, steps, xp.device)
        h, c = h0, c0
        for t in range(steps - 1, -1, -1) if reverse else range(steps):
            m = torch.mm(h, w_hh.t())  # (B, G*hidden_size)
            x = xp[t]
            slot = t if save else 0
            c_new = None
            if mode == _LSTM:
                i, f, g, o = (m + x).chunk(4, dim=1)
                i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
                c_new = f * c + i * g
                tanh_c = torch.tanh(c_new)
                h_new = o * tanh_c
                act[slot] = torch.cat([i, f, g, o], dim=1)
                tc[slot] = tanh_c
            elif mode == _GRU:
                if b_hh is not None:
                    m = m + b_hh
                m_r, m_z, hn = m.chunk(3, dim=1)
                x_r, x_z, x_n = x.chunk(3, dim=1)
                r, z = torch.sigmoid(x_r + m_r), torch.sigmoid(x_z + m_z)
                n = torch.tanh(x_n + r * hn)
                h_new = n + z * (h - n)
                act[slot] = torch.cat([r, z, n, hn], dim=1)
            else:
                pre = m + x
                h_new = torch.relu(pre) if mode == 1 else torch.tanh(pre)
            if live is not None:
                h_new = torch.where(live[t], h_new, h)
                if c_new is not None:
                    c_new = torch.where(live[t], c_new, c)
            hs[t] = h = h_new
            if cs is not None:
                cs[t] = c = c_new
        return [hs, cs, act, tc]

    @staticmethod
    def backward(
        mode, reverse, dout, dh_n, dc_n, h0, c0, hs, cs, act, tc, w_hh, lengths, allow_onednn,
        fused=False, x=None,
    ):  # fmt: skip
        steps, batch, hidden = hs.shape
        gates = w_hh.shape[0]
        dxp = hs.new_empty(steps, batch, gates)
        dhp = hs.new_empty(steps, batch, gates) if mode == _GRU else dxp
        carry = dh_n.clone() if dh_n is not None else hs.new_zeros(batch, hidden)
        extra = hs.new_zeros(batch, hidden)
        dcc = None
        if mode == _LSTM:
            dcc = dc_n.clone() if dc_n is not None else hs.new_zeros(batch, hidden)
        live = _live(lengths, steps, hs.device)
        first = steps - 1 if reverse else 0
        for t in range(steps) if reverse else range(steps - 1, -1, -1):
            prev = t + 1 if reverse else t - 1
            hp = h0 if t == first else hs[prev]
            through = carry + extra  # the state gradient, without this step's output
            dh = through if dout is None else through + dout[t]
            new_dcc = dcc
            if mode == _LSTM:
                cp = c0 if t == first else cs[prev]
                i, f, g, o = act[t].chunk(4, dim=1)
                tanh_c = tc[t]
                dc = dcc + dh * o * (1 - tanh_c * tanh_c)
                dx = torch.cat(
                    [dc * g * i * (1 - i), dc * cp * f * (1 - f), dc * i * (1 - g * g),
                     dh * tanh_c * o * (1 - o)], dim=1,
                )  # fmt: skip
                dh_lin, new_extra, new_dcc = dx, torch.zeros_like(dh), dc * f
            elif mode == _GRU:
                r, z, n, hn = act[t].chunk(4, dim=1)
                dn = dh * (1 - z) * (1 - n * n)
                dr = dn * hn * r * (1 - r)
                dz = dh * (hp - n) * z * (1 - z)
                dx = torch.cat([dr, dz, dn], dim=1)
                dh_lin = torch.cat([dr, dz, dn * r], dim=1)
                new_extra = dh * z
            else:
                h = hs[t]
                dx = dh * (h > 0) if mode == 1 else dh * (1 - h * h)
                dh_lin, new_extra = dx, torch.zeros_like(dh)
            if live is not None:
                lt = live[t]
                dx = torch.where(lt, dx, 0.0)
                dh_lin = torch.where(lt, dh_lin, 0.0)
                new_extra = torch.where(lt, new_extra, through)
                if new_dcc is not None:
                    new_dcc = torch.where(lt, new_dcc, dcc)
            dxp[t] = dx
            if dhp is not dxp:
                dhp[t] = dh_lin
            extra, dcc = new_extra, new_dcc
            carry = torch.mm(dh_lin, w_hh)
        return [dxp, dhp, carry + extra, dcc, None, None, None]


def _onednn_linear():
    op = getattr(getattr(torch.ops, "mkldnn", None), "_linear_pointwise", None)
    return op if op is not None and torch.backends.mkldnn.is_available() else None


class _Projection(torch.autograd.Function):
    """x W^T + b over all steps with oneDNN's float32 CPU GEMM (torch's F.linear uses MKL,
    which reached only about 70% of oneDNN's throughput for these shapes on the AMD machine
    of docs/benchmarks.md); the backward is the usual two matmuls and a sum."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        flat = x.reshape(-1, x.shape[-1])
        y = torch.ops.mkldnn._linear_pointwise(flat, weight, bias, "none", [], "")
        ctx.save_for_backward(flat, weight)
        ctx.has_bias = bias is not None
        return y.view(*x.shape[:-1], weight.shape[0])

    @staticmethod
    def backward(ctx, dy):
        flat, weight = ctx.saved_tensors
        dflat = dy.reshape(-1, dy.shape[-1])
        dx = dw = db = None
        if ctx.needs_input_grad[0]:
            dx = _matmul_nn(dflat, weight).view(*dy.shape[:-1], weight.shape[1])
        if ctx.needs_input_grad[1]:
            dw = _matmul_tn(dflat, flat)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            db = dflat.sum(0)
        return dx, dw, db


def _use_onednn(a: Tensor, b: Tensor) -> bool:
    """oneDNN for a float32 CPU GEMM; not for an empty operand (zero batch), which it rejects
    ("could not create a primitive descriptor")."""
    cpu32 = a.dtype == torch.float32 and a.device.type == "cpu"
    return ONEDNN and cpu32 and a.numel() > 0 and b.numel() > 0 and _onednn_linear() is not None


def _matmul_nn(a: Tensor, b: Tensor) -> Tensor:
    """a @ b for 2-D CPU tensors, through oneDNN for float32 (as a linear with weight bᵀ)."""
    if _use_onednn(a, b):
        return torch.ops.mkldnn._linear_pointwise(
            a.contiguous(), b.t().contiguous(), None, "none", [], ""
        )
    return torch.mm(a, b)


def _matmul_tn(a: Tensor, b: Tensor) -> Tensor:
    """aᵀ @ b for 2-D CPU tensors (weight gradients over all steps; a is the wider one).

    float32 goes through oneDNN as (bᵀ a)ᵀ: a then enters as the linear's weight, which oneDNN
    reorders from the transposed view anyway, and only the narrower b is copied transposed.
    (With a as the input, its (T*B, G*hidden_size) transpose was copied first: 0.35 s at T = 1024.)
    Measured against MKL's ``torch.mm``: 1.6x faster at T = 64 and 256, equal at 1024.
    """
    if _use_onednn(a, b):
        return torch.ops.mkldnn._linear_pointwise(b.t(), a.t(), None, "none", [], "").t()
    return torch.mm(a.t(), b)


def projection(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """``F.linear(x, weight, bias)``, through oneDNN for float32 on the CPU when available."""
    if (
        ONEDNN
        and x.device.type == "cpu"
        and x.dtype == torch.float32 == weight.dtype
        and x.numel() > 0
        and _onednn_linear() is not None
        and not torch.compiler.is_compiling()
    ):
        return _Projection.apply(x, weight, bias)
    return torch.nn.functional.linear(x, weight, bias)


def engine_for(x: Tensor, force_python: bool = False):
    """The compiled engine where it applies (CPU, float32/float64, extension built), else
    :class:`PythonEngine`."""
    if force_python or x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64):
        return PythonEngine
    return _extension.load() or PythonEngine


def _dw_hh(dhp: Tensor, hs: Tensor, h0: Tensor, reverse: bool) -> Tensor:
    """Σ_t dgates_tᵀ h_{t-1} with h_{t-1} = h0 at the first step of the direction, else the
    neighbouring state in hs: two GEMMs on views (materialising the shifted (T, B, hidden_size)
    states cost a fresh buffer, i.e. page faults, of T*B*hidden_size floats per call)."""
    steps, _, gates = dhp.shape
    first = dhp[-1] if reverse else dhp[0]
    dw = _matmul_tn(first, h0)
    if steps > 1:
        rest, prev = (dhp[:-1], hs[1:]) if reverse else (dhp[1:], hs[:-1])
        dw = dw + _matmul_tn(rest.reshape(-1, gates), prev.reshape(-1, hs.shape[-1]))
    return dw


def _contig(t: Tensor | None) -> Tensor | None:
    return None if t is None else t.contiguous()


class _Recurrence(torch.autograd.Function):
    """One layer and direction: (xp | x, W_ih, b), h0, c0, W_hh, b_hh -> (output, h_n[, c_n]).

    Either xp (the input projections) or x with W_ih and b (RNN/LSTM: projected inside the
    per-step GEMM) is given.
    """

    @staticmethod
    def forward(
        ctx, xp, x, w_ih, b_in, h0, c0, w_hh, b_hh, mode, reverse, lengths, engine, save
    ):  # fmt: skip
        # save: whether a backward will come. (needs_input_grad cannot tell: it follows
        # requires_grad even under no_grad, and saving the gates costs inference 40% here.)
        xp, x, w_ih, b_in = _contig(xp), _contig(x), _contig(w_ih), _contig(b_in)
        h0, c0, w_hh, b_hh = _contig(h0), _contig(c0), _contig(w_hh), _contig(b_hh)
        packed = None if x is None else _pack_for(engine, mode, x, w_ih, w_hh, save)
        hs, cs, act, tc = engine.forward(
            mode, reverse, xp, h0, c0, w_hh, b_hh, lengths, save, ONEDNN, x, w_ih, b_in, packed
        )
        steps = hs.shape[0]
        last = 0 if reverse else steps - 1
        h_n = hs[last].clone()
        live = _live(lengths, steps, hs.device)
        out = hs if live is None else hs * live
        ctx.set_materialize_grads(False)
        ctx.mode, ctx.reverse, ctx.lengths, ctx.engine = mode, reverse, lengths, engine
        ctx.has_bias = b_hh is not None
        ctx.has_b_in = b_in is not None
        if save:
            ctx.save_for_backward(h0, c0, hs, cs, act, tc, w_hh, x, w_ih)
        if mode == _LSTM:
            return out, h_n, cs[last].clone()
        return out, h_n

    @staticmethod
    def backward(ctx, dout, dh_n, dc_n=None):
        h0, c0, hs, cs, act, tc, w_hh, x, w_ih = ctx.saved_tensors
        need = ctx.needs_input_grad
        # The fused LSTM kernel can accumulate the weight gradients inside its loop (it needs x).
        want_dw = x is not None and (need[2] or need[3] or need[6])
        dxp, dhp, dh0, dc0, in_dw_ih, in_dw, in_db = ctx.engine.backward(
            ctx.mode, ctx.reverse, _contig(dout), _contig(dh_n), _contig(dc_n), h0, c0, hs, cs,
            act, tc, w_hh, ctx.lengths, ONEDNN, FUSED_LSTM, x if want_dw else None,
        )  # fmt: skip
        gates = dhp.shape[-1]
        flat = dxp.view(-1, gates)  # (T*B, G*hidden_size)
        dx = dw_ih = db_in = dw = db = None
        if in_dw is not None:  # from the loop: dW_hh, dW_ih, and the folded bias
            dw = in_dw if need[6] else None
            dw_ih = in_dw_ih if need[2] else None
            db_in = in_db if ctx.has_b_in and need[3] else None
        elif need[6]:  # dW_hh = Σ_t dgates_tᵀ h_{t-1}
            dw = _dw_hh(dhp, hs, h0, ctx.reverse)
        if x is None:
            if ctx.has_bias and need[7]:
                db = dhp.sum(dim=(0, 1))
        else:  # merged projection: dW_ih = Σ_t dgates_tᵀ x_t
            if need[2] and in_dw is None:
                dw_ih = _matmul_tn(flat, x.reshape(-1, x.shape[-1]))
            if need[1]:
                dx = _matmul_nn(flat, w_ih).view(*x.shape)
            if ctx.has_b_in and need[3] and in_dw is None:
                db_in = flat.sum(0)
            dxp = None
        return dxp, dx, dw_ih, db_in, dh0, dc0, dw, db, None, None, None, None, None


def recurrence(
    mode: str,
    xp: Tensor | None,
    h0: Tensor,
    c0: Tensor | None,
    weight_hh: Tensor,
    bias_hh: Tensor | None = None,
    *,
    reverse: bool = False,
    lengths: Tensor | None = None,
    engine=None,
    input: Tensor | None = None,
    weight_ih: Tensor | None = None,
    bias: Tensor | None = None,
) -> tuple[Tensor, ...]:
    """Run one layer and direction over precomputed input projections, differentiably.

    Args:
        mode: ``"RNN_TANH"``, ``"RNN_RELU"``, ``"LSTM"`` or ``"GRU"``.
        xp: input projections W_ih x_t + b_ih, with b_hh added for RNN and LSTM,
            (T, B, G*hidden_size).
        h0: (B, hidden_size). c0: (B, hidden_size) for LSTM, else None.
        weight_hh: (G*hidden_size, hidden_size). bias_hh: GRU only (b_hh cannot be folded into
            xp there), or None.
        reverse: run t = T-1 .. 0 (each sequence from its own end when lengths are given).
        lengths: int64 (B,) on the CPU with values in [1, T], or None (all T).
        engine: the compiled module or :class:`PythonEngine`; default :func:`engine_for`.
        input: with ``xp=None``, RNN/LSTM only: the layer input x (T, B, I), projected
            inside the per-step GEMM with ``weight_ih`` (G*hidden_size, I) and ``bias``
            (G*hidden_size,) or None (b_ih + b_hh).

    Shape:
        returns output (T, B, hidden_size) with zeros past each length, h_n (B, hidden_size)
        and, for LSTM, c_n (B, hidden_size).
    """
    if mode not in MODES:
        raise ValueError(f"expected mode in {sorted(MODES)}, got {mode!r}")
    if (xp is None) == (input is None) or (input is not None and weight_ih is None):
        raise ValueError("expected either xp, or input with weight_ih")
    if input is not None and mode == "GRU":
        raise ValueError("expected xp for a GRU (b_hn cannot join the input projection)")
    if engine is None:
        engine = engine_for(xp if xp is not None else input)
    tensors = (xp, input, weight_ih, bias, h0, c0, weight_hh, bias_hh)
    save = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)
    return _Recurrence.apply(*tensors, MODES[mode], reverse, lengths, engine, save)
