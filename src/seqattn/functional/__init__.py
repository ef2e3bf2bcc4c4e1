"""Pure, parameter-free maths of attention: scores, masks, masked softmax, attention."""

from seqattn.functional import masks as _masks
from seqattn.functional import scores as _scores
from seqattn.functional.attention import apply_mask, attention, scaled_dot_product_attention
from seqattn.functional.banded import sliding_window_attention
from seqattn.functional.efficient import efficient_attention
from seqattn.functional.graph import check_edge_index, scatter_sum, segment_softmax
from seqattn.functional.masks import *  # noqa: F403  (its __all__)
from seqattn.functional.scan import linear_recurrence
from seqattn.functional.scores import *  # noqa: F403  (its __all__)
from seqattn.functional.softmax import masked_softmax

__all__ = [
    "attention",
    "scaled_dot_product_attention",
    "efficient_attention",
    "apply_mask",
    "masked_softmax",
    *_masks.__all__,
    *_scores.__all__,
    "linear_recurrence",
]
__all__ += ["segment_softmax", "scatter_sum", "check_edge_index"]
__all__ += ["sliding_window_attention"]
