"""End-to-end memory network layers (Sukhbaatar, Szlam, Weston & Fergus 2015, "MemN2N").

The pieces:

* :func:`position_encoding`, the PE sentence weights of Section 4.1,
  ``l_kj = (1 - j/J) - (k/d)(1 - 2j/J)`` (1-based word j of a J-word sentence, dimension k),
  and the form the authors' Matlab code uses (``"pe-authors"``: about twice the paper's
  weights, over one fixed width J for every sentence);
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

ENCODINGS = ("bow", "pe", "pe-authors")


def position_encoding(
    length: int, dim: int, dtype: torch.dtype = torch.float32, form: str = "paper"
) -> Tensor:
    """PE weights of one J-word sentence: Section 4.1 of the MemN2N paper, or its authors' code.

    ``form="paper"``: ``l_kj = (1 - j/J) - (k/d)(1 - 2j/J)`` with 1-based word index j and
    dimension k. ``form="authors"``: ``l_kj = 1 + 4 (k - (d+1)/2)(j - (J+1)/2) / (d J)``, the
    weighting of facebook/MemNN's ``MemN2N-babi-matlab/build_model.m``; expanded it is
    ``2 [(1 - j/J) - (k/d)(1 - 2j/J)]`` plus O(1/d + 1/J) centring terms: the same shape at
    about twice the scale. The sentence vector is ``m = sum_j l_j * A x_j`` (elementwise).

    Args:
        length: J >= 1, the number of words in the sentence (for ``"authors"``: the fixed
            width every sentence is weighted over).
        dim: d >= 1, the embedding dimension.
        form: ``"paper"`` or ``"authors"``.

    Shape:
        Returns (J, d).

    Example:
        >>> position_encoding(2, 2)  # j = J: (k/d), the first word: 1/2 everywhere
        tensor([[0.5000, 0.5000],
                [0.5000, 1.0000]])
        >>> position_encoding(2, 2, form="authors")
        tensor([[1.2500, 0.7500],
                [0.7500, 1.2500]])
    """
    if length < 1 or dim < 1:
        raise ValueError(f"expected length >= 1 and dim >= 1, got {length} and {dim}")
    if form not in ("paper", "authors"):
        raise ValueError(f"expected form 'paper' or 'authors', got {form!r}")
    j = torch.arange(1, length + 1, dtype=dtype).unsqueeze(1)  # (J, 1)
    k = torch.arange(1, dim + 1, dtype=dtype).unsqueeze(0)  # (1, d)
    if form == "authors":
        return 1 + 4 * (k - (dim + 1) / 2) * (j - (length + 1) / 2) / (dim * length)
    return (1 - j / length) - k / dim * (1 - 2 * j / length)


def _authors_ab(j: Tensor, width: int, dim: int) -> tuple[Tensor, Tensor]:
    """``a_j, b_j`` with ``l_kj = a_j + (k/d) b_j`` for the authors' form over width J."""
    centred = j - (width + 1) / 2
    return 1 - 2 * (dim + 1) * centred / (dim * width), 4 * centred / width


