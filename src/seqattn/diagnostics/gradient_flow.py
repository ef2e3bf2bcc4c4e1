"""Gradient flow over time: how much of the loss's gradient reaches each time step.

For a recurrent model ``model(x, state) -> (output, state)`` (ours or torch.nn's) and an input
sequence, :func:`gradient_flow` returns per-step norms

* ``‖∂L/∂x_t‖``: the gradient reaching the input at step t, from one full-sequence forward;
* ``‖∂L/∂h_t‖``: the gradient reaching the hidden state after step t (the top layer's h, the
  total derivative through every later step). The model is stepped one time step at a time,
  passing the state explicitly, so ``h_t`` is a node of the graph even for torch.nn's fused
  layers; the loss reads the output at step t from that state (they are equal for a
  unidirectional RNN/LSTM/GRU), so the norm counts both paths out of h_t. This needs a
  unidirectional model.

The loss is ``"last"`` (the sum of the output at the last step, the setting of the vanishing
gradients argument: L depends on x_t only through h_T), ``"all"`` (the sum over every step) or
any callable taking the output (T, B, F) to a scalar.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

__all__ = ["GradientFlow", "gradient_flow"]

LossSpec = str | Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class GradientFlow:
    """Per-step gradient norms, index t = time step.

    Attributes:
        input_grad_norm: ‖∂L/∂x_t‖, shape (T,), averaged over the batch.
        hidden_grad_norm: ‖∂L/∂h_t‖, shape (T,), or None if not computed.
        loss: the loss value.
    """

    input_grad_norm: Tensor
    hidden_grad_norm: Tensor | None
    loss: float

    def ratio(self, which: str = "input") -> float:
        """Norm at the last step over the norm at step 0 (the vanishing factor)."""
        norms = self.input_grad_norm if which == "input" else self.hidden_grad_norm
        if norms is None:
            raise ValueError("expected hidden_grad_norm to be computed, got None")
        return float(norms[-1] / norms[0])


def _loss(output: Tensor, spec: LossSpec) -> Tensor:
    if callable(spec):
        return spec(output)
    if spec == "last":
        return output[-1].sum()
    if spec == "all":
        return output.sum()
    raise ValueError(f"expected loss 'last', 'all' or a callable, got {spec!r}")


def _batch_first(model: nn.Module) -> bool:
    return bool(getattr(model, "batch_first", False))


def gradient_flow(
    model: nn.Module,
    x: Tensor,
    state=None,
    loss: LossSpec = "last",
    hidden: bool = True,
) -> GradientFlow:
    """Measure ‖∂L/∂x_t‖ (and ‖∂L/∂h_t‖) for every step t.

    Args:
        model: a recurrent layer ``model(x, state) -> (output, state)``; time-major unless it
            has ``batch_first=True``.
        x: input (T, B, I) or (B, T, I) with batch_first.
        state: optional initial state.
        loss: ``"last"``, ``"all"`` or a callable on the time-major output (T, B, F).
        hidden: also compute ‖∂L/∂h_t‖ (needs a unidirectional model).

    Returns:
        :class:`GradientFlow`; norms are per sequence, averaged over the batch.

    Example:
        >>> flow = gradient_flow(torch.nn.RNN(4, 8), torch.randn(50, 2, 4))
        >>> flow.input_grad_norm.shape
        torch.Size([50])
    """
    if x.dim() != 3:
        raise ValueError(f"expected a batched input of rank 3, got shape {tuple(x.shape)}")
    bf = _batch_first(model)
    xt = x.transpose(0, 1) if bf else x  # (T, B, I)
    xt = xt.detach().clone().requires_grad_(True)

    out, _ = model(xt.transpose(0, 1) if bf else xt, state)
    out = out.transpose(0, 1) if bf else out  # (T, B, F)
    value = _loss(out, loss)
    (gx,) = torch.autograd.grad(value, xt)
    input_norms = gx.flatten(2).norm(dim=2).mean(dim=1)  # (T,)

    hidden_norms = None
    if hidden:
        if getattr(model, "bidirectional", False):
            raise ValueError(
                "expected a unidirectional model for ‖∂L/∂h_t‖ (a bidirectional h_t depends "
                "on the future), got bidirectional=True; pass hidden=False"
            )
        hidden_norms = _hidden_flow(model, xt.detach(), state, loss, bf)
    return GradientFlow(input_norms.detach(), hidden_norms, float(value.detach()))


def _hidden_flow(model, xt: Tensor, state, loss: LossSpec, bf: bool) -> Tensor:
    tops, outs = [], []
    for x_t in xt.unbind(0):
        step_in = x_t.unsqueeze(1) if bf else x_t.unsqueeze(0)  # one time step
        _, state = model(step_in, state)
        h = state[0] if isinstance(state, tuple) else state  # (L, B, H)
        tops.append(h)
        # The top layer's h_t *is* the output at step t; reading it from the state makes the
        # state the one node through which all of L's dependence on step t flows.
        outs.append(h[-1])
    value = _loss(torch.stack(outs), loss)
    grads = torch.autograd.grad(value, tops, allow_unused=True)
    norms = [
        torch.zeros((), dtype=xt.dtype) if g is None else g[-1].flatten(1).norm(dim=1).mean()
        for g in grads
    ]  # g[-1]: the top layer
    return torch.stack(norms).detach()
