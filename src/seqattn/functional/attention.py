"""Attention as a pure function: scores, a masked softmax, a weighted sum of values.

``attention`` takes any score function; ``scaled_dot_product_attention`` has the signature of
``torch.nn.functional.scaled_dot_product_attention`` and can also return its weights.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from seqattn.functional import _fused
from seqattn.functional.masks import causal_mask, check_mask
from seqattn.functional.scores import SCORES
from seqattn.functional.softmax import masked_softmax

__all__ = ["attention", "scaled_dot_product_attention", "apply_mask", "check_qkv"]


def check_qkv(query: Tensor, key: Tensor, value: Tensor) -> None:
    """Raise a clear error unless query (..., T, Dq), key (..., S, Dk) and value (..., S, Dv)
    are floating-point tensors of one dtype with the same S and broadcastable leading dims."""
    for label, x in (("query", query), ("key", key), ("value", value)):
        if not isinstance(x, Tensor):
            raise TypeError(f"expected {label} to be a Tensor, got {type(x).__name__}")
        if not x.is_floating_point():
            raise TypeError(f"expected {label} of a floating-point dtype, got {x.dtype}")
        if x.dim() < 2:
            raise ValueError(
                f"expected {label} of rank >= 2 (..., L, D), got shape {tuple(x.shape)}"
            )
    if not query.dtype == key.dtype == value.dtype:
        raise TypeError(
            f"expected query, key and value of one dtype, got {query.dtype}, {key.dtype}, "
            f"{value.dtype}"
        )
    if key.shape[-2] != value.shape[-2]:
        raise ValueError(
            f"expected key and value with the same number of positions S, got key "
            f"{tuple(key.shape)} and value {tuple(value.shape)}"
        )
    try:
        torch.broadcast_shapes(query.shape[:-2], key.shape[:-2], value.shape[:-2])
    except RuntimeError:
        raise ValueError(
            f"expected query, key and value with broadcastable leading dims, got "
            f"{tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}"
        ) from None


def apply_mask(
    scores: Tensor, mask: Tensor | None, name: str = "mask"
) -> tuple[Tensor, Tensor | None]:
    """Split a mask into what the softmax needs: a float mask is added to the scores, a bool
    mask is passed on. Returns (scores, bool mask or None)."""
    if mask is None:
        return scores, None
    check_mask(mask, scores.shape, name)
    if mask.dtype == torch.bool:
        return scores, mask
    return scores + mask, None


def attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    mask: Tensor | None = None,
    score: str | Callable[..., Tensor] = "dot",
    **score_kwargs,
) -> tuple[Tensor, Tensor]:
    """context = softmax(score(q, k)) v, with the weights returned.

    Args:
        query: (..., T, Dq). key: (..., S, Dk). value: (..., S, Dv).
        mask: bool (True = may attend) or additive float, broadcastable to (..., T, S).
        score: a name from :data:`seqattn.functional.scores.SCORES` or a callable
            ``score(query, key, **score_kwargs) -> (..., T, S)``.

    Returns:
        (context (..., T, Dv), weights (..., T, S)); fully masked rows give zero weights and a
        zero context.

    Example:
        >>> q, k, v = torch.randn(2, 3, 4), torch.randn(2, 5, 4), torch.randn(2, 5, 6)
        >>> ctx, w = attention(q, k, v, score="scaled_dot")
        >>> ctx.shape, w.shape
        (torch.Size([2, 3, 6]), torch.Size([2, 3, 5]))
    """
    if isinstance(score, str):
        try:
            score = SCORES[score]
        except KeyError:
            raise ValueError(
                f"expected score in {sorted(SCORES)} or a callable, got {score!r}"
            ) from None
    check_qkv(query, key, value)
    scores, bool_mask = apply_mask(score(query, key, **score_kwargs), mask)
    weights = masked_softmax(scores, bool_mask)
    return weights @ value, weights


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
    *,
    need_weights: bool = False,
    backend: str = "auto",
) -> Tensor | tuple[Tensor, Tensor]:
    """``F.scaled_dot_product_attention``, written out, NaN-free, optionally with its weights.

    softmax(q k^T · scale + mask) v (Vaswani et al. 2017, eq. 1), scale = 1/sqrt(Dh).

    Args:
        query: (..., Hq, T, Dh). key: (..., H, S, Dh). value: (..., H, S, Dv).
        attn_mask: bool (True = may attend) or float (added), broadcastable to (..., T, S).
        dropout_p: dropout on the weights (always applied when > 0, as in torch).
        is_causal: top-left aligned causal mask; not together with ``attn_mask``.
        scale: score scale; default 1/sqrt(Dh).
        enable_gqa: grouped-query attention: Hq a multiple of H, keys/values repeated.
        need_weights: also return the weights (after dropout, as used).
        backend: "auto": the fused CPU kernel (:mod:`seqattn.functional._fused`, no T x S
            buffer; its dropout mask comes from its own seeded hash, not ``F.dropout``) when
            no weights are asked for and it applies, else this written-out formula;
            "fused": the kernel or an error saying why not; "reference": the formula.

    Returns:
        output (..., Hq, T, Dv), or (output, weights (..., Hq, T, S)). A query with every key
        masked gets a zero output (torch returns NaN there).
    """
    if is_causal and attn_mask is not None:
        raise ValueError("expected attn_mask=None with is_causal=True, got both")
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"expected dropout_p in [0, 1], got {dropout_p}")
    gqa = enable_gqa and isinstance(query, Tensor) and isinstance(key, Tensor)
    if gqa and min(query.dim(), key.dim()) >= 3 and key.shape[-3] not in (0, query.shape[-3]):
        groups, rem = divmod(query.shape[-3], key.shape[-3])
        if rem:
            raise ValueError(
                f"expected query heads ({query.shape[-3]}) a multiple of key heads "
                f"({key.shape[-3]}) with enable_gqa=True"
            )
        key = key.repeat_interleave(groups, dim=-3)
        value = value.repeat_interleave(groups, dim=-3)
    check_qkv(query, key, value)
    if query.shape[-1] != key.shape[-1]:
        raise ValueError(
            f"expected query and key with the same feature size Dh, got query "
            f"{tuple(query.shape)} and key {tuple(key.shape)}"
        )
    if scale is None:  # Dh = 0: every score is 0 whatever the scale
        scale = 1.0 / math.sqrt(query.shape[-1]) if query.shape[-1] else 1.0
    _fused.check_backend(backend)
    if backend != "reference":
        reason = "weights asked for" if need_weights else None
        reason = reason or _fused.why_not(query, key, value, attn_mask)
        if reason is None:
            if attn_mask is not None:
                check_mask(attn_mask, (*query.shape[:-1], key.shape[-2]), "attn_mask")
            return _fused.attention(query, key, value, attn_mask, is_causal, float(scale),
                                    dropout_p)  # fmt: skip
        if backend == "fused":
            raise RuntimeError(
                f"scaled_dot_product_attention: backend='fused' does not apply: {reason}"
            )
    scores = (query @ key.transpose(-2, -1)) * scale  # (..., T, S)
    if is_causal:
        attn_mask = causal_mask(query.shape[-2], key.shape[-2], device=query.device)
    scores, bool_mask = apply_mask(scores, attn_mask, "attn_mask")
    weights = masked_softmax(scores, bool_mask)
    if dropout_p > 0.0:
        weights = F.dropout(weights, dropout_p, training=True)
    out = weights @ value
    return (out, weights) if need_weights else out
