"""Memory-augmented layers: end-to-end memory networks."""

from seqattn.nn.memory.memn2n import ENCODINGS, EndToEndMemory, position_encoding, sentence_bags
from seqattn.nn.memory.ntm import NTMCell, NTMState

__all__ = [
    "EndToEndMemory",
    "position_encoding",
    "sentence_bags",
    "ENCODINGS",
    "NTMCell",
    "NTMState",
]
