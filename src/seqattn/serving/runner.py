"""Load an exported translator folder and translate with onnxruntime (no torch)."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seqattn.serving.search import beam_search, greedy_search
from seqattn.serving.text import MAX_CHARS, ServingVocab, detokenize, load_text_tokenizer

__all__ = ["OnnxTranslator", "ServedTranslation", "is_export_folder"]

log = logging.getLogger("seqattn.serving")

FORMAT = "seqattn.translator-onnx/1"  # seqattn.pipelines.export_translator.MANIFEST_FORMAT


def is_export_folder(path: str | Path) -> bool:
    """True when ``path`` holds an exported translator (its manifest's format)."""
    try:
        manifest = json.loads((Path(path) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(manifest, dict) and manifest.get("format") == FORMAT


@dataclass
class ServedTranslation:
    """One translated sentence, as PyTorch's :class:`~seqattn.pipelines.translation.Translation`:
    text, target pieces, source pieces, score, and attention (T, S) float32 whose row t is the
    step that emitted ``tokens[t]`` (None for the plain and context decoders)."""

    text: str
    tokens: list[str]
    src_tokens: list[str]
    score: float
    attention: np.ndarray | None = None


class OnnxTranslator:
    """A translator exported by ``seqattn export --format onnx``, run by onnxruntime.

    Args:
        folder: the export folder (``manifest.json``, ``encoder.onnx``, ``decoder_step.onnx``,
            the tokenizer and vocabulary files).
        threads: onnxruntime's intra-op threads (0: its default).
        providers: onnxruntime execution providers (default CPU).
    """

    def __init__(self, folder: str | Path, threads: int = 0,
                 providers: Sequence[str] = ("CPUExecutionProvider",)) -> None:  # fmt: skip
        import onnxruntime as ort

        self.folder = Path(folder)
        path = self.folder / "manifest.json"
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"expected an exported translator's manifest at {path}, got: "
                             f"{err}") from None  # fmt: skip
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            got = manifest.get("format") if isinstance(manifest, dict) else type(manifest)
            raise ValueError(f"expected format {FORMAT!r} in {path}, got {got!r}")
        self.manifest = m = manifest
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
        self.encoder, self.step_session = (
            ort.InferenceSession(str(self.folder / m["files"][key]), options,
                                 providers=list(providers))
            for key in ("encoder", "decoder_step")
        )  # fmt: skip
        self.state_names, self.source_names = list(m["state"]), list(m["source"])
        self.encoder_outputs = list(m["encoder"]["outputs"])
        self.step_outputs = list(m["decoder_step"]["outputs"])
        self.src_tok = load_text_tokenizer(self.folder / m["tokenizers"]["src"])
        self.tgt_tok = load_text_tokenizer(self.folder / m["tokenizers"]["tgt"])
        self.src_vocab = ServingVocab.load(self.folder / m["vocabularies"]["src"])
        self.tgt_vocab = ServingVocab.load(self.folder / m["vocabularies"]["tgt"])
        self.max_length = int(m["max_length"])
        if m["decoder"] == "location":  # its score has one row per source position
            self.max_length = min(self.max_length, int(m["model"]["max_source_len"]))
        self.bos, self.eos = m["special_ids"]["bos"], m["special_ids"]["eos"]

    # -- the two graphs ------------------------------------------------------------------------
    def encode(self, src: np.ndarray, lengths: np.ndarray) -> dict[str, np.ndarray]:
        """The initial decoder state of padded ``src`` (B, S) int64 with ``lengths`` (B,)."""
        outs = self.encoder.run(None, {"src": src, "src_lengths": lengths})
        return dict(zip(self.encoder_outputs, outs, strict=True))

    def step(self, tokens: np.ndarray, state: dict[str, np.ndarray]):
        """One decoder step: (log_probs (N, V), the new state (source tensors unchanged),
        attention (N, S) or None)."""
        feed = {"tokens": tokens, **{n: state[n] for n in self.state_names + self.source_names}}
        outs = dict(zip(self.step_outputs, self.step_session.run(None, feed), strict=True))
        new = dict(state)
        for n in self.state_names:
            new[n] = outs[f"{n}_out"]
        return outs["log_probs"], new, outs.get("attention")

    def reorder(self, state: dict[str, np.ndarray], rows: np.ndarray, inputs) -> dict:
        """Keep (and repeat) ``rows`` of every tensor. The source tensors hold one row per
        hypothesis, equal within an input, so a move within the inputs leaves them as they are."""
        n = len(next(iter(state.values())))
        moved = inputs is not None or len(rows) != n
        return {k: v[rows] if moved or k in self.state_names else v for k, v in state.items()}

    # -- text ----------------------------------------------------------------------------------
    def encode_sources(self, texts: Sequence[str]) -> list[list[int]]:
        """Source ids per text, refusing what ``TranslationModel.encode_sources`` refuses."""
        out = []
        for i, text in enumerate(texts):
            at = f"input {i + 1}"
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"expected a sentence at {at}, got an empty line")
            if "\0" in text or len(text) > MAX_CHARS:
                raise ValueError(f"expected at most {MAX_CHARS:,} characters and no NUL at {at}, "
                                 f"got {len(text):,} characters")  # fmt: skip
            ids = self.src_vocab.encode(self.src_tok(text))
            if len(ids) > self.max_length:
                raise ValueError(f"expected at most {self.max_length} source tokens (the "
                                 f"model's max_length; location attention: max_source_len) at "
                                 f"{at}, got {len(ids)}")  # fmt: skip
            out.append(ids)
        return out

    def translate(self, texts: Sequence[str], beam: int = 1, batch_size: int = 64,
                  length_penalty: float = 0.0,
                  max_len_ratio: float = 1.5) -> list[ServedTranslation]:  # fmt: skip
        """Greedy (``beam=1``) or beam search, batched by length as
        :meth:`~seqattn.pipelines.translation.TranslationModel.translate` batches."""
        ids = self.encode_sources(texts)
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        results: list[Any] = [None] * len(ids)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            lengths = np.array([len(ids[i]) for i in chunk], dtype=np.int64)
            src = np.zeros((len(chunk), int(lengths.max())), dtype=np.int64)
            for j, i in enumerate(chunk):
                src[j, : len(ids[i])] = ids[i]
            max_len = np.ceil(lengths.astype(np.float64) * max_len_ratio).astype(np.int64) + 5
            self._check_positions(int(max_len.max()))
            state = self.encode(src, lengths)
            common = {"bos": self.bos, "eos": self.eos, "max_len": max_len}
            if beam == 1:
                tokens, scores, attn = greedy_search(self.step, state, self.reorder, **common)
                best = [(tokens[j], float(scores[j]), attn[j]) for j in range(len(chunk))]
            else:
                found = beam_search(self.step, state, self.reorder, beam_size=beam,
                                    length_penalty=length_penalty, **common)  # fmt: skip
                hyps, scores, attn = found
                best = [(hyps[j][0], float(scores[j, 0]), attn[j][0]) for j in range(len(chunk))]
            for j, i in enumerate(chunk):
                toks, score, a = best[j]
                results[i] = ServedTranslation(
                    detokenize(self.tgt_tok, self.tgt_vocab, toks),
                    [self.tgt_vocab.itos[t] for t in toks],
                    [self.src_vocab.itos[t] for t in ids[i]], score,
                    None if a is None else a[:, : len(ids[i])],
                )  # fmt: skip
        return results

    def _check_positions(self, steps: int) -> None:
        most = self.manifest.get("max_target_positions")
        if most is not None and steps > most:
            raise ValueError(f"expected at most {most} target positions (the exported "
                             f"Transformer's table), got max_len {steps}")  # fmt: skip

    def __repr__(self) -> str:
        m = self.manifest
        return (f"OnnxTranslator({str(self.folder)!r}, decoder={m['decoder']!r}, "
                f"quantize={m.get('quantize')!r})")  # fmt: skip
