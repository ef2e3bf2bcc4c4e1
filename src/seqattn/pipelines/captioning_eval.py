"""Measuring and drawing a captioner's attention: localisation, BLEU-4, evaluation, figures.

:func:`evaluate` greedy-decodes composed scenes (:mod:`seqattn.data.synthetic.composed_images`)
and reports exact match, word and per-item accuracy, sacreBLEU BLEU-4 and the attention mass
inside the box of the item being named (:func:`localisation`); :func:`plot_word_attention`
draws the paper's figure (one panel per generated word, attention upsampled over the image).
Shapes: L feature-grid regions (hh * ww), n generated words.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no screen
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from seqattn.data.synthetic.composed_images import ComposedScenes  # noqa: E402
from seqattn.data.vocab import Vocab  # noqa: E402
from seqattn.models.show_attend_tell import ShowAttendTell  # noqa: E402
from seqattn.pipelines.captioning import caption_tensors, greedy_captions  # noqa: E402

__all__ = ["bleu4", "evaluate", "localisation", "plot_word_attention", "region_box_overlap"]


# -- measurement --------------------------------------------------------------------------------


def region_box_overlap(
    grid: tuple[int, int], stride: int, box: tuple[int, int, int, int]
) -> torch.Tensor:
    """(L,) fraction of each feature-grid region's pixel block inside ``box`` (top, left, bottom,
    right; bottom/right exclusive). Attention mass on the box = alpha @ this (nearest upsampling:
    a region's weight spread evenly over its stride x stride block)."""
    hh, ww = grid
    top, left, bottom, right = box
    r0 = torch.arange(hh) * stride
    c0 = torch.arange(ww) * stride
    oy = (torch.clamp(torch.minimum(r0 + stride, torch.tensor(bottom)) - torch.maximum(
        r0, torch.tensor(top)), min=0)).double()  # fmt: skip
    ox = (torch.clamp(torch.minimum(c0 + stride, torch.tensor(right)) - torch.maximum(
        c0, torch.tensor(left)), min=0)).double()  # fmt: skip
    return (oy[:, None] * ox[None, :]).flatten() / stride**2


def localisation(
    alphas: Sequence[torch.Tensor], boxes: Sequence[Sequence[tuple[int, int, int, int]]],
    grid: tuple[int, int], stride: int,
) -> list[float]:  # fmt: skip
    """Attention mass inside the box of item t at word t, for every word that names an item."""
    masses = []
    for a, bxs in zip(alphas, boxes, strict=True):
        for t in range(min(a.shape[0], len(bxs))):
            masses.append(float(a[t].double() @ region_box_overlap(grid, stride, bxs[t])))
    return masses


def bleu4(hypotheses: Sequence[str], references: Sequence[str]) -> tuple[float, str]:
    """sacreBLEU corpus BLEU-4 (default tokeniser 13a) and its signature."""
    from sacrebleu.metrics import BLEU

    metric = BLEU()
    score = metric.corpus_score(list(hypotheses), [list(references)])
    return float(score.score), str(metric.get_signature())


def evaluate(
    model: ShowAttendTell, scenes: ComposedScenes, vocab: Vocab, max_len: int = 12
) -> dict[str, Any]:
    """Greedy-decode ``scenes``; exact match, word accuracy, per-item accuracy, BLEU-4 and
    attention localisation (greedy words on correct captions, and teacher-forced)."""
    refs = [c.split() for c in scenes.captions()]
    hyps, alphas, grid = greedy_captions(model, scenes.images, vocab, max_len)
    stride = model.config.stride
    exact = [h == r for h, r in zip(hyps, refs, strict=True)]
    item_hits = [int(i < len(h) and h[i] == w) for h, r in zip(hyps, refs, strict=True)
                 for i, w in enumerate(r)]  # fmt: skip
    words = sum(max(len(h), len(r)) for h, r in zip(hyps, refs, strict=True))
    p_item = sum(item_hits) / len(item_hits)
    # teacher-forced attention: the model names item t at step t by construction
    model.eval()
    tf_alphas = []
    with torch.no_grad():
        for start in range(0, len(refs), 256):
            inp, _ = caption_tensors(refs[start : start + 256], vocab)
            out = model(scenes.images[start : start + 256], inp)
            tf_alphas += [a[: len(r)] for a, r in zip(out.alphas, refs[start : start + 256],
                                                       strict=True)]  # fmt: skip
    ok = [i for i, e in enumerate(exact) if e]
    loc_greedy = localisation([alphas[i] for i in ok], [scenes.boxes[i] for i in ok], grid,
                              stride)  # fmt: skip
    loc_tf = localisation(tf_alphas, scenes.boxes, grid, stride)
    bleu, signature = bleu4([" ".join(h) for h in hyps], [" ".join(r) for r in refs])
    return {
        "exact_match": sum(exact) / len(exact),
        "word_accuracy": sum(item_hits) / words,
        "item_accuracy": p_item,
        "independent_errors_bound": sum(p_item ** len(r) for r in refs) / len(refs),
        "bleu4": bleu,
        "bleu_signature": signature,
        "localisation": sum(loc_tf) / len(loc_tf),
        "localisation_greedy_correct": sum(loc_greedy) / len(loc_greedy) if loc_greedy else None,
        "hypotheses": [" ".join(h) for h in hyps],
        "alphas": alphas,
        "grid": grid,
    }


# -- figures ------------------------------------------------------------------------------------


def plot_word_attention(
    image: torch.Tensor, words: Sequence[str], alphas: torch.Tensor, grid: tuple[int, int],
    path: str | Path, boxes: Sequence[tuple[int, int, int, int]] | None = None,
    title: str | None = None,
) -> Path:  # fmt: skip
    """The paper's figure: the image, then one panel per generated word with that step's
    attention upsampled (bilinear) to the image and overlaid; ``boxes`` outlines the items."""
    img = image.detach().float().cpu()
    img = (img[0] if img.shape[0] == 1 else img.permute(1, 2, 0)).numpy()  # (H, W) or (H, W, 3)
    h, w = img.shape[:2]
    n = len(words)
    fig, axes = plt.subplots(1, n + 1, figsize=(2.3 * (n + 1), 2.3 * h / w + 0.5), squeeze=False)
    axes = axes[0]
    axes[0].imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1)
    axes[0].set_title("image", fontsize=9)
    for k in range(n):
        a = alphas[k].detach().float().cpu().reshape(1, 1, *grid)
        up = F.interpolate(a, size=(h, w), mode="bilinear", align_corners=False)[0, 0].numpy()
        ax = axes[k + 1]
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1)
        ax.imshow(up, cmap="inferno", alpha=0.6, vmin=0, vmax=max(float(up.max()), 1e-12))
        if boxes is not None and k < len(boxes):
            top, left, bottom, right = boxes[k]
            ax.add_patch(plt.Rectangle((left - 0.5, top - 0.5), right - left, bottom - top,
                                       fill=False, edgecolor="cyan", linewidth=1))  # fmt: skip
        ax.set_title(words[k], fontsize=10)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
