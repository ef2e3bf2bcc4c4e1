"""Modules that own parameters. ``nn`` never imports data, training or viz."""

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

__all__ = [
    "RNNCell",
    "LSTMCell",
    "GRUCell",
    "RNNBase",
    "RNN",
    "LSTM",
    "GRU",
    "pack_padded_sequence",
]
