"""SGD for an ensemble of independent models batched on a leading axis (R models in one module,
as :class:`seqattn.models.MemN2N` with ``num_models = R``): each model's gradient is clipped to
its own global norm and stepped with its own learning rate, so the models stay independent
(a shared norm or rate would couple them).

Sukhbaatar et al. 2015 (and the authors' Matlab code) clip every model's gradient norm at 40 and
halve its learning rate on its own schedule; this is that update, run by
:class:`~seqattn.training.loop.TrainLoop` like any optimizer::

    opt = EnsembleSGD(model.parameters(), lr=torch.full((R,), 0.01), clip_norm=40.0)
    loop = TrainLoop(model.parameters(), opt)

>>> w = torch.nn.Parameter(torch.zeros(2, 3))  # R = 2 models of 3 weights each
>>> opt = EnsembleSGD([w], lr=torch.tensor([1.0, 0.5]), clip_norm=1.0)
>>> (w * torch.tensor([[3.0, 0.0, 4.0], [0.3, 0.0, 0.4]])).sum().backward()
>>> opt.step()
>>> w.detach().tolist()  # model 0: norm 5 clipped to 1; model 1: norm 0.5, lr 0.5
[[-0.6000000238418579, 0.0, -0.800000011920929], [-0.15000000596046448, 0.0, -0.20000000298023224]]
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor

__all__ = ["EnsembleSGD"]


class EnsembleSGD(torch.optim.Optimizer):
    """``p -= lr_r * min(1, clip_norm / ||g_r||) * g`` for every model r of the ensemble.

    Args:
        params: the ensemble's parameters, every one with the models on dim 0 (R, ...).
        lr: (R,) learning rates; set ``opt.lr`` to change them (0 freezes a model).
        clip_norm: the largest gradient norm of one model (over all its parameters).

    Shape:
        lr (R,); every parameter (R, ...).
    """

    def __init__(self, params: Iterable[Tensor], lr: Tensor, clip_norm: float) -> None:
        if not clip_norm > 0:
            raise ValueError(f"expected clip_norm > 0, got {clip_norm!r}")
        super().__init__(params, {"clip_norm": float(clip_norm)})
        self.lr = lr

    @torch.no_grad()
    def step(self, closure=None) -> None:  # type: ignore[override]
        if closure is not None:
            raise TypeError("expected no closure for EnsembleSGD, got one")
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            grads = [p.grad for p in params]
            sq = sum(g.pow(2).flatten(1).sum(1) for g in grads)  # (R,) per-model norm^2
            scale = (group["clip_norm"] / sq.sqrt().clamp(min=1e-12)).clamp(max=1.0) * self.lr
            for p, g in zip(params, grads, strict=True):
                p.sub_(scale.view(-1, *[1] * (g.dim() - 1)) * g)
