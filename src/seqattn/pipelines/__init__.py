"""Practitioner pipelines: train, save, load, predict, explain and export text classifiers.

``pipelines`` sits above ``models``, ``data``, ``training`` and ``viz`` and below ``cli``; the
``seqattn train classify`` / ``predict`` / ``export`` commands are thin wrappers over it.
"""

from seqattn.pipelines.classification import (
    ClassifierBundle,
    Prediction,
    TextClassifierConfig,
    fit_text_classifier,
)
from seqattn.pipelines.export import EXPORT_FORMATS, ExportableClassifier, export_classifier
from seqattn.pipelines.tables import Table, read_table, read_text_examples, write_csv

__all__ = [
    "TextClassifierConfig",
    "ClassifierBundle",
    "Prediction",
    "fit_text_classifier",
    "EXPORT_FORMATS",
    "ExportableClassifier",
    "export_classifier",
    "Table",
    "read_table",
    "read_text_examples",
    "write_csv",
]
