"""Run an exported translator with numpy and onnxruntime only: no torch, no other seqattn layer.

``seqattn export --model DIR --format onnx`` writes a folder (``DIR/onnx``) with the encoder
graph, the one-step decoder graph, the tokenizer and vocabulary files and ``manifest.json``
(:mod:`seqattn.pipelines.export_translator`). :class:`OnnxTranslator` loads that folder,
tokenises exactly as the model directory does (:mod:`seqattn.serving.text`), runs greedy or
beam search (:mod:`seqattn.serving.search`, the algorithm of :mod:`seqattn.decoding` step for
step, length penalty included, so the outputs are PyTorch's) and detokenises::

    from seqattn.serving import OnnxTranslator

    translator = OnnxTranslator("translator/onnx")
    for t in translator.translate(["ein hund läuft ."], beam=5):
        print(t.text, t.score)

Needs ``numpy`` and ``onnxruntime``, and ``tokenizers`` for BPE models (``subword="bpe"``,
the default of ``seqattn train translate``).
"""

from seqattn.serving.runner import OnnxTranslator, ServedTranslation, is_export_folder
from seqattn.serving.search import beam_search, greedy_search, length_penalty_gnmt

__all__ = [
    "OnnxTranslator",
    "ServedTranslation",
    "beam_search",
    "greedy_search",
    "is_export_folder",
    "length_penalty_gnmt",
]