def sentence_bags(
    tokens: Tensor,
    vocab_size: int,
    encoding: str = "pe",
    width: int | None = None,
    dim: int | None = None,
) -> tuple[Tensor, Tensor]:
    """Padded sentences as weighted bags of words ``(X_a, X_b)``.

    The PE weight factorises as ``l_kj = a_j + (k/d) b_j`` (paper: ``a_j = 1 - j/J`` and
    ``b_j = 2j/J - 1``), so for an embedding E the sentence vector is
    ``X_a @ E + (k/d) * (X_b @ E)``: every sentence under every embedding matrix is two matrix
    products instead of a gather of every word. Bag-of-words is ``a_j = 1, b_j = 0``.
    Token 0 is padding and gets weight 0 (so the nil embedding never matters). For ``"pe"`` J
    is each sentence's own length (its nonzero tokens, which must come first); for
    ``"pe-authors"`` it is the fixed ``width`` (the authors' code weighs word j the same in
    every sentence and question).

    Args:
        tokens: (..., J') int64 word ids, 0 = padding.
        vocab_size: V; ids must be in [0, V).
        encoding: ``"pe"``, ``"pe-authors"`` or ``"bow"``.
        width: J for ``"pe-authors"`` (>= J').
        dim: d for ``"pe-authors"`` (its ``a_j`` depends on d).

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
    positions = torch.arange(1, tokens.shape[-1] + 1, dtype=torch.float32)
    if encoding == "pe-authors":
        if width is None or dim is None or width < tokens.shape[-1]:
            raise ValueError(
                f"expected width >= {tokens.shape[-1]} words and dim for 'pe-authors', got "
                f"width={width}, dim={dim}"
            )
        a, b = _authors_ab(positions, width, dim)
        a, b = a * real, b * real
    elif encoding == "pe":
        length = real.sum(-1, keepdim=True).clamp(min=1).float()  # (..., 1)
        j = positions / length  # (..., J)
        a, b = (1 - j) * real, (2 * j - 1) * real
    else:
        a, b = real.float(), torch.zeros(real.shape)
    shape = (*tokens.shape[:-1], vocab_size)
    xa = torch.zeros(shape).scatter_add_(-1, tokens, a.expand(real.shape).contiguous())
    xb = torch.zeros(shape).scatter_add_(-1, tokens, b.expand(real.shape).contiguous())
    return xa, xb


def _trim_padding(tokens: Tensor, width: int) -> Tensor:
    """Drop trailing all-padding columns past ``width``; words there are an error."""
    if bool((tokens[..., width:] != 0).any()):
        raise ValueError(
            f"expected sentences of at most {width} words for 'pe-authors' (pe_width, less one "
            f"for the time word), got {int((tokens != 0).sum(-1).max())}"
        )
    return tokens[..., :width]


class EndToEndMemory(nn.Module):
    """K-hop memory with adjacent weight tying: an ensemble of R independent MemN2N models.

    Sukhbaatar et al. 2015, eqs. (1)-(3) and Section 2.2: per hop k,
    ``p = softmax(u^T m_i)``, ``o = sum_i p_i c_i``, ``u^{k+1} = u^k + o``, and finally
    ``a = softmax(W u^{K+1})``. Memories are ``m_i = sum_j l_j * A x_ij + T_A(i)`` and
    ``c_i = sum_j l_j * C x_ij + T_C(i)``. With ``linear=True`` (linear start, Section 4.2)
    the hop softmaxes are removed: ``p_i = u^T m_i``.

    Empty memory slots (``memory_mask`` False) get exactly zero attention; a story with no
    memory at all gives ``o = 0`` and finite gradients. With ``attend_empty=True`` they behave
    as in the authors' code instead, where a story of n sentences sits in M slots and the
    M - n empty ones hold zero vectors: each takes softmax weight with score 0 and adds
    nothing to o (an "attend to nothing" sink of weight (M - n) e^0; the attention returned
    over the real slots then sums to less than 1).

    Args:
        vocab_size: V (id 0 is padding).
        embed_dim: d.
        hops: K >= 1.
        memory_size: M, the slots (and the rows of the temporal tables).
        encoding: ``"pe"`` (position encoding, the paper's form), ``"pe-authors"`` (the
            authors' code's form over ``pe_width`` words) or ``"bow"``.
        temporal: add the learned temporal encoding T_A, T_C.
        num_models: R, the ensemble size.
        init_std: the paper's N(0, 0.1) initialisation.
        pe_width: J of ``"pe-authors"``: sentences and questions have at most J words, and with
            ``temporal`` at most J - 1, the time word taking position J (as the authors').
        attend_empty: empty slots take part in the hop softmax (see above).

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
        pe_width: int = 0,
        attend_empty: bool = False,
    ) -> None:
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("embed_dim", embed_dim),
                            ("hops", hops), ("memory_size", memory_size),
                            ("num_models", num_models)):  # fmt: skip
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"expected {name} to be a positive int, got {value!r}")
        if encoding not in ENCODINGS:
            raise ValueError(f"expected encoding in {list(ENCODINGS)}, got {encoding!r}")
        if encoding == "pe-authors" and pe_width < 1 + int(temporal):
            raise ValueError(
                f"expected pe_width >= {1 + int(temporal)} for 'pe-authors' (the longest "
                f"sentence{' + 1 for the time word' if temporal else ''}), got {pe_width}"
            )
        self.pe_width, self.attend_empty = pe_width, attend_empty
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

        ``time`` (R?, N) adds ``T(time)``: the time index is one more "word" in the bag,
        looked up in ``temporal`` stacked under ``embed`` (the authors' code writes time words
        into the vocabulary the same way), so words and time are one product. Its weight is 1,
        or for ``"pe-authors"`` the PE weight of position J, where the authors' code puts it.
        """
        width = self.pe_width
        if self.encoding == "pe-authors" and tokens.shape[-1] > width - int(time is not None):
            tokens = _trim_padding(tokens, width - int(time is not None))
        xa, xb = sentence_bags(tokens, self.vocab_size, self.encoding, width, self.embed_dim)
        table = self.embed
        if time is not None:
            table = torch.cat([self.embed, self.temporal], dim=2)  # (R, K+1, V+M, d)
            onehot = F.one_hot(time, self.memory_size).to(xa.dtype)
            if self.encoding == "pe-authors":
                a, b = _authors_ab(torch.tensor(float(width)), width, self.embed_dim)
                xa, xb = torch.cat([xa, a * onehot], -1), torch.cat([xb, b * onehot], -1)
            else:
                xa, xb = torch.cat([xa, onehot], -1), torch.cat([xb, 0 * onehot], -1)
        spec = "rnv,rhvd->rhnd" if tokens.dim() == 3 else "nv,rhvd->rhnd"
        out = torch.einsum(spec, xa, table)
        if self.encoding != "bow":
            k = torch.arange(1, self.embed_dim + 1, dtype=out.dtype) / self.embed_dim
            out = out + k * torch.einsum(spec, xb, table)
        return out

    def _check_inputs(self, stories: Tensor, query: Tensor, memory_mask: Tensor) -> None:
        r, m = self.num_models, self.memory_size
        if stories.dim() not in (3, 4) or not 1 <= stories.shape[-2] <= m:
            raise ValueError(
                f"expected stories (R?, B, M' <= {m}, J), got shape {tuple(stories.shape)}"
            )
        if stories.dim() == 4 and stories.shape[0] != r:
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

    def _time_index(self, time: Tensor | None, memory_mask: Tensor, slots: int) -> Tensor:
        """The temporal index per slot: given (checked), or newest memory = 0."""
        m = self.memory_size
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
        return time

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
        self._check_inputs(stories, query, memory_mask)
        *lead, b, slots, words = stories.shape  # slots M' may be fewer than M: a shorter batch
        flat = stories.reshape(*lead, b * slots, words)  # (R?, B*M', J)
        time = None if self.temporal is None else self._time_index(time, memory_mask, slots)
        if time is not None:
            time = time.reshape(*lead, b * slots)
        mem = self._encode(flat, time).reshape(r, h + 1, b, slots, self.embed_dim)
        # unbind once: slicing mem[:, k] per hop would allocate a full-size gradient per slice
        mems = mem.unbind(1)  # K+1 of (R, B, M', d)
        u = self._encode(query)[:, 0]  # (R, B, d) under B = A^1
        mask = memory_mask if per_model else memory_mask.expand(r, *memory_mask.shape)
        lin = torch.as_tensor(linear, dtype=torch.bool).reshape(-1, 1, 1)
        attention = []
        if self.attend_empty:
            # the authors' M - n empty slots: zero vectors, each a softmax term e^0 = 1, i.e.
            # one extra logit log(M - n) (-inf when the story fills the memory)
            empty = (m - mask.sum(-1, keepdim=True)).clamp(min=0).to(u.dtype)  # (R, B, 1)
            sink = empty.log()
            mems = tuple(x * mask.unsqueeze(-1) for x in mems)  # no temporal term either
        for k in range(h):
            scores = torch.einsum("rbmd,rbd->rbm", mems[k], u)  # (R, B, M')
            if self.attend_empty:
                full = torch.cat([scores.masked_fill(~mask, float("-inf")), sink], -1)
                soft = torch.softmax(full, -1)[..., :-1]
            else:
                soft = masked_softmax(scores, mask)
            p = torch.where(lin, scores * mask, soft)
            u = u + torch.einsum("rbm,rbmd->rbd", p, mems[k + 1])
            attention.append(p)
        logits = torch.einsum("rbd,rvd->rbv", u, self.embed[:, h])
        return logits, torch.stack(attention, dim=2)
