"""seqattn: sequence models and attention, from RNNs to multi-head attention.

Every building block is written from scratch and checked against a trusted reference
(torch.nn in float64); every classic claim is a runnable experiment (``seqattn run --list``).
"""

__version__ = "0.1.0"
