"""Multi-head attention (Vaswani et al. 2017, section 3.2.2), mirroring nn.MultiheadAttention.

    MultiHead(Q, K, V) = Concat(head_1, ..., head_h) W^O,
    head_i = softmax((Q W_i^Q)(K W_i^K)^T / sqrt(d_k)) (V W_i^V)

Same constructor, forward arguments, return values, parameter names and layouts as
``torch.nn.MultiheadAttention`` (``in_proj_weight`` or ``q/k/v_proj_weight``,
``in_proj_bias``, ``bias_k``/``bias_v``, ``out_proj``), so state dicts load both ways. The
masks keep torch's conventions at this boundary (``key_padding_mask`` True = ignore; a bool
``attn_mask`` True = not allowed) and are converted to the functional core's (True = may
attend). The one deliberate difference: a query with every key masked gets zero weights and a
zero output, where torch returns NaN.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqattn.functional.attention import scaled_dot_product_attention
from seqattn.functional.masks import bool_to_additive, causal_mask
from seqattn.nn.attention.kv_cache import StreamingAttention

__all__ = ["MultiHeadAttention"]


class MultiHeadAttention(StreamingAttention, nn.Module):
    """Multi-head attention; see :class:`torch.nn.MultiheadAttention` for the arguments.

    As causal self-attention it streams with a KV cache (``init_state``/``step``/``stream``,
    optionally StreamingLLM's sink + window cache): :mod:`seqattn.nn.attention.kv_cache`.

    Args:
        embed_dim: D. num_heads: H (must divide D).
        dropout: dropout on the attention weights in training.
        bias: biases of the input and output projections.
        add_bias_kv: learn one extra key and value appended to every sequence.
        add_zero_attn: append a zero key and value to every sequence.
        kdim, vdim: key and value feature sizes (default D).
        batch_first: (B, T, D) instead of (T, B, D).

    Shape:
        query (T, B, D) / (B, T, D) / unbatched (T, D); key (S, B, kdim); value (S, B, vdim).
        key_padding_mask (B, S): bool True = ignore, or float added.
        attn_mask (T, S) or (B*H, T, S): bool True = not allowed, or float added.
        Returns output like the query and weights (B, T, S) averaged over heads, (B, H, T, S)
        with ``average_attn_weights=False``, or None with ``need_weights=False``.

    Example:
        >>> mha = MultiHeadAttention(16, 4, batch_first=True)
        >>> x = torch.randn(2, 5, 16)
        >>> out, w = mha(x, x, x, is_causal=True, average_attn_weights=False)
        >>> out.shape, w.shape
        (torch.Size([2, 5, 16]), torch.Size([2, 4, 5, 5]))
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = False,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        for label, value in (("embed_dim", embed_dim), ("num_heads", num_heads)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"expected {label} to be a positive int, got {value!r}")
        if embed_dim % num_heads:
            raise ValueError(
                f"expected num_heads to divide embed_dim, got embed_dim={embed_dim}, "
                f"num_heads={num_heads}"
            )
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"expected dropout in [0, 1], got {dropout}")
        factory = {"device": device, "dtype": dtype}
        self.embed_dim = embed_dim
        self.kdim = embed_dim if kdim is None else kdim
        self.vdim = embed_dim if vdim is None else vdim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        self.add_zero_attn = add_zero_attn
        if self._qkv_same_embed_dim:
            self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dim, embed_dim, **factory))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        else:
            self.q_proj_weight = nn.Parameter(torch.empty(embed_dim, embed_dim, **factory))
            self.k_proj_weight = nn.Parameter(torch.empty(embed_dim, self.kdim, **factory))
            self.v_proj_weight = nn.Parameter(torch.empty(embed_dim, self.vdim, **factory))
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = nn.Parameter(torch.empty(3 * embed_dim, **factory))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias, **factory)
        if add_bias_kv:
            self.bias_k = nn.Parameter(torch.empty(1, 1, embed_dim, **factory))
            self.bias_v = nn.Parameter(torch.empty(1, 1, embed_dim, **factory))
        else:
            self.bias_k = self.bias_v = None
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        """torch's init: Xavier-uniform projections, zero biases, Xavier-normal bias_k/v."""
        if self._qkv_same_embed_dim:
            nn.init.xavier_uniform_(self.in_proj_weight)
        else:
            nn.init.xavier_uniform_(self.q_proj_weight)
            nn.init.xavier_uniform_(self.k_proj_weight)
            nn.init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            nn.init.constant_(self.in_proj_bias, 0.0)
            nn.init.constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None:
            nn.init.xavier_normal_(self.bias_k)
            nn.init.xavier_normal_(self.bias_v)

    def _projections(self) -> tuple[Tensor, Tensor, Tensor]:
        if self._qkv_same_embed_dim:
            return self.in_proj_weight.chunk(3)
        return self.q_proj_weight, self.k_proj_weight, self.v_proj_weight

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        key_padding_mask: Tensor | None = None,
        need_weights: bool = True,
        attn_mask: Tensor | None = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """Attend from ``query`` to ``key``/``value``; see the class docstring for shapes.

        ``is_causal=True`` without an ``attn_mask`` builds the causal mask (torch requires the
        mask to be passed as well; passing it here is fine too).
        """
        name = type(self).__name__
        q, k, v, batched = self._check_inputs(query, key, value, name)
        tgt_len, bsz, _ = q.shape
        w_q, w_k, w_v = self._projections()
        b_q = b_k = b_v = None
        if self.in_proj_bias is not None:
            b_q, b_k, b_v = self.in_proj_bias.chunk(3)
        q = F.linear(q, w_q, b_q)  # (T, B, D)
        k = F.linear(k, w_k, b_k)  # (S, B, D)
        v = F.linear(v, w_v, b_v)
        mask = self._merged_mask(
            key_padding_mask, attn_mask, is_causal, batched, tgt_len, k.shape[0], bsz, q
        )  # (B, H or 1, T, S) bool/float, True = may attend, or None
        if self.bias_k is not None:
            k = torch.cat([k, self.bias_k.expand(1, bsz, -1)])
            v = torch.cat([v, self.bias_v.expand(1, bsz, -1)])
            mask = _pad_last(mask)
        heads = self.num_heads

        def split(x: Tensor) -> Tensor:  # (L, B, D) -> (B, H, L, Dh)
            return x.reshape(x.shape[0], bsz, heads, self.head_dim).permute(1, 2, 0, 3)

        q, k, v = split(q), split(k), split(v)
        if self.add_zero_attn:
            k = torch.cat([k, k.new_zeros(bsz, heads, 1, self.head_dim)], dim=2)
            v = torch.cat([v, v.new_zeros(bsz, heads, 1, self.head_dim)], dim=2)
            mask = _pad_last(mask)
        dropout_p = self.dropout if self.training else 0.0
        if need_weights:
            out, weights = scaled_dot_product_attention(
                q, k, v, attn_mask=mask, dropout_p=dropout_p, need_weights=True
            )  # (B, H, T, Dh), (B, H, T, S)
        else:  # the fused CPU kernel where it applies: no (B, H, T, S) buffer
            out = scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
            weights = None
        out = out.permute(2, 0, 1, 3).reshape(tgt_len, bsz, self.embed_dim)
        out = self.out_proj(out)  # (T, B, D)
        if not batched:
            out = out.squeeze(1)
            weights = None if weights is None else weights.squeeze(0)
        elif self.batch_first:
            out = out.transpose(0, 1)
        if not need_weights:
            return out, None
        if average_attn_weights:
            weights = weights.mean(dim=-3)
        return out, weights

    def _check_inputs(self, query, key, value, name):
        batched = query.dim() == 3
        if query.dim() not in (2, 3):
            raise ValueError(
                f"{name}: expected query of rank 3 (batched) or 2 (unbatched), "
                f"got shape {tuple(query.shape)}"
            )
        if key.dim() != query.dim() or value.dim() != query.dim():
            raise ValueError(
                f"{name}: expected query, key and value of the same rank, got shapes "
                f"{tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}"
            )
        for label, x, size in (
            ("query", query, self.embed_dim), ("key", key, self.kdim), ("value", value, self.vdim),
        ):  # fmt: skip
            if x.shape[-1] != size:
                raise ValueError(
                    f"{name}: expected {label} with {size} features (last dim), "
                    f"got shape {tuple(x.shape)}"
                )
        if not batched:
            query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        elif self.batch_first:
            query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
        if key.shape[:2] != value.shape[:2]:
            raise ValueError(
                f"{name}: expected key and value with the same length and batch, got "
                f"shapes {tuple(key.shape)} and {tuple(value.shape)} (time-major)"
            )
        if query.shape[1] != key.shape[1]:
            raise ValueError(
                f"{name}: expected query and key with the same batch size, got "
                f"{query.shape[1]} and {key.shape[1]}"
            )
        return query, key, value, batched

    def _merged_mask(self, key_padding_mask, attn_mask, is_causal, batched, tgt, src, bsz, like):
        """torch's two masks -> one (B, H or 1, T, S) mask in our convention (or additive)."""
        name = type(self).__name__
        if is_causal and attn_mask is None:
            attn_mask = ~causal_mask(
                tgt, src, device=like.device
            )  # torch's bool: True = not allowed
        parts = []
        if attn_mask is not None:
            allowed = (tgt, src), (bsz * self.num_heads, tgt, src)
            if not batched:
                allowed = (tgt, src), (self.num_heads, tgt, src)
            if tuple(attn_mask.shape) not in allowed:
                raise ValueError(
                    f"{name}: expected attn_mask of shape {allowed[0]} or {allowed[1]}, "
                    f"got {tuple(attn_mask.shape)}"
                )
            _check_mask_dtype(attn_mask, "attn_mask", name)
            m = attn_mask.reshape(bsz, self.num_heads, tgt, src) if attn_mask.dim() == 3 else (
                attn_mask.view(1, 1, tgt, src)
            )  # fmt: skip
            parts.append(~m if m.dtype == torch.bool else m)
        if key_padding_mask is not None:
            expected = (bsz, src) if batched else (src,)
            if tuple(key_padding_mask.shape) != expected:
                raise ValueError(
                    f"{name}: expected key_padding_mask of shape {expected}, "
                    f"got {tuple(key_padding_mask.shape)}"
                )
            _check_mask_dtype(key_padding_mask, "key_padding_mask", name)
            kpm = key_padding_mask.reshape(bsz, 1, 1, src)
            parts.append(~kpm if kpm.dtype == torch.bool else kpm)
        if not parts:
            return None
        if all(p.dtype == torch.bool for p in parts):
            out = parts[0]
            for p in parts[1:]:
                out = out & p
            return out
        total = None
        for p in parts:  # any float mask: everything becomes additive, as in torch
            p = bool_to_additive(p, like.dtype) if p.dtype == torch.bool else p.to(like.dtype)
            total = p if total is None else total + p
        return total


def _check_mask_dtype(mask: Tensor, label: str, name: str) -> None:
    if mask.dtype != torch.bool and not mask.is_floating_point():
        raise TypeError(f"{name}: expected {label} of dtype bool or float, got {mask.dtype}")


def _pad_last(mask: Tensor | None) -> Tensor | None:
    """Let every query attend to one appended key (bias_kv or the zero key)."""
    if mask is None:
        return None
    fill = torch.ones if mask.dtype == torch.bool else torch.zeros
    return torch.cat([mask, fill(*mask.shape[:-1], 1, dtype=mask.dtype, device=mask.device)], -1)
