"""A KV cache for causal self-attention: the streaming state API of multi-head attention.

:class:`~seqattn.nn.MultiHeadAttention` streams like every sequence model of seqattn.nn
(issue 24, section 2)::

    state = mha.init_state(batch)              # an empty cache
    y_t, state = mha.step(x_t, state)          # x_t (B, D): one query, the cached keys + itself
    y, state = mha.stream(x, state)            # a chunk (T, B, D) / (B, T, D), carrying the cache

(``stream`` is the chunked form; ``forward(query, key, value)`` keeps torch's signature.) The
query at absolute position t attends to the cached keys/values of positions j <= t, so a
sequence fed step by step, or in chunks, equals one ``mha(x, x, x, is_causal=True)`` (to
rounding; tested in float64).

``init_state(batch, sink=s, window=w)`` makes the cache of StreamingLLM (Xiao et al. 2023,
"Efficient Streaming Language Models with Attention Sinks"): keep the first ``s`` tokens (the
attention sinks) and the last ``w`` ones, evict the rest. The query at t then attends to the
keys j with::

    j <= t  and  (j < s  or  t - j < w)          # sink columns + a band of width w (t included)

(:func:`sink_window_mask`), the cache never holds more than s + w tokens, and the memory of a
stream is constant in its length. Positions are the absolute ones; a layer that adds positional
information does so before this module (StreamingLLM re-numbers positions inside the cache for
rotary models; that is a property of the positional encoding, not of the cache).

Shape glossary (docs/architecture.md): B batch, T query length, S key length, D model dim,
H heads, Dh head dim; L cached tokens.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from seqattn.functional.attention import scaled_dot_product_attention

__all__ = ["KVCache", "StreamingAttention", "sink_window_mask"]


class KVCache(NamedTuple):
    """The streaming state of causal multi-head self-attention.

    Fields: ``key``, ``value`` (B, H, L, Dh) of the cached tokens; ``positions`` (L,) their
    absolute positions (increasing); ``seen`` the number of tokens streamed so far (the next
    token's position); ``sink`` and ``window`` the eviction rule (``window=None``: keep all).
    """

    key: Tensor
    value: Tensor
    positions: Tensor
    seen: int
    sink: int = 0
    window: int | None = None


def sink_window_mask(
    q_pos: Tensor, k_pos: Tensor, sink: int = 0, window: int | None = None
) -> Tensor:
    """Which keys each query may attend to (bool (T, S), True = may attend).

    Causal (k_pos <= q_pos); with a ``window``, only the ``sink`` first positions and the
    ``window`` last ones up to the query (q_pos - k_pos < window). ``q_pos`` (T,), ``k_pos``
    (S,) absolute positions.
    """
    q, k = q_pos[:, None], k_pos[None, :]
    allowed = k <= q
    if window is not None:
        allowed = allowed & ((k < sink) | (q - k < window))
    return allowed


def _check_cache_args(sink, window) -> None:
    if isinstance(sink, bool) or not isinstance(sink, int) or sink < 0:
        raise ValueError(f"expected sink to be an int >= 0, got {sink!r}")
    if window is None:
        if sink:
            raise ValueError(f"expected a window with sink={sink} (sink + window cache), got None")
        return
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValueError(f"expected window to be an int >= 1 or None, got {window!r}")


class StreamingAttention:
    """``init_state``, ``step`` and ``stream`` for :class:`~seqattn.nn.MultiHeadAttention`
    used as causal self-attention (a mixin)."""

    def _check_streamable(self) -> None:
        if self.kdim != self.embed_dim or self.vdim != self.embed_dim:
            raise ValueError(
                f"{type(self).__name__}: expected kdim = vdim = embed_dim ({self.embed_dim}) "
                f"to stream self-attention, got kdim={self.kdim}, vdim={self.vdim}"
            )

    def init_state(
        self, batch: int, sink: int = 0, window: int | None = None, dtype=None, device=None
    ) -> KVCache:
        """An empty cache for ``batch`` sequences: everything kept (default), or with
        ``window`` the ``sink`` first and ``window`` last tokens (StreamingLLM)."""
        self._check_streamable()
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 0:
            raise ValueError(f"expected batch to be an int >= 0, got {batch!r}")
        _check_cache_args(sink, window)
        w = self.out_proj.weight
        kw = {"dtype": dtype or w.dtype, "device": device or w.device}
        empty = torch.zeros(batch, self.num_heads, 0, self.head_dim, **kw)
        positions = torch.zeros(0, dtype=torch.long, device=kw["device"])
        return KVCache(empty, empty, positions, 0, sink, window)

    def step(self, x_t: Tensor, state: KVCache | None = None) -> tuple[Tensor, KVCache]:
        """One token: x_t (B, D) attends to the cache and itself -> (y_t (B, D), new cache)."""
        if not isinstance(x_t, Tensor) or x_t.dim() != 2:
            got = tuple(x_t.shape) if isinstance(x_t, Tensor) else type(x_t).__name__
            raise ValueError(
                f"{type(self).__name__}: expected x_t of shape (B, {self.embed_dim}), got {got}"
            )
        y, state = self._stream(x_t.unsqueeze(0), state)
        return y[0], state

    def stream(self, x: Tensor, state: KVCache | None = None) -> tuple[Tensor, KVCache]:
        """A chunk of the stream: x (T, B, D), or (B, T, D) with ``batch_first`` -> (y like x,
        new cache). Every query attends causally to the cache and to the chunk."""
        if not isinstance(x, Tensor) or x.dim() != 3:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(
                f"{type(self).__name__}: expected x of rank 3 ((T, B, D), or (B, T, D) with "
                f"batch_first), got {got}"
            )
        y, state = self._stream(x.transpose(0, 1) if self.batch_first else x, state)
        return (y.transpose(0, 1) if self.batch_first else y), state

    def _stream(self, x: Tensor, state: KVCache | None) -> tuple[Tensor, KVCache]:
        """x (T, B, D) time-major -> (y (T, B, D), new cache)."""
        name = type(self).__name__
        self._check_streamable()
        T, B, D = x.shape
        if x.shape[-1] != self.embed_dim:
            raise ValueError(f"{name}: expected {self.embed_dim} features, got {tuple(x.shape)}")
        if x.dtype != self.out_proj.weight.dtype:
            raise ValueError(
                f"{name}: expected x of dtype {self.out_proj.weight.dtype}, got {x.dtype}"
            )
        if state is None:
            state = self.init_state(B, dtype=x.dtype, device=x.device)
        if not isinstance(state, KVCache):
            raise TypeError(f"{name}: expected state to be a KVCache, got {type(state).__name__}")
        want = (B, self.num_heads, state.key.shape[2], self.head_dim)
        if tuple(state.key.shape) != want or tuple(state.value.shape) != want:
            raise ValueError(
                f"{name}: expected cached key/value of shape {want}, "
                f"got {tuple(state.key.shape)}, {tuple(state.value.shape)}"
            )
        w_q, w_k, w_v = self._projections()
        b_q = b_k = b_v = None
        if self.in_proj_bias is not None:
            b_q, b_k, b_v = self.in_proj_bias.chunk(3)

        def split(t: Tensor) -> Tensor:  # (L, B, D) -> (B, H, L, Dh)
            return t.reshape(t.shape[0], B, self.num_heads, self.head_dim).permute(1, 2, 0, 3)

        q, k, v = (
            split(F.linear(x, w_q, b_q)),
            split(F.linear(x, w_k, b_k)),
            split(F.linear(x, w_v, b_v)),
        )
        q_pos = torch.arange(state.seen, state.seen + T, device=x.device)
        keys, values = torch.cat([state.key, k], 2), torch.cat([state.value, v], 2)
        k_pos = torch.cat([state.positions, q_pos])
        mask = sink_window_mask(q_pos, k_pos, state.sink, state.window)  # (T, L + T)
        out = self._attend(q, keys, values, mask, B)
        out = self.out_proj(out.permute(2, 0, 1, 3).reshape(T, B, D))
        seen = state.seen + T
        if state.window is not None:  # evict what no later query can see: keep the positions
            # j < sink (a prefix of the cache) and j > seen - 1 - window (a suffix)
            n_sink = min(state.sink, seen)
            n_recent = max(0, seen - max(state.sink, seen - state.window))
            if n_sink + n_recent < keys.shape[2]:
                keys, values, k_pos = (
                    torch.cat([t[..., :n_sink, :], t[..., t.shape[-2] - n_recent :, :]], -2)
                    for t in (keys, values, k_pos[:, None])
                )
                k_pos = k_pos[:, 0]
        return out, KVCache(keys, values, k_pos, seen, state.sink, state.window)

    def _attend(self, q: Tensor, keys: Tensor, values: Tensor, mask: Tensor, B: int) -> Tensor:
        """softmax attention of q (B, H, T, Dh) over keys/values plus the layer's extra keys
        (``bias_k``/``bias_v``, the zero key), which every query sees as in forward."""
        mask = mask[None, None]  # (1, 1, T, S)
        extra_k, extra_v = [], []
        if self.bias_k is not None:
            shape = (B, self.num_heads, 1, self.head_dim)
            extra_k.append(self.bias_k.reshape(1, self.num_heads, 1, self.head_dim).expand(shape))
            extra_v.append(self.bias_v.reshape(1, self.num_heads, 1, self.head_dim).expand(shape))
        if self.add_zero_attn:
            extra_k.append(keys.new_zeros(B, self.num_heads, 1, self.head_dim))
            extra_v.append(keys.new_zeros(B, self.num_heads, 1, self.head_dim))
        if extra_k:
            keys, values = torch.cat([keys, *extra_k], 2), torch.cat([values, *extra_v], 2)
            ones = mask.new_ones(*mask.shape[:-1], len(extra_k))
            mask = torch.cat([mask, ones], -1)
        dropout_p = self.dropout if self.training else 0.0
        return scaled_dot_product_attention(q, keys, values, attn_mask=mask, dropout_p=dropout_p)
