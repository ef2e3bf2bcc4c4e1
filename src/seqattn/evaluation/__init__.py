"""Evaluation: corpus BLEU/chrF via sacreBLEU (with signatures) and scores by length bucket."""

from seqattn.evaluation.buckets import (
    BucketRow,
    accuracy_by_length,
    assign_buckets,
    bleu_by_length,
)
from seqattn.evaluation.tagging import entity_scores, tagging_scores, token_accuracy
from seqattn.evaluation.translation import CorpusScore, corpus_bleu, corpus_chrf

__all__ = [
    "BucketRow",
    "CorpusScore",
    "accuracy_by_length",
    "assign_buckets",
    "bleu_by_length",
    "corpus_bleu",
    "corpus_chrf",
    "entity_scores",
    "tagging_scores",
    "token_accuracy",
]
