"""Products of state Jacobians ∏ ∂s_k/∂s_{k-1} along a trajectory, and the Lyapunov exponent.

The gradient that reaches step t from step T is ∂L/∂s_T · J_T ⋯ J_{t+1}, so the norm of the
product ``P_d = J_t ⋯ J_{t-d+1}`` as a function of the distance d tells whether gradients
vanish (norm → 0, largest Lyapunov exponent λ < 0) or explode (λ > 0) (Pascanu et al. 2013).

The state s is the model's whole recurrent state, flattened: h of every layer, and c too for
an LSTM (an LSTM's h alone is not Markov: ∂h_k/∂h_{k-1} misses the path through c).

Each J_t is found with one backward pass: the state is repeated N times along the batch (N the
state size), the model takes one step, and the backward pass is seeded with the identity, so
row b of J_t lands in batch element b (the batch elements of an RNN are independent). This
works for any recurrent layer ``model(x_t, state) -> (output, state)``, ours or torch.nn's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

__all__ = ["JacobianProducts", "jacobian_products", "step_jacobian", "zero_state"]


@dataclass(frozen=True)
class JacobianProducts:
    """Norms of Jacobian products as a function of the distance d = 1..T.

    Attributes:
        log10_spectral: log10 σ_max(J_d ⋯ J_1), shape (T,).
        log10_frobenius: log10 ‖J_d ⋯ J_1‖_F, shape (T,).
        local_spectral: σ_max(J_t) of each single step, shape (T,).
        lyapunov: estimate of the largest Lyapunov exponent (natural log, per step), from the
            growth of a renormalised tangent vector.
    """

    log10_spectral: Tensor
    log10_frobenius: Tensor
    local_spectral: Tensor
    lyapunov: float


def _flatten(state) -> Tensor:
    parts = list(state) if isinstance(state, tuple | list) else [state]
    # (L*D, B, H) -> (B, L*D*H), then h and c side by side
    return torch.cat([p.transpose(0, 1).flatten(1) for p in parts], dim=1)


def _unflatten(flat: Tensor, like) -> Tensor | tuple[Tensor, ...]:
    parts = list(like) if isinstance(like, tuple | list) else [like]
    out, start = [], 0
    for p in parts:
        layers, _, hidden = p.shape
        size = layers * hidden
        out.append(flat[:, start : start + size].reshape(-1, layers, hidden).transpose(0, 1))
        start += size
    return tuple(out) if isinstance(like, tuple | list) else out[0]


def zero_state(model: nn.Module, batch: int, like: Tensor):
    """The zero initial state of a torch.nn-style recurrent layer, as its forward takes it."""
    layers = model.num_layers * (2 if getattr(model, "bidirectional", False) else 1)
    h = like.new_zeros(layers, batch, getattr(model, "proj_size", 0) or model.hidden_size)
    if getattr(model, "mode", None) == "LSTM":
        return h, like.new_zeros(layers, batch, model.hidden_size)
    return h


def step_jacobian(model: nn.Module, x_t: Tensor, state) -> tuple[Tensor, object]:
    """J = ∂s_t/∂s_{t-1} for one step of a single sequence.

    Args:
        model: recurrent layer, time-major (``batch_first=False``).
        x_t: input of one step, shape (I,).
        state: the state before the step, batch of 1 (as the model returns it).

    Returns:
        (J of shape (N, N), the state after the step, detached).
    """
    flat = _flatten(state).detach()  # (1, N)
    n = flat.shape[1]
    rep = flat.expand(n, n).clone().requires_grad_(True)  # N copies of the state
    _, new_state = model(x_t.expand(1, n, -1), _unflatten(rep, state))
    new_flat = _flatten(new_state)  # (N, N)
    eye = torch.eye(n, dtype=new_flat.dtype, device=new_flat.device)
    (jac,) = torch.autograd.grad(new_flat, rep, grad_outputs=eye)
    next_state = _unflatten(new_flat[:1].detach(), state)
    return jac, next_state


def jacobian_products(model: nn.Module, x: Tensor, state=None, seed: int = 0) -> JacobianProducts:
    """Jacobian products along the trajectory the model follows on input ``x``.

    Args:
        model: unidirectional, time-major recurrent layer (ours or torch.nn's), in eval mode.
        x: one input sequence (T, I).
        state: initial state with batch 1, zeros if None.
        seed: seed of the random tangent vector of the Lyapunov estimate.

    Returns:
        :class:`JacobianProducts`.

    Example:
        >>> jp = jacobian_products(torch.nn.GRU(3, 8).double(), torch.randn(40, 3).double())
        >>> jp.log10_spectral.shape
        torch.Size([40])
    """
    if x.dim() != 2:
        raise ValueError(f"expected one sequence of shape (T, I), got shape {tuple(x.shape)}")
    if getattr(model, "bidirectional", False) or getattr(model, "batch_first", False):
        raise ValueError("expected a unidirectional, time-major model (batch_first=False)")
    if state is None:
        state = zero_state(model, 1, x)
    gen = torch.Generator().manual_seed(seed)
    log_scale = 0.0
    prod = None
    vec = None
    lyap_sum = 0.0
    spec, frob, local = [], [], []
    for x_t in x:
        jac, state = step_jacobian(model, x_t, state)
        jac = jac.detach().double()
        if prod is None:
            prod = torch.eye(jac.shape[0], dtype=jac.dtype)
            vec = torch.randn(jac.shape[0], generator=gen, dtype=jac.dtype)
            vec = vec / vec.norm()
        local.append(torch.linalg.matrix_norm(jac, 2))
        prod = jac @ prod
        scale = float(torch.linalg.matrix_norm(prod, "fro"))
        if scale == 0.0 or not math.isfinite(scale):
            log_scale = -math.inf if scale == 0.0 else math.inf
            spec.append(log_scale)
            frob.append(log_scale)
            prod = torch.eye(jac.shape[0], dtype=jac.dtype)  # keep going with a fresh product
            log_scale = 0.0
        else:
            log_scale += math.log10(scale)
            prod = prod / scale
            frob.append(log_scale)
            spec.append(log_scale + math.log10(float(torch.linalg.matrix_norm(prod, 2))))
        vec = jac @ vec
        growth = float(vec.norm())
        lyap_sum += math.log(growth) if growth > 0 else -math.inf
        vec = vec / growth if growth > 0 else vec
    steps = len(local)
    return JacobianProducts(
        log10_spectral=torch.tensor(spec, dtype=torch.double),
        log10_frobenius=torch.tensor(frob, dtype=torch.double),
        local_spectral=torch.stack(local),
        lyapunov=lyap_sum / steps,
    )
