"""Typed request and response bodies of the ``seqattn serve`` JSON API (docs/serve.md)."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = [
    "CaptionRequest",
    "CaptionResponse",
    "ClassifyRequest",
    "ClassifyResponse",
    "Hypothesis",
    "ModelInfo",
    "ModelsResponse",
    "RunInfo",
    "Scene",
    "TextPrediction",
    "TranslateRequest",
    "TranslateResponse",
]


class ModelInfo(BaseModel):
    """One served model: its name in requests, kind and what the page needs to show it."""

    name: str
    kind: str  # text-classifier | translation | captioner
    path: str
    labels: list[str] | None = None  # classifier labels
    method: str | None = None  # classifier: "attention" or "gradient x input"
    scenes: list[str] | None = None  # captioner: names of the scenes to pick from


class ModelsResponse(BaseModel):
    models: list[ModelInfo]
    shade_rgb: list[int] = Field(description="colour of the attention shading (viz's)")
    limits: dict[str, int]


class ClassifyRequest(BaseModel):
    model: str
    texts: list[str]


class TextPrediction(BaseModel):
    text: str
    label: str
    probs: dict[str, float]
    tokens: list[str]
    weights: list[float] = Field(description="attention (or saliency) per token, sums to 1")
    shades: list[str] = Field(description="CSS of each token's shading, as the static views")


class ClassifyResponse(BaseModel):
    model: str
    method: str
    predictions: list[TextPrediction]


class TranslateRequest(BaseModel):
    model: str
    text: str
    beam: int = 4


class Hypothesis(BaseModel):
    search: str  # "greedy" or "beam K"
    text: str
    tokens: list[str]
    score: float
    attention: list[list[float]] | None = Field(
        None, description="alignment (T, S): one row per decoding step over the source tokens"
    )
    heads: list[list[list[float]]] | None = Field(
        None, description="per-head alignment (H, T, S) of a multi-head decoder's top layer"
    )


class TranslateResponse(BaseModel):
    model: str
    source_tokens: list[str]
    hypotheses: list[Hypothesis]


class Scene(BaseModel):
    name: str
    height: int
    width: int
    channels: int
    pixels: list[list[list[int]]] = Field(description="(H, W, C) values 0-255")


class CaptionRequest(BaseModel):
    model: str
    scene: int
    beam: int = 1


class CaptionResponse(BaseModel):
    model: str
    scene: Scene
    caption: str
    words: list[str]
    grid: list[int] = Field(description="(rows, cols) of the attended feature grid")
    attention: list[list[float]] = Field(description="(words, rows * cols) per-word attention")


class RunInfo(BaseModel):
    name: str
    report: str | None  # URL of report.html, None when the run has none
