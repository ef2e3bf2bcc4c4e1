"""Practitioner pipelines: train, save, load and use text classifiers, translators, captioners.

``pipelines`` sits above ``models``, ``data``, ``decoding``, ``training``, ``evaluation`` and
``viz`` and below ``cli`` (never importing ``experiments`` or ``cli``); the ``seqattn train``,
``predict``, ``translate``, ``caption`` and ``export`` commands are thin wrappers over it. Every
saved model is a directory of one format (:mod:`seqattn.pipelines.model_dir`).
"""

from seqattn.pipelines.captioning import Captioner, CaptionTrainConfig, train_captioner
from seqattn.pipelines.classification import (
    ClassifierBundle,
    Prediction,
    TextClassifierConfig,
    fit_text_classifier,
)
from seqattn.pipelines.export import EXPORT_FORMATS, ExportableClassifier, export_classifier
from seqattn.pipelines.loading import load_model, model_kind
from seqattn.pipelines.model_dir import open_model_dir, write_model_dir
from seqattn.pipelines.tables import Table, read_table, read_text_examples, write_csv
from seqattn.pipelines.tagging import TaggerBundle, TaggerTrainConfig
from seqattn.pipelines.tagging_training import fit_tagger
from seqattn.pipelines.translation import (
    Translation,
    TranslationConfig,
    TranslationModel,
    fit_translation,
)

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
    "CaptionTrainConfig",
    "Captioner",
    "train_captioner",
    "open_model_dir",
    "write_model_dir",
    "TranslationConfig",
    "TranslationModel",
    "Translation",
    "fit_translation",
    "TaggerTrainConfig",
    "TaggerBundle",
    "fit_tagger",
    "load_model",
    "model_kind",
]
