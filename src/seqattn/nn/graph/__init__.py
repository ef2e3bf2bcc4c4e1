"""Graph neural network layers: attention over a graph's edge list."""

from seqattn.nn.graph.gat import GATConv
from seqattn.nn.graph.gatv2 import GATv2Conv

__all__ = ["GATConv", "GATv2Conv"]
