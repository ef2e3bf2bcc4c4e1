"""Attention modules: pooling, additive, Luong (global, local, location), multi-head.

Additive, Luong, local and location attention are :class:`ScoredAttention` subclasses: they give
their score, the base class owns the forward.
"""

from seqattn.nn.attention.additive import AdditiveAttention
from seqattn.nn.attention.local import LocalAttention
from seqattn.nn.attention.location import LocationAttention
from seqattn.nn.attention.multihead import MultiHeadAttention
from seqattn.nn.attention.multiplicative import LUONG_MODES, LuongAttention
from seqattn.nn.attention.pooling import AttentionPooling
from seqattn.nn.attention.scored import ScoredAttention
from seqattn.nn.attention.transformer import TransformerEncoder, TransformerEncoderLayer

__all__ = [
    "AttentionPooling",
    "AdditiveAttention",
    "LuongAttention",
    "LUONG_MODES",
    "LocalAttention",
    "LocationAttention",
    "ScoredAttention",
    "MultiHeadAttention",
    "TransformerEncoderLayer",
    "TransformerEncoder",
]
