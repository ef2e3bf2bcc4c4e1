"""Pure, parameter-free maths of attention: scores, masks, masked softmax, attention."""

from seqattn.functional.attention import apply_mask, attention, scaled_dot_product_attention
from seqattn.functional.efficient import efficient_attention
from seqattn.functional.graph import check_edge_index, scatter_sum, segment_softmax
from seqattn.functional.masks import (
    additive_to_bool,
    bool_to_additive,
    causal_mask,
    check_mask,
    from_key_padding_mask,
    merge_masks,
    padding_mask,
    to_key_padding_mask,
)
from seqattn.functional.scan import linear_recurrence
from seqattn.functional.scores import (
    SCORES,
    additive_score,
    concat_score,
    dot_score,
    general_score,
    scaled_dot_score,
    tanh_score,
)
from seqattn.functional.softmax import masked_softmax

__all__ = [
    "attention",
    "scaled_dot_product_attention",
    "efficient_attention",
    "apply_mask",
    "masked_softmax",
    "causal_mask",
    "padding_mask",
    "from_key_padding_mask",
    "to_key_padding_mask",
    "bool_to_additive",
    "additive_to_bool",
    "merge_masks",
    "check_mask",
    "SCORES",
    "dot_score",
    "scaled_dot_score",
    "general_score",
    "additive_score",
    "concat_score",
    "tanh_score",
    "linear_recurrence",
]
__all__ += ["segment_softmax", "scatter_sum", "check_edge_index"]
