"""Experiment ``translate``: train a seq2seq translator and score it with sacreBLEU.

Data: ``multi30k`` (Elliott et al. 2016; train / val / test_2016_flickr), ``fra-eng``
(Tatoeba; a seeded 90/5/5 split of the first ``fra_eng_limit`` pairs) or a folder ``PATH``
holding ``train.<src>``/``train.<tgt>``, ``valid.*`` and ``test.*``. Training goes through
:func:`seqattn.pipelines.translation.fit_translation` (checkpoints, resumable, optional wall
time budget); the test set is translated with greedy search and beam search, scored on
detokenised output (BLEU cased and lowercased, chrF, sacreBLEU signatures), BLEU by source
length, and a few alignment heat maps go to the report.
"""

from __future__ import annotations

import dataclasses
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqattn.config import replace_config
from seqattn.data.datasets.parallel import SentencePair, load_fra_eng, load_multi30k
from seqattn.experiments.base import Experiment, Progress, no_progress
from seqattn.experiments.toolkit import HookProgress, attention_view, phase
from seqattn.pipelines.translation import (
    TimeBudget,
    TranslationConfig,
    fit_translation,
    read_parallel,
)
from seqattn.pipelines.translation_eval import evaluate_translator
from seqattn.viz import plot_panels
from seqattn.viz.table import Column, Table, render_markdown


@dataclass(frozen=True)
class Config:
    """dataset: ``multi30k``, ``fra-eng`` or a folder. src / tgt: languages (file suffixes).
    model: data, model and training options, a :class:`TranslationConfig` (the network's
    own options under ``model.model``: ``--set model.model.decoder=luong``).
    beam: beam size of the second decoding.
    time_budget_min: stop training after this many minutes (None: run all epochs).
    resume: continue from ``out_dir/model/checkpoints``. test_limit: translate only the first
    N test sentences (None: all). examples: alignment heat maps in the report."""

    dataset: str = "multi30k"
    src: str = "de"
    tgt: str = "en"
    model: TranslationConfig = field(default_factory=TranslationConfig)
    beam: int = 5
    length_penalty: float = 0.0
    time_budget_min: float | None = None
    resume: bool = True
    test_limit: int | None = None
    train_limit: int | None = None
    fra_eng_limit: int = 30000
    examples: int = 4
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.beam, int) or self.beam < 1:
            raise ValueError(f"expected beam to be a positive int, got {self.beam!r}")


def quick(cfg: Config) -> Config:
    """Demo scale: 2,000 training pairs, a small model, 2 epochs, 100 test sentences."""
    model = replace_config(cfg.model, {"epochs": 2, "model.embed_dim": 64,
                                       "model.hidden_size": 64, "bpe_vocab": 1000,
                                       "batch_size": 64})  # fmt: skip
    return dataclasses.replace(cfg, model=model, train_limit=2000, test_limit=100)


def load_splits(cfg: Config) -> tuple[list[SentencePair], list[SentencePair], list[SentencePair]]:
    """(train, valid, test) pairs of ``cfg.dataset``."""
    if cfg.dataset == "multi30k":
        splits = [load_multi30k(s, src=cfg.src, tgt=cfg.tgt) for s in ("train", "val", "test")]
    elif cfg.dataset == "fra-eng":
        pairs = load_fra_eng(limit=cfg.fra_eng_limit)
        if (cfg.src, cfg.tgt) == ("fr", "en"):
            pairs = [SentencePair(p.tgt, p.src) for p in pairs]
        elif (cfg.src, cfg.tgt) != ("en", "fr"):
            raise ValueError(
                f"expected src/tgt en/fr or fr/en for fra-eng, got {cfg.src}/{cfg.tgt}"
            )
        random.Random(cfg.seed).shuffle(pairs)
        n = len(pairs) // 20
        splits = [pairs[2 * n :], pairs[:n], pairs[n : 2 * n]]
    else:
        root = Path(cfg.dataset)
        if not root.is_dir():
            raise ValueError(
                f"expected dataset 'multi30k', 'fra-eng' or a folder, got {cfg.dataset!r}"
            )
        splits = [
            read_parallel(root / f"{s}.{cfg.src}", root / f"{s}.{cfg.tgt}")
            for s in ("train", "valid", "test")
        ]
    train, valid, test = splits
    if cfg.train_limit is not None:
        train = train[: cfg.train_limit]
    if cfg.test_limit is not None:
        test = test[: cfg.test_limit]
    return train, valid, test


