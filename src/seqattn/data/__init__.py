"""Data: tokenisers, vocabulary, batching, pretrained vectors, real datasets, synthetic tasks."""

from seqattn.data.batching import BucketBatchSampler, PadCollate, pad_sequences, padding_fraction
from seqattn.data.pretrained import (
    CoverageReport,
    Vectors,
    build_embedding_matrix,
    load_vectors,
    pretrained_embedding,
)
from seqattn.data.tokenize import BPETokenizer, WordTokenizer, load_tokenizer
from seqattn.data.vocab import Vocab

__all__ = [
    "WordTokenizer",
    "BPETokenizer",
    "load_tokenizer",
    "Vocab",
    "pad_sequences",
    "PadCollate",
    "BucketBatchSampler",
    "padding_fraction",
    "Vectors",
    "CoverageReport",
    "load_vectors",
    "build_embedding_matrix",
    "pretrained_embedding",
]
