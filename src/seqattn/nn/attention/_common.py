"""Input checks and mask handling shared by the attention modules."""

from __future__ import annotations

import torch
from torch import Tensor


def as_sequence_query(query: Tensor, name: str) -> tuple[Tensor, bool]:
    """(B, Dq) one decoder step or (B, T, Dq): return (B, T, Dq) and whether it was one step."""
    if query.dim() == 2:
        return query.unsqueeze(1), True
    if query.dim() == 3:
        return query, False
    raise ValueError(
        f"{name}: expected query of shape (B, Dq) or (B, T, Dq), got {tuple(query.shape)}"
    )


def check_keys(key: Tensor, value: Tensor, batch: int, key_dim: int, name: str) -> None:
    if key.dim() != 3:
        raise ValueError(f"{name}: expected key of shape (B, S, Dk), got {tuple(key.shape)}")
    if key.shape[0] != batch:
        raise ValueError(
            f"{name}: expected key with batch size {batch} (the query's), got {key.shape[0]}"
        )
    if key.shape[-1] != key_dim:
        raise ValueError(
            f"{name}: expected key with {key_dim} features, got shape {tuple(key.shape)}"
        )
    if value.dim() != 3 or value.shape[:2] != key.shape[:2]:
        raise ValueError(
            f"{name}: expected value of shape (B, S, Dv) = ({key.shape[0]}, {key.shape[1]}, "
            f"Dv) like the key, got {tuple(value.shape)}"
        )


def key_mask(mask: Tensor | None, batch: int, queries: int, keys: int, name: str):
    """A (B, S) or (B, T, S) boolean mask (True = may attend) -> (B, 1 or T, S)."""
    if mask is None:
        return None
    if mask.dtype != torch.bool:
        raise TypeError(f"{name}: expected a bool mask (True = may attend), got {mask.dtype}")
    if mask.dim() == 2 and tuple(mask.shape) == (batch, keys):
        return mask.unsqueeze(1)
    if mask.dim() == 3 and tuple(mask.shape) in ((batch, queries, keys), (batch, 1, keys)):
        return mask
    raise ValueError(
        f"{name}: expected mask of shape (B, S) = {(batch, keys)} or (B, T, S) = "
        f"{(batch, queries, keys)}, got {tuple(mask.shape)}"
    )


def prepare_inputs(module, query: Tensor, key: Tensor, value: Tensor | None, key_proj, name: str):
    """Shared checks of the Bahdanau/Luong modules: query (B, [T,] Dq), key (B, S, Dk), value
    (default the key) and the precomputed key projection (computed here when None).

    ``module`` provides ``query_dim``, ``key_dim``, ``key_proj_dim`` and ``project_keys``.
    Returns (query (B, T, Dq), whether it was one step, value, key projection).
    """
    q, one_step = as_sequence_query(query, name)
    if q.shape[-1] != module.query_dim:
        raise ValueError(
            f"{name}: expected query with {module.query_dim} features, got {tuple(query.shape)}"
        )
    value = key if value is None else value
    check_keys(key, value, q.shape[0], module.key_dim, name)
    kp = module.project_keys(key) if key_proj is None else key_proj
    expected = (*key.shape[:2], module.key_proj_dim)
    if tuple(kp.shape) != expected:
        raise ValueError(f"{name}: expected key_proj of shape {expected}, got {tuple(kp.shape)}")
    return q, one_step, value, kp
