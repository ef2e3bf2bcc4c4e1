"""Whole models, one file each, with their config dataclass beside them.

``models`` imports ``nn`` and ``functional`` only.
"""

from seqattn.models.char_lm import (
    CharLSTM,
    CharLSTMConfig,
    CharTransformer,
    CharTransformerConfig,
    CharVocab,
)
from seqattn.models.classifier import (
    ENCODERS,
    HEADS,
    ClassifierConfig,
    ClassifierOutput,
    SequenceClassifier,
)
from seqattn.models.gat import GAT, GATConfig
from seqattn.models.memn2n import MemN2N, MemN2NConfig, MemN2NOutput
from seqattn.models.ntm import NTM, NTMConfig, NTMOutput
from seqattn.models.se_resnet import SEResNet, SEResNetConfig
from seqattn.models.seq2seq import DECODERS, Seq2Seq, Seq2SeqConfig, Seq2SeqOutput, sequence_loss
from seqattn.models.tagger import SequenceTagger, TaggerConfig

__all__ = ["SequenceClassifier", "ClassifierConfig", "ClassifierOutput", "ENCODERS", "HEADS"]
__all__ += ["Seq2Seq", "Seq2SeqConfig", "Seq2SeqOutput", "DECODERS", "sequence_loss"]
__all__ += ["SEResNet", "SEResNetConfig"]
__all__ += ["MemN2N", "MemN2NConfig", "MemN2NOutput"]
__all__ += ["GAT", "GATConfig"]
__all__ += ["CharLSTM", "CharLSTMConfig", "CharTransformer", "CharTransformerConfig", "CharVocab"]
__all__ += ["NTM", "NTMConfig", "NTMOutput"]
__all__ += ["SequenceTagger", "TaggerConfig"]
