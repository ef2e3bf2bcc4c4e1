"""Initialisation of recurrent weights, for our layers and cells and for torch.nn's.

Parameters are found by their torch.nn names (``weight_ih*``, ``weight_hh*``, ``bias_ih*``,
``bias_hh*``), and the gate blocks by ``weight_hh.shape[0] // hidden_size``, so one call works
on :mod:`seqattn.nn` and ``torch.nn`` recurrent modules alike:

>>> lstm = torch.nn.LSTM(32, 64)
>>> init_recurrent(lstm, hidden="orthogonal", forget_bias=1.0)  # doctest: +ELLIPSIS
LSTM(...)

Schemes:

* ``hidden="orthogonal"`` (Saxe et al. 2014): each gate block of ``W_hh`` is an orthogonal
  (semi-orthogonal if not square) matrix, so W^T W = I per block.
* ``hidden="identity"`` (IRNN, Le, Jaitly & Hinton 2015): each block of ``W_hh`` is
  ``gain * I`` and every bias is zero (before ``forget_bias``); meant for ReLU RNNs.
* ``input="xavier"`` (Glorot & Bengio 2010): Xavier-uniform per gate block of ``W_ih``.
* ``"default"``: torch's U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)) for that group.
* ``forget_bias`` (Gers et al. 2000; Jozefowicz et al. 2015): the LSTM forget-gate bias. With
  torch.nn's two bias vectors the sum is what the gate sees, so ``b_ih[f] = forget_bias`` and
  ``b_hh[f] = 0``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["init_recurrent", "HIDDEN_SCHEMES", "INPUT_SCHEMES"]

HIDDEN_SCHEMES = ("default", "orthogonal", "identity")
INPUT_SCHEMES = ("default", "xavier")
_RECURRENT_TYPES = (nn.RNNBase, nn.RNNCellBase)


def _is_recurrent(module: nn.Module) -> bool:
    return isinstance(module, _RECURRENT_TYPES) or any(
        n.startswith("weight_hh") for n, _ in module.named_parameters(recurse=False)
    )


@torch.no_grad()
def init_recurrent(
    module: nn.Module,
    hidden: str = "default",
    input: str = "default",
    forget_bias: float | None = None,
    gain: float = 1.0,
) -> nn.Module:
    """Initialise every recurrent module inside ``module`` in place, and return ``module``.

    Args:
        module: a recurrent layer or cell (ours or torch.nn's), or any module containing some.
        hidden: ``"default"``, ``"orthogonal"`` or ``"identity"`` for ``weight_hh*``.
        input: ``"default"`` or ``"xavier"`` for ``weight_ih*``.
        forget_bias: LSTM forget-gate bias value; None leaves the biases to the scheme.
        gain: scale of the orthogonal/identity/xavier matrices.

    Raises:
        ValueError: unknown scheme, ``forget_bias`` on a non-LSTM, or no recurrent module.
    """
    if hidden not in HIDDEN_SCHEMES:
        raise ValueError(f"expected hidden in {HIDDEN_SCHEMES}, got {hidden!r}")
    if input not in INPUT_SCHEMES:
        raise ValueError(f"expected input in {INPUT_SCHEMES}, got {input!r}")
    targets = [m for m in module.modules() if _is_recurrent(m)]
    if not targets:
        raise ValueError(
            f"expected a module containing recurrent layers or cells, got {type(module).__name__}"
        )
    for rec in targets:
        _init_one(rec, hidden, input, forget_bias, gain)
    return module


def _init_one(rec: nn.Module, hidden: str, input: str, forget_bias, gain: float) -> None:
    hidden_size = rec.hidden_size
    params = dict(rec.named_parameters(recurse=False))
    if hidden == "default" or input == "default":
        bound = 1.0 / math.sqrt(hidden_size)
        for name, p in params.items():
            group_default = (name.startswith("weight_hh") and hidden == "default") or (
                name.startswith("weight_ih") and input == "default"
            )
            if group_default or name.startswith(("bias", "weight_hr")):
                nn.init.uniform_(p, -bound, bound)
    gates = None
    for name, p in params.items():
        if name.startswith("weight_hh"):
            gates = p.shape[0] // hidden_size
            for block in p.split(hidden_size, dim=0):
                if hidden == "orthogonal":
                    nn.init.orthogonal_(block, gain=gain)
                elif hidden == "identity":
                    nn.init.eye_(block).mul_(gain)
        elif name.startswith("weight_ih") and input == "xavier":
            for block in p.split(hidden_size, dim=0):
                nn.init.xavier_uniform_(block, gain=gain)
        elif name.startswith("bias") and hidden == "identity":
            p.zero_()
    if forget_bias is not None:
        if gates != 4:
            raise ValueError(
                f"forget_bias applies to LSTMs (4 gate blocks), got {type(rec).__name__} "
                f"with {gates} gate block(s)"
            )
        for name, p in params.items():
            if name.startswith("bias_ih"):
                p[hidden_size : 2 * hidden_size] = forget_bias  # gate order i, f, g, o
            elif name.startswith("bias_hh"):
                p[hidden_size : 2 * hidden_size] = 0.0
