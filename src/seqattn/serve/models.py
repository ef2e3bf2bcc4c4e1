"""The served models: loaded once through :func:`seqattn.pipelines.loading.load_model`, each
behind a lock (a classifier's saliency hooks its embedding layer, so two requests on one
model must not interleave), answering with the bodies of :mod:`seqattn.serve.schemas`."""

from __future__ import annotations

import logging
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from seqattn.pipelines.loading import load_model, model_kind
from seqattn.serve import schemas
from seqattn.serving import OnnxTranslator, is_export_folder
from seqattn.viz.attention import _shade

__all__ = ["SHADE_RGB", "Limits", "ModelLoadError", "ServedModel", "load_served"]

#: the static views' shading colour (seqattn.viz.attention), read off their own function
SHADE_RGB = [int(v) for v in re.findall(r"\d+", _shade(1.0, 1.0))[:3]]
_SCENES = 6
log = logging.getLogger(__name__)


class ModelLoadError(ValueError):
    """A model folder that does not load: the folder and the reason."""


@dataclass(frozen=True)
class Limits:
    """Request limits: characters per text, texts per request, beam width."""

    max_chars: int = 1000
    max_batch: int = 32
    max_beam: int = 8

    def __post_init__(self) -> None:
        for name in ("max_chars", "max_batch", "max_beam"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"expected {name} to be an int >= 1, got {v!r}")


