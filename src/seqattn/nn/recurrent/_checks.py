"""Input checks of the recurrent layers and cells, run before any kernel sees the input.

torch.nn's layers raise for an empty sequence and for an input whose dtype is not the
weights'; without these checks ours failed deep inside (an IndexError of the fast engine, a
oneDNN "itensor_view_from_dense" RuntimeError). A zero batch is fine, as in torch.
"""

from __future__ import annotations

from torch import Tensor

__all__ = ["check_sequence", "check_dtype"]


def check_dtype(name: str, label: str, x: Tensor, weight: Tensor) -> None:
    """Raise unless ``x`` has the weights' dtype (torch.nn's message, ours names the tensor)."""
    if x.dtype != weight.dtype:
        raise ValueError(
            f"{name}: expected {label} of dtype {weight.dtype} (the weight dtype), got "
            f"{x.dtype}. Convert {label}: {label}.to({weight.dtype}), or convert the model: "
            f"model.to({x.dtype})"
        )


def check_sequence(name: str, x: Tensor, weight: Tensor, input_size: int, shape) -> None:
    """Checks of a time-major (T, B, I) layer input; ``shape`` is the caller's, for messages."""
    if x.shape[-1] != input_size:
        raise ValueError(
            f"{name}: expected input with {input_size} features (last dim), got shape "
            f"{tuple(shape)}"
        )
    if x.shape[0] == 0:
        raise ValueError(
            f"{name}: expected a sequence of length T >= 1 (torch.nn raises too), got input "
            f"shape {tuple(shape)}"
        )
    check_dtype(name, "input", x, weight)
