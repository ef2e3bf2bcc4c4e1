"""Model-agnostic decoding: greedy, beam search and sampling over a step function.

A decoder is seen only through one function::

    step(tokens (N,) long, state) -> (log_probs (N, V), new_state, attention (N, S) | None)

``tokens`` holds the last emitted token of each row (bos first), ``log_probs`` are normalised
log-probabilities of the next token. ``state`` is any nesting of tuples/lists/dicts of tensors
whose dim 0 is the row; searches select rows with :func:`select_rows` and expand inputs to beams
with :func:`repeat_rows`, or with a ``reorder(state, idx)`` the caller passes for other layouts.
Per-input constants (encoder memory) go in a :class:`Shared` dict, which beam search does not
copy per hypothesis (a step groups its rows by input with :func:`group_rows`).
The same code therefore decodes RNN and Transformer decoders. See docs/decoding.md.
"""

from seqattn.decoding._state import (
    Hypotheses,
    Shared,
    State,
    StepFn,
    group_rows,
    repeat_rows,
    select_rows,
)
from seqattn.decoding.beam import beam_search, length_penalty_gnmt
from seqattn.decoding.greedy import greedy_search
from seqattn.decoding.sampling import sample

__all__ = [
    "Hypotheses",
    "Shared",
    "State",
    "StepFn",
    "beam_search",
    "greedy_search",
    "group_rows",
    "length_penalty_gnmt",
    "repeat_rows",
    "sample",
    "select_rows",
]