evaluate = evaluate_translator  # its home is seqattn.pipelines.translation_eval


def run(cfg: Config, out_dir: str | Path, progress: Progress = no_progress) -> dict[str, Any]:
    out_dir = Path(out_dir)
    started, cpu0 = time.perf_counter(), time.process_time()
    train, valid, test = load_splits(cfg)
    budget = TimeBudget(cfg.time_budget_min)
    model_cfg = dataclasses.replace(cfg.model, seed=cfg.seed)
    train_bar = HookProgress(progress, f"train on {len(train)} pairs (BPE, vocabularies, steps)")
    train_bar.start()  # now: fit_translation learns its BPE and vocabularies before step 1
    bundle = fit_translation(train, valid, model_cfg, out_dir / "model",
                             callbacks=[budget, train_bar], resume=cfg.resume)  # fmt: skip
    rows, translations = [], {}
    for beam in dict.fromkeys((1, cfg.beam)):
        search = "greedy" if beam == 1 else f"beam {beam}"
        with phase(progress, f"test: {search} search over {len(test)} sentences"):
            row, out = evaluate(bundle, test, beam, cfg.length_penalty)
        row["search"] = search
        rows.append(row)
        translations[beam] = out
    best_beam = cfg.beam
    attention = []
    for i, t in enumerate(translations[best_beam][: cfg.examples]):
        if t.attention is not None and len(t.tokens):
            attention.append(attention_view(t.attention, keys=t.src_tokens, queries=t.tokens,
                                            title=f"test {i + 1}: {t.text}"))  # fmt: skip
    curves = {
        r["search"]: ([b["bucket"] for b in r["by_length"]], [b["bleu"] for b in r["by_length"]])
        for r in rows
    }
    fig = plot_panels({f"{cfg.dataset} {cfg.src}→{cfg.tgt}": curves},
                      out_dir / "bleu_by_length.png", xlabel="source length (subwords)",
                      ylabel="BLEU")  # fmt: skip
    greedy, beamed = translations[1], translations[best_beam]
    sample = [{"source": p.src, "reference": p.tgt, "greedy": greedy[i].text,
               "beam": beamed[i].text} for i, p in enumerate(test[:10])]  # fmt: skip
    return {
        "experiment": "translate",
        "dataset": cfg.dataset,
        "direction": f"{cfg.src}-{cfg.tgt}",
        "decoder": cfg.model.model.decoder,
        "cell": cfg.model.model.cell,
        "train": bundle.info,
        "stopped_by_time_budget_at_step": budget.stopped_at,
        "test_sentences": len(test),
        "table": [{k: v for k, v in r.items() if k != "by_length"} for r in rows],
        "by_length": [{"search": r["search"], **b} for r in rows for b in r["by_length"]],
        "bleu_greedy": rows[0]["bleu"],
        "bleu_beam": rows[-1]["bleu"],
        "samples": sample,
        "figures": [str(fig)],
        "attention": attention,
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu0,
    }


def tables(results: dict[str, Any]) -> list[Table]:
    """The BLEU table: one row per search, the run's facts above, sacreBLEU's signature below."""
    tr = results["train"]
    title = (
        f"{results['dataset']} {results['direction']}, {results['cell']} + {results['decoder']}"
        f" ({tr['parameters']:,} parameters, {tr['steps']} steps, {tr['epochs']} full epochs,"
        f" {tr['train_seconds'] / 60:.1f} min)"
    )
    columns = [
        Column("search"),
        Column("bleu", "BLEU", ".2f"),
        Column("bleu_lowercase", "BLEU (lowercase)", ".2f"),
        Column("chrf", "chrF", ".2f"),
        Column("sentences_per_s", "sentences/s", ".1f"),
    ]
    notes = [f"sacreBLEU: {results['table'][0]['signature']}"]
    return [Table(columns, results["table"], title=title, notes=notes, name="table")]


def table_text(results: dict[str, Any]) -> str:
    """The tables as Markdown (the name callers used before ``tables``)."""
    return render_markdown(tables(results))


EXPERIMENT = Experiment(
    name="translate",
    summary="Train a seq2seq translator (Multi30k, fra-eng, own files); greedy/beam sacreBLEU.",
    config_cls=Config,
    run=run,
    quick=quick,
    tables=tables,
)
