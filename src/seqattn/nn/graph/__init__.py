"""Graph neural network layers: attention over a graph's edge list."""

from seqattn.nn.graph.gat import GATConv

__all__ = ["GATConv"]
