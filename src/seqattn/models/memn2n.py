"""End-to-end memory network for question answering (Sukhbaatar et al. 2015, "MemN2N").

A story of up to M sentences is written into memory, each sentence encoded as a bag of words
or with position encoding (PE) plus a learned temporal encoding; the question's embedding u
reads the memory K times (hops), each read a softmax attention over the sentences added back
into u; the answer is one word, ``softmax(W u^{K+1})``. Training tricks of the paper live in
the experiment (``seqattn.experiments.memn2n``): linear start (``linear=True`` here removes
the hop softmaxes), random noise (``time`` with gaps), gradient clipping, SGD schedule.

``num_models`` > 1 holds an ensemble of independent models (own initialisation, own
parameters) evaluated in one batched pass: the leading R axis of every output.

Weights: :meth:`MemN2N.save` writes ``model.safetensors`` and ``config.json`` (atomically);
:meth:`MemN2N.load` reads them back.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

import safetensors.torch
import torch
from torch import Tensor, nn

from seqattn.io import atomic_write, atomic_write_json
from seqattn.nn.memory.memn2n import ENCODINGS, EndToEndMemory

__all__ = ["MemN2N", "MemN2NConfig", "MemN2NOutput"]


@dataclass(frozen=True)
class MemN2NConfig:
    """The paper's bAbI model: d = 20, K = 3 hops, memory of the last 50 sentences, PE, TE.

    Args:
        vocab_size: V, word ids 0..V-1 with 0 the padding (nil) word; answers are words.
        embed_dim: d (20 per task, 50 for joint training in the paper).
        hops: K.
        memory_size: M, the sentences kept (the last M of a story).
        encoding: ``"pe"`` (the paper's formula), ``"pe-authors"`` (the authors' code: about
            twice the paper's weights over a fixed width ``pe_width``) or ``"bow"``.
        temporal: learned temporal encoding T_A, T_C.
        num_models: R, independent models batched as an ensemble.
        init_std: N(0, init_std) initialisation (0.1 in the paper).
        pe_width: J of ``"pe-authors"``: the longest sentence or question, + 1 for the time word
            with ``temporal``.
        attend_empty: the M - n empty slots of a story take softmax weight with score 0, as in
            the authors' code (otherwise they are masked out).
    """

    vocab_size: int
    embed_dim: int = 20
    hops: int = 3
    memory_size: int = 50
    encoding: str = "pe"
    temporal: bool = True
    num_models: int = 1
    init_std: float = 0.1
    pe_width: int = 0
    attend_empty: bool = False

    def __post_init__(self) -> None:
        for name in ("vocab_size", "embed_dim", "hops", "memory_size", "num_models"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"expected {name} to be a positive int, got {value!r}")
        if self.encoding not in ENCODINGS:
            raise ValueError(f"expected encoding in {list(ENCODINGS)}, got {self.encoding!r}")
        if self.encoding == "pe-authors" and self.pe_width < 1 + int(self.temporal):
            raise ValueError(
                f"expected pe_width >= {1 + int(self.temporal)} with encoding 'pe-authors', got "
                f"{self.pe_width!r}"
            )
        if not self.init_std > 0:
            raise ValueError(f"expected init_std > 0, got {self.init_std}")


@dataclass
class MemN2NOutput:
    """``logits`` (R, B, V) before the answer softmax; ``attention`` (R, B, K, M) per hop."""

    logits: Tensor
    attention: Tensor


class MemN2N(nn.Module):
    """End-to-end memory network, eqs. (1)-(3) of Sukhbaatar et al. 2015, adjacent tying.

    Args:
        config: :class:`MemN2NConfig`.

    Shape:
        stories (R?, B, M, J), query (R?, B, Jq) int64 (0 = padding); memory_mask (R?, B, M)
        bool (True = a real sentence); time (R?, B, M) optional temporal indices (default:
        newest sentence 0). Sentences are stored oldest first in slots 0..n-1.
        Output: :class:`MemN2NOutput` with logits (R, B, V) and attention (R, B, K, M).

    Example:
        >>> model = MemN2N(MemN2NConfig(vocab_size=8, memory_size=4, num_models=2))
        >>> stories = torch.tensor([[[1, 2], [3, 4], [0, 0], [0, 0]]])
        >>> out = model(stories, torch.tensor([[5, 6]]), stories[..., 0] != 0)
        >>> out.logits.shape, out.attention.shape
        (torch.Size([2, 1, 8]), torch.Size([2, 1, 3, 4]))
    """

    def __init__(self, config: MemN2NConfig) -> None:
        super().__init__()
        if not isinstance(config, MemN2NConfig):
            raise TypeError(f"expected a MemN2NConfig, got {type(config).__name__}")
        self.config = config
        self.memory = EndToEndMemory(
            config.vocab_size, config.embed_dim, config.hops, config.memory_size,
            config.encoding, config.temporal, config.num_models, config.init_std,
            config.pe_width, config.attend_empty,
        )  # fmt: skip

    def forward(
        self, stories: Tensor, query: Tensor, memory_mask: Tensor,
        time: Tensor | None = None, linear: bool | Tensor = False,
    ) -> MemN2NOutput:  # fmt: skip
        """:meth:`EndToEndMemory.forward`'s logits and attention, as a named tuple."""
        logits, attention = self.memory(stories, query, memory_mask, time, linear)
        return MemN2NOutput(logits, attention)

    @torch.no_grad()
    def predict(self, stories: Tensor, query: Tensor, memory_mask: Tensor) -> Tensor:
        """Answer word ids, (R, B)."""
        return self(stories, query, memory_mask).logits.argmax(-1)

    def save(self, out_dir: str | os.PathLike) -> Path:
        """Write ``model.safetensors`` then ``config.json`` into ``out_dir`` (atomically)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        tensors = {k: v.detach().contiguous() for k, v in self.state_dict().items()}
        blob = safetensors.torch.save(tensors)
        atomic_write(out / "model.safetensors", lambda f: f.write(blob))
        atomic_write_json(out / "config.json", dataclasses.asdict(self.config))
        return out

    @classmethod
    def load(cls, model_dir: str | os.PathLike) -> MemN2N:
        """Read a model written by :meth:`save` (never unpickles)."""
        path = Path(model_dir)
        try:
            config = MemN2NConfig(**json.loads((path / "config.json").read_text("utf-8")))
        except (OSError, json.JSONDecodeError, TypeError) as err:
            raise ValueError(f"expected a MemN2N model directory at {path}, got {err}") from None
        model = cls(config)
        model.load_state_dict(safetensors.torch.load_file(str(path / "model.safetensors")))
        return model
