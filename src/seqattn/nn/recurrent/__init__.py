"""Recurrent cells and layers, from scratch, interchangeable with torch.nn's."""

from seqattn.nn.recurrent.cells import GRUCell, LSTMCell, RNNCell, gru_step, lstm_step, rnn_step
from seqattn.nn.recurrent.layers import GRU, LSTM, RNN, RNNBase
from seqattn.nn.recurrent.packing import pack_padded_sequence

__all__ = [
    "RNNCell",
    "LSTMCell",
    "GRUCell",
    "RNNBase",
    "RNN",
    "LSTM",
    "GRU",
    "rnn_step",
    "lstm_step",
    "gru_step",
    "pack_padded_sequence",
]