class RequestError(ValueError):
    """A request over a limit or with bad input: the HTTP status and the message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _scenes(model: Any, scenes_dir: Path | None) -> list[tuple[str, torch.Tensor]]:
    """(name, (C, H, W) image in [0, 1]) to caption: the PNGs of ``scenes_dir`` of the model's
    size, else deterministic generated scenes (coloured blocks, one seed each)."""
    c, (h, w) = model.channels, model.image_size
    out = []
    if scenes_dir is not None:
        from seqattn.data.datasets.captions import read_image

        for path in sorted(scenes_dir.glob("*.png")):
            arr = read_image(path)
            if arr.shape == (h, w, c):
                out.append((path.name, torch.from_numpy(arr).permute(2, 0, 1).contiguous()))
    if out:
        return out
    for seed in range(_SCENES):
        g = torch.Generator().manual_seed(seed)
        img = torch.full((c, h, w), 0.1)
        for _ in range(3):
            top, left = (int(torch.randint(0, max(1, n // 2), (1,), generator=g)) for n in (h, w))
            img[:, top : top + max(1, h // 2), left : left + max(1, w // 3)] = torch.rand(
                c, 1, 1, generator=g
            )
        out.append((f"generated scene {seed + 1}", img))
    return out


@dataclass
class ServedModel:
    """One loaded model with its name, kind and lock."""

    name: str
    kind: str
    path: Path
    model: Any
    scenes: list[tuple[str, torch.Tensor]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def method(self) -> str | None:
        if self.kind != "text-classifier":
            return None
        return "attention" if self.model.model.config.head == "attention" else "gradient x input"

    def info(self) -> schemas.ModelInfo:
        labels = list(self.model.labels) if self.kind == "text-classifier" else None
        scenes = [n for n, _ in self.scenes] if self.kind == "captioner" else None
        return schemas.ModelInfo(name=self.name, kind=self.kind, path=str(self.path),
                                 labels=labels, method=self.method, scenes=scenes)  # fmt: skip

    def _want(self, kind: str) -> None:
        if self.kind != kind:
            raise RequestError(422, f"expected a {kind} model, got {self.name!r} ({self.kind})")

    def classify(self, texts: list[str], limits: Limits) -> schemas.ClassifyResponse:
        self._want("text-classifier")
        if not texts:
            raise RequestError(422, "expected at least one text in 'texts', got none")
        if len(texts) > limits.max_batch:
            raise RequestError(413, f"expected at most {limits.max_batch} texts per request "
                                    f"(max_batch), got {len(texts)}")  # fmt: skip
        _check_chars(texts, limits)
        with self.lock:
            preds = _pipeline(self.model.saliency, texts)
        out = []
        for text, p in zip(texts, preds, strict=True):
            top = max(p.attention)
            out.append(schemas.TextPrediction(
                text=text, label=p.label, probs=p.probs, tokens=p.tokens, weights=p.attention,
                shades=[_shade(float(x), top) for x in p.attention],
            ))  # fmt: skip
        return schemas.ClassifyResponse(model=self.name, method=self.method, predictions=out)

    def translate(self, text: str, beam: int, limits: Limits) -> schemas.TranslateResponse:
        self._want("translation")
        _check_chars([text], limits)
        if isinstance(beam, bool) or not 1 <= beam <= limits.max_beam:
            raise RequestError(422, f"expected beam in 1..{limits.max_beam} (max_beam), got {beam}")
        searches = [("greedy", 1)] + ([(f"beam {beam}", beam)] if beam > 1 else [])
        hyps = []
        with self.lock:
            for search, k in searches:
                (t,) = _pipeline(self.model.translate, [text], beam=k)
                att = None if t.attention is None else t.attention.tolist()
                onnx = isinstance(self.model, OnnxTranslator)  # no PyTorch modules to replay
                heads = None if onnx else _head_weights(self.model, text, t)
                hyps.append(schemas.Hypothesis(search=search, text=t.text, tokens=t.tokens,
                                               score=t.score, attention=att,
                                               heads=heads))  # fmt: skip
        return schemas.TranslateResponse(model=self.name, source_tokens=t.src_tokens,
                                         hypotheses=hyps)  # fmt: skip

    def caption(self, scene: int, beam: int, limits: Limits) -> schemas.CaptionResponse:
        self._want("captioner")
        if isinstance(scene, bool) or not 0 <= scene < len(self.scenes):
            raise RequestError(422, f"expected scene in 0..{len(self.scenes) - 1}, got {scene}")
        if isinstance(beam, bool) or not 1 <= beam <= limits.max_beam:
            raise RequestError(422, f"expected beam in 1..{limits.max_beam} (max_beam), got {beam}")
        name, image = self.scenes[scene]
        with self.lock:
            captions, alphas, grid = _pipeline(self.model.caption, image[None], beam_size=beam)
        pixels = (image.permute(1, 2, 0) * 255).round().clamp(0, 255).to(torch.int64).tolist()
        c, h, w = image.shape
        shown = schemas.Scene(name=name, height=h, width=w, channels=c, pixels=pixels)
        words = captions[0].split()
        att = alphas[0][: len(words)].double().tolist()
        return schemas.CaptionResponse(model=self.name, scene=shown, caption=captions[0],
                                       words=words, grid=list(grid), attention=att)  # fmt: skip


def _head_weights(tm: Any, text: str, t: Any) -> list[list[list[float]]] | None:
    """Per-head cross-attention (H, T, S) of a Transformer decoder's top layer for the
    hypothesis ``t``: its steps replayed through ``model.step``, each step's weights taken per
    head. None for decoders without heads, or when the heads' mean is not the attention the
    search reported (then the heads would not be those of this hypothesis)."""
    layers = getattr(tm.model.decoder, "layers", None)
    attn = getattr(layers[-1], "cross_attn", None) if layers else None
    if t.attention is None or attn is None or getattr(attn, "num_heads", 1) < 2:
        return None
    seen: list[torch.Tensor] = []

    def hook(module, args, kwargs, _output):
        if kwargs.get("average_attn_weights", True):
            more = {**kwargs, "need_weights": True, "average_attn_weights": False}
            seen.append(module(*args, **more)[1][0, :, 0].detach())  # (H, S)

    vocab = tm.tgt.vocab
    ids, _ = tm.encode_sources([text])
    inputs = [vocab.bos_id] + [vocab.stoi[p] for p in t.tokens][: t.attention.shape[0] - 1]
    handle = attn.register_forward_hook(hook, with_kwargs=True)
    try:
        with torch.no_grad():
            state = tm.model.decode_state(torch.tensor(ids), torch.tensor([len(ids[0])]))
            for tok in inputs:
                _, state, _ = tm.model.step(torch.tensor([tok]), state)
    finally:
        handle.remove()
    if len(seen) != t.attention.shape[0]:
        return None
    heads = torch.stack(seen, 1)[:, :, : t.attention.shape[1]].double()  # (H, T, S)
    if not torch.allclose(heads.mean(0), t.attention.double(), atol=1e-5):
        log.warning("per-head weights do not average to the search's attention; not shown")
        return None
    return heads.tolist()


def _check_chars(texts: list[str], limits: Limits) -> None:
    for i, t in enumerate(texts):
        if len(t) > limits.max_chars:
            raise RequestError(422, f"expected at most {limits.max_chars} characters per text "
                                    f"(max_chars), got {len(t)} in text {i + 1}")  # fmt: skip


def _pipeline(fn, *args, **kwargs):
    """The pipeline's own ValueError (an empty text, too many tokens...) as a 422."""
    try:
        return fn(*args, **kwargs)
    except ValueError as err:
        raise RequestError(422, str(err)) from None


def load_served(paths: list[str | os.PathLike], scenes_dir: str | os.PathLike | None = None):
    """{name: ServedModel} for each model folder (named by its folder, made unique).

    Raises:
        ModelLoadError: the first folder that does not load, with the reason.
    """
    served: dict[str, ServedModel] = {}
    scenes = Path(scenes_dir) if scenes_dir is not None else None
    for raw in paths:
        path = Path(raw)
        try:
            if is_export_folder(path):  # `seqattn export` of a translator: onnxruntime
                kind, model = "translation", OnnxTranslator(path)
            else:
                kind, model = model_kind(path), load_model(path)
        except (OSError, ValueError, TypeError, KeyError, ImportError) as err:
            raise ModelLoadError(f"{path}: {err}") from None
        name = path.name if path.name != "model" else path.parent.name or "model"
        base, n = name, 2
        while name in served:
            name, n = f"{base}-{n}", n + 1
        sm = ServedModel(name, kind, path, model)
        if kind == "captioner":
            sm.scenes = _scenes(model, scenes)
        served[name] = sm
    return served
