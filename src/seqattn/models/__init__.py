"""Whole models, one file each, with their config dataclass beside them.

``models`` imports ``nn`` and ``functional`` only.
"""

from seqattn.models.classifier import (
    ENCODERS,
    HEADS,
    ClassifierConfig,
    ClassifierOutput,
    SequenceClassifier,
)

__all__ = ["SequenceClassifier", "ClassifierConfig", "ClassifierOutput", "ENCODERS", "HEADS"]
