"""Modules that own parameters. ``nn`` never imports data, training or viz."""

from seqattn.nn import attention as _attention
from seqattn.nn.attention import *  # noqa: F403  (its __all__)
from seqattn.nn.attention.kv_cache import KVCache, sink_window_mask
from seqattn.nn.crf import CRF
from seqattn.nn.delta import DeltaNet, GatedLinearAttention
from seqattn.nn.embeddings import (
    LearnedPositionalEncoding,
    SinusoidalPositionalEncoding,
    sinusoidal_encoding,
)
from seqattn.nn.graph import GATConv, GATv2Conv
from seqattn.nn.linear_attention import CausalLinearAttention
from seqattn.nn.mamba import Mamba
from seqattn.nn.mingru import MinGRU, MinLSTM
from seqattn.nn.recurrent import (
    GRU,
    LSTM,
    RNN,
    GRUCell,
    LSTMCell,
    RNNBase,
    RNNCell,
    pack_padded_sequence,
)
from seqattn.nn.squeeze_excitation import SqueezeExcitation, se_parameter_count
from seqattn.nn.ssd import SSD
from seqattn.nn.tcn import TemporalConvNet
from seqattn.nn.xlstm import MLSTM, SLSTM

__all__ = [
    "GATConv",
    "GATv2Conv",
    *_attention.__all__,
    "KVCache",
    "sink_window_mask",
    "SinusoidalPositionalEncoding",
    "LearnedPositionalEncoding",
    "sinusoidal_encoding",
    "RNNBase",
    "RNN",
    "LSTM",
    "GRU",
    "pack_padded_sequence",
    "RNNCell",
    "LSTMCell",
    "GRUCell",
    "TemporalConvNet",
    "MinGRU",
    "MinLSTM",
    "CausalLinearAttention",
    "SSD",
    "CRF",
    "Mamba",
    "MLSTM",
    "SLSTM",
    "DeltaNet",
    "GatedLinearAttention",
    "SqueezeExcitation",
    "se_parameter_count",
]
