"""End-to-end memory network layers (Sukhbaatar, Szlam, Weston & Fergus 2015, "MemN2N").

The pieces:

* :func:`position_encoding`, the PE sentence weights of Section 4.1,
  ``l_kj = (1 - j/J) - (k/d)(1 - 2j/J)`` (1-based word j of a J-word sentence, dimension k);
* :func:`sentence_bags`, a batch of padded sentences as two weighted bags of words, so that
  encoding every sentence under every embedding matrix is one matrix product;
* :class:`EndToEndMemory`, K hops over a memory with adjacent weight tying and temporal
  encoding, for an *ensemble* of R independent models evaluated in one batched pass (R = 1 for
  a single model). Every model has its own parameters; the leading R axis only batches them.

Adjacent tying (Section 2.2) leaves K + 1 distinct embedding matrices per model, stored as one
parameter ``embed`` of shape (R, K + 1, V, d): matrix k is ``C^k`` = ``A^{k+1}``, so ``A^1`` =
``B`` (question) is matrix 0 and ``C^K`` = ``W^T`` (answer) is matrix K. The temporal tables
``T_A``/``T_C`` are tied the same way in ``temporal`` (R, K + 1, M, d).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqattn.functional.softmax import masked_softmax

__all__ = ["EndToEndMemory", "position_encoding", "sentence_bags", "ENCODINGS"]

ENCODINGS = ("bow", "pe")


def position_encoding(length: int, dim: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """PE weights of one J-word sentence, eq. of Section 4.1 of the MemN2N paper.

    ``l_kj = (1 - j/J) - (k/d)(1 - 2j/J)`` with 1-based word index j and dimension k; the
    sentence vector is ``m = sum_j l_j * A x_j`` (elementwise product).

    Args:
        length: J >= 1, the number of words in the sentence.
        dim: d >= 1, the embedding dimension.

    Shape:
        Returns (J, d).

    Example:
        >>> position_encoding(2, 2)  # j = J: (k/d), the first word: 1/2 everywhere
        tensor([[0.5000, 0.5000],
                [0.5000, 1.0000]])
    """
    if length < 1 or dim < 1:
        raise ValueError(f"expected length >= 1 and dim >= 1, got {length} and {dim}")
    j = torch.arange(1, length + 1, dtype=dtype).unsqueeze(1) / length  # (J, 1)
    k = torch.arange(1, dim + 1, dtype=dtype).unsqueeze(0) / dim  # (1, d)
    return (1 - j) - k * (1 - 2 * j)


def sentence_bags(tokens: Tensor, vocab_size: int, encoding: str = "pe") -> tuple[Tensor, Tensor]:
    """Padded sentences as weighted bags of words ``(X_a, X_b)``.

    The PE weight factorises as ``l_kj = a_j + (k/d) b_j`` with ``a_j = 1 - j/J`` and
    ``b_j = 2j/J - 1``, so for an embedding E the sentence vector is
    ``X_a @ E + (k/d) * (X_b @ E)``: every sentence under every embedding matrix is two matrix
    products instead of a gather of every word. Bag-of-words is ``a_j = 1, b_j = 0``.
    Token 0 is padding and gets weight 0 (so the nil embedding never matters); J is each
    sentence's own length (its nonzero tokens, which must come first).

    Args:
        tokens: (..., J) int64 word ids, 0 = padding.
        vocab_size: V; ids must be in [0, V).
        encoding: ``"pe"`` or ``"bow"``.

    Shape:
        Returns two (..., V) tensors (float32); ``X_b`` is all zeros for ``"bow"``.
    """
    if encoding not in ENCODINGS:
        raise ValueError(f"expected encoding in {list(ENCODINGS)}, got {encoding!r}")
    if tokens.dtype != torch.long:
        raise TypeError(f"expected int64 token ids, got dtype {tokens.dtype}")
    if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= vocab_size):
        raise ValueError(
            f"expected token ids in [0, {vocab_size}), got [{int(tokens.min())}, "
            f"{int(tokens.max())}]"
        )
    real = tokens != 0
    length = real.sum(-1, keepdim=True).clamp(min=1).float()  # (..., 1)
    j = torch.arange(1, tokens.shape[-1] + 1, dtype=torch.float32) / length  # (..., J)
    if encoding == "pe":
        a, b = (1 - j) * real, (2 * j - 1) * real
    else:
        a, b = real.float(), torch.zeros_like(j)
    shape = (*tokens.shape[:-1], vocab_size)
    xa = torch.zeros(shape).scatter_add_(-1, tokens, a)
    xb = torch.zeros(shape).scatter_add_(-1, tokens, b)
    return xa, xb


class EndToEndMemory(nn.Module):
    """K-hop memory with adjacent weight tying: an ensemble of R independent MemN2N models.

    Sukhbaatar et al. 2015, eqs. (1)-(3) and Section 2.2: per hop k,
    ``p = softmax(u^T m_i)``, ``o = sum_i p_i c_i``, ``u^{k+1} = u^k + o``, and finally
    ``a = softmax(W u^{K+1})``. Memories are ``m_i = sum_j l_j * A x_ij + T_A(i)`` and
    ``c_i = sum_j l_j * C x_ij + T_C(i)``. With ``linear=True`` (linear start, Section 4.2)
    the hop softmaxes are removed: ``p_i = u^T m_i``.

    Empty memory slots (``memory_mask`` False) get exactly zero attention; a story with no
    memory at all gives ``o = 0`` and finite gradients.

    Args:
        vocab_size: V (id 0 is padding).
        embed_dim: d.
        hops: K >= 1.
        memory_size: M, the slots (and the rows of the temporal tables).
        encoding: ``"pe"`` (position encoding) or ``"bow"``.
        temporal: add the learned temporal encoding T_A, T_C.
        num_models: R, the ensemble size.
        init_std: the paper's N(0, 0.1) initialisation.

    Shape:
        stories (R?, B, M, J) int64; query (R?, B, Jq) int64; memory_mask (R?, B, M) bool;
        time (R?, B, M) int64 in [0, M) (default: the most recent memory 0, then 1, ...);
        the leading R is optional (the same batch for every model).
        A batch may hold fewer slots M' <= M (trimmed to its longest story); the temporal
        tables keep M rows. Returns logits (R, B, V) and attention (R, B, K, M').

    Example:
        >>> mem = EndToEndMemory(vocab_size=6, embed_dim=4, hops=2, memory_size=3)
        >>> stories = torch.tensor([[[1, 2, 0], [3, 1, 0], [0, 0, 0]]])  # (B=1, M=3, J=3)
        >>> logits, att = mem(stories, torch.tensor([[4, 5]]), stories[..., 0] != 0)
        >>> logits.shape, att.shape, float(att[0, 0, :, 2].detach().abs().sum())
        (torch.Size([1, 1, 6]), torch.Size([1, 1, 2, 3]), 0.0)
    """

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int = 20,
        hops: int = 3,
        memory_size: int = 50,
        encoding: str = "pe",
        temporal: bool = True,
        num_models: int = 1,
        init_std: float = 0.1,
    ) -> None:
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("embed_dim", embed_dim),
                            ("hops", hops), ("memory_size", memory_size),
                            ("num_models", num_models)):  # fmt: skip
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"expected {name} to be a positive int, got {value!r}")
        if encoding not in ENCODINGS:
            raise ValueError(f"expected encoding in {list(ENCODINGS)}, got {encoding!r}")
        self.vocab_size, self.embed_dim, self.hops = vocab_size, embed_dim, hops
        self.memory_size, self.encoding, self.num_models = memory_size, encoding, num_models
        self.init_std = init_std
        self.embed = nn.Parameter(torch.empty(num_models, hops + 1, vocab_size, embed_dim))
        if temporal:
            self.temporal = nn.Parameter(torch.empty(num_models, hops + 1, memory_size, embed_dim))
        else:
            self.register_parameter("temporal", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for p in self.parameters():
            nn.init.normal_(p, 0.0, self.init_std)

    # Tied views (Section 2.2, adjacent): they share storage with ``embed``, by construction.
    def A(self, k: int) -> Tensor:  # noqa: N802 (the paper's names)
        """Input embedding of hop k (1-based): ``A^k = C^{k-1}``; ``A^1 = B``. Shape (R, V, d)."""
        return self.embed[:, k - 1]

    def C(self, k: int) -> Tensor:  # noqa: N802
        """Output embedding of hop k (1-based); ``C^K = W^T``. Shape (R, V, d)."""
        return self.embed[:, k]

    def B(self) -> Tensor:  # noqa: N802
        """Question embedding, ``B = A^1``. Shape (R, V, d)."""
        return self.embed[:, 0]

    def W(self) -> Tensor:  # noqa: N802
        """Answer matrix transposed, ``W^T = C^K``. Shape (R, V, d)."""
        return self.embed[:, self.hops]

    def _encode(self, tokens: Tensor, time: Tensor | None = None) -> Tensor:
        """(R?, N, J) tokens -> (R, K+1, N, d) sentence vectors under every embedding.

        ``time`` (R?, N) adds ``T(time)``: the time index is one more "word" of weight 1 in
        the bag, looked up in ``temporal`` stacked under ``embed`` (the authors' code writes
        time words into the vocabulary the same way), so words and time are one product.
        """
        xa, xb = sentence_bags(tokens, self.vocab_size, self.encoding)
        table = self.embed
        if time is not None:
            table = torch.cat([self.embed, self.temporal], dim=2)  # (R, K+1, V+M, d)
            onehot = F.one_hot(time, self.memory_size).to(xa.dtype)
            xa = torch.cat([xa, onehot], dim=-1)
        spec = "rnv,rhvd->rhnd" if tokens.dim() == 3 else "nv,rhvd->rhnd"
        out = torch.einsum(spec, xa, table)
        if self.encoding == "pe":
            k = torch.arange(1, self.embed_dim + 1, dtype=out.dtype) / self.embed_dim
            out = out + k * torch.einsum(spec, xb, self.embed)
        return out

    def forward(
        self,
        stories: Tensor,
        query: Tensor,
        memory_mask: Tensor,
        time: Tensor | None = None,
        linear: bool | Tensor = False,
    ) -> tuple[Tensor, Tensor]:
        """Answer logits and the attention of every hop.

        Args:
            stories: (R?, B, M, J) word ids of the memory sentences, 0 = padding.
            query: (R?, B, Jq) word ids of the question.
            memory_mask: (R?, B, M) bool, True = a real memory (may attend).
            time: (R?, B, M) temporal index per slot; default ``n - 1 - i`` for slot i of a
                story of n memories stored oldest first (the newest memory has index 0).
            linear: linear start: a bool, or (R,) bools, one per model.

        Returns:
            ``(logits, attention)``: (R, B, V) answer logits (before the final softmax) and
            (R, B, K, M) attention per hop (zero on empty slots).
        """
        r, h, m = self.num_models, self.hops, self.memory_size
        per_model = stories.dim() == 4
        if stories.dim() not in (3, 4) or not 1 <= stories.shape[-2] <= m:
            raise ValueError(
                f"expected stories (R?, B, M' <= {m}, J), got shape {tuple(stories.shape)}"
            )
        if per_model and stories.shape[0] != r:
            raise ValueError(f"expected {r} models on the leading axis, got {stories.shape[0]}")
        if memory_mask.dtype != torch.bool or memory_mask.shape != stories.shape[:-1]:
            raise ValueError(
                f"expected a bool memory_mask of shape {tuple(stories.shape[:-1])}, got "
                f"{memory_mask.dtype} {tuple(memory_mask.shape)}"
            )
        if query.shape[:-1] != stories.shape[:-2]:
            raise ValueError(
                f"expected query (R?, B, Jq) matching stories {tuple(stories.shape)}, got "
                f"{tuple(query.shape)}"
            )
        *lead, b, slots, words = stories.shape  # slots M' may be fewer than M: a shorter batch
        flat = stories.reshape(*lead, b * slots, words)  # (R?, B*M', J)
        if self.temporal is None:
            time = None
        else:
            if time is None:
                n = memory_mask.sum(-1, keepdim=True)
                time = (n - 1 - torch.arange(slots)).clamp(min=0)
            if time.shape != memory_mask.shape or time.dtype != torch.long:
                raise ValueError(
                    f"expected int64 time of shape {tuple(memory_mask.shape)}, got "
                    f"{time.dtype} {tuple(time.shape)}"
                )
            if int(time.min()) < 0 or int(time.max()) >= m:
                raise ValueError(
                    f"expected time indices in [0, {m}), got [{int(time.min())}, {int(time.max())}]"
                )
            time = time.reshape(*lead, b * slots)
        mem = self._encode(flat, time).reshape(r, h + 1, b, slots, self.embed_dim)
        # unbind once: slicing mem[:, k] per hop would allocate a full-size gradient per slice
        mems = mem.unbind(1)  # K+1 of (R, B, M', d)
        u = self._encode(query)[:, 0]  # (R, B, d) under B = A^1
        mask = memory_mask if per_model else memory_mask.expand(r, *memory_mask.shape)
        lin = torch.as_tensor(linear, dtype=torch.bool).reshape(-1, 1, 1)
        attention = []
        for k in range(h):
            scores = torch.einsum("rbmd,rbd->rbm", mems[k], u)  # (R, B, M')
            soft = masked_softmax(scores, mask)
            p = torch.where(lin, scores * mask, soft)
            u = u + torch.einsum("rbm,rbmd->rbd", p, mems[k + 1])
            attention.append(p)
        logits = torch.einsum("rbd,rvd->rbv", u, self.embed[:, h])
        return logits, torch.stack(attention, dim=2)
