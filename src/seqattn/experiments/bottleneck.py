"""Experiment ``bottleneck``: does a fixed-size summary vector limit an encoder-decoder?

Sutskever et al. (2014) pass the source to the decoder only through the encoder's final state;
Cho et al. (2014) feed that summary at every step; Bahdanau et al. (2015) and Luong et al.
(2015) let every decoder step attend to all encoder states. Cho et al. (2014b) and Bahdanau
et al. (2015, fig. 2) report the summary models' quality falling with sentence length (the
"cliff"), and attention models staying flat.

* ``dataset="reverse"`` or ``"copy"`` (seqattn.data.synthetic): sources of random symbols with
  lengths ``min_len..max_len``, all four decoders trained with the same budget, greedy
  decoding; exact-match and token accuracy per source-length bucket.
* ``dataset="multi30k"``: each decoder trained on Multi30k (the translate pipeline, with a
  wall-time budget per model), or loaded from a model directory that ``seqattn run
  translate`` already trained (``model_dirs``); sacreBLEU of greedy output per source-length
  bucket.

One plot per dataset (accuracy or BLEU against length, one line per decoder) and alignment
heat maps of test examples for the attention decoders.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from seqattn.config import replace_config
from seqattn.data.synthetic import copy_task, reverse_task
from seqattn.experiments.base import Experiment, Progress, no_progress
from seqattn.experiments.toolkit import attention_view, worker_map
from seqattn.models.seq2seq import DECODERS, Seq2Seq, Seq2SeqConfig, sequence_loss
from seqattn.pipelines.translation import TranslationConfig
from seqattn.training.loop import TrainLoop
from seqattn.viz import plot_panels
from seqattn.viz.table import Column, Table, render_markdown

PAD, BOS, EOS, OFFSET = 0, 1, 2, 3


def recurrent_decoders() -> tuple[str, ...]:
    """The registered recurrent decoders (:data:`seqattn.models.DECODERS` whose class is
    ``recurrent``), in registration order: the default ``decoders``, so a decoder registered
    with the model trains here beside the others with no change to this module."""
    return tuple(name for name, cls in DECODERS.items() if cls.recurrent)


def _default_translation() -> TranslationConfig:
    return replace_config(TranslationConfig(), {"bpe_vocab": 5000, "lr": 2e-3,
                                                "model.tie_embeddings": True})  # fmt: skip


@dataclass(frozen=True)
class Config:
    """dataset: ``reverse``, ``copy`` or ``multi30k``. decoders: registered decoder names
    (default: every recurrent one, :func:`recurrent_decoders`).
    Synthetic: vocab symbols, lengths min_len..max_len, steps of Adam at lr with batch_size
    (at most minutes_per_model of CPU time each),
    test_per_length test sequences per length, buckets (length edges).
    Multi30k: minutes_per_model of training each (translate pipeline with the
    ``translation`` options, the decoder replaced by each of ``decoders``); model_dirs maps a
    decoder name to a trained translation model directory to evaluate instead of training
    (e.g. ``{bahdanau: runs/m30k/bahdanau/model}``)."""

    dataset: str = "reverse"
    decoders: tuple[str, ...] = field(default_factory=recurrent_decoders)
    cell: str = "gru"
    vocab: int = 10
    min_len: int = 5
    max_len: int = 60
    embed_dim: int = 32
    hidden_size: int = 64
    steps: int = 500
    batch_size: int = 64
    lr: float = 3e-3
    test_per_length: int = 8
    bucket_width: int = 5
    examples: int = 2
    minutes_per_model: float = 8.0
    model_dirs: dict[str, str] | None = None
    translation: TranslationConfig = field(default_factory=_default_translation)
    seed: int = 0
    workers: int = 1  # synthetic: decoders trained side by side in worker processes

    def __post_init__(self) -> None:
        if not isinstance(self.workers, int) or isinstance(self.workers, bool) or self.workers < 1:
            raise ValueError(f"expected workers to be a positive int, got {self.workers!r}")
        if self.dataset not in ("reverse", "copy", "multi30k"):
            raise ValueError(f"expected dataset reverse, copy or multi30k, got {self.dataset!r}")
        unknown = set(self.decoders) - set(DECODERS)
        if unknown:
            raise ValueError(f"expected decoders from {sorted(DECODERS)}, got {unknown}")
        if self.model_dirs is not None:
            if not isinstance(self.model_dirs, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in self.model_dirs.items()
            ):
                raise ValueError(f"expected model_dirs to map decoder names to directory "
                                 f"paths, got {self.model_dirs!r}")  # fmt: skip
            stray = set(self.model_dirs) - set(self.decoders)
            if stray:
                raise ValueError(f"expected model_dirs keys among decoders {list(self.decoders)}, "
                                 f"got {sorted(stray)}")  # fmt: skip
        if not 1 <= self.min_len <= self.max_len:
            raise ValueError(
                f"expected 1 <= min_len <= max_len, got {self.min_len}, {self.max_len}"
            )


def quick(cfg: Config) -> Config:
    """Demo scale: lengths 5-30, 150 steps, a smaller model."""
    return dataclasses.replace(cfg, max_len=min(cfg.max_len, 30), steps=min(cfg.steps, 150),
                               hidden_size=min(cfg.hidden_size, 32), test_per_length=4,
                               minutes_per_model=min(cfg.minutes_per_model, 2.0))  # fmt: skip


def make_batch(cfg: Config, lengths: list[int], gen: torch.Generator):
    """Padded (src, src_lengths, tgt_in, tgt_out) for the synthetic task; ids shifted by 3."""
    task = reverse_task if cfg.dataset == "reverse" else copy_task
    n, longest = len(lengths), max(lengths)
    src = torch.zeros(n, longest, dtype=torch.long)
    tgt_in = torch.zeros(n, longest + 1, dtype=torch.long)
    tgt_out = torch.zeros(n, longest + 1, dtype=torch.long)
    for i, k in enumerate(lengths):
        s, t = task(1, k, cfg.vocab, seed=gen)
        src[i, :k] = s[0] + OFFSET
        tgt_in[i, 0], tgt_in[i, 1 : k + 1] = BOS, t[0] + OFFSET
        tgt_out[i, :k], tgt_out[i, k] = t[0] + OFFSET, EOS
    return src, torch.tensor(lengths), tgt_in, tgt_out


def _synthetic_model(cfg: Config, name: str) -> Seq2Seq:
    vocab = cfg.vocab + OFFSET
    mcfg = Seq2SeqConfig(src_vocab=vocab, tgt_vocab=vocab, embed_dim=cfg.embed_dim,
                         hidden_size=cfg.hidden_size, cell=cfg.cell, dropout=0.0,
                         num_heads=4, decoder=name)  # fmt: skip
    return Seq2Seq(mcfg)


def _batches(cfg: Config, gen: torch.Generator, cpu_limit: float) -> Iterator[tuple]:
    """Random training batches until ``time.process_time()`` passes ``cpu_limit``: a CPU-time
    budget (on a shared machine wall time depends on the other jobs, and equal CPU is the fair
    comparison; the steps actually run are reported). Checked before each batch is drawn."""
    while time.process_time() <= cpu_limit:
        lengths = torch.randint(cfg.min_len, cfg.max_len + 1, (cfg.batch_size,), generator=gen)
        yield make_batch(cfg, lengths.tolist(), gen)


def _train_synthetic(cfg: Config, name: str) -> tuple[dict, dict]:
    """Train decoder ``name``; returns its weights (plain tensors: a worker sends them back)
    and what the run cost."""
    torch.manual_seed(cfg.seed)
    model = _synthetic_model(cfg, name)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    t0, c0 = time.perf_counter(), time.process_time()
    loop = TrainLoop(model.parameters(), opt, clip_norm=1.0, max_steps=cfg.steps)
    state = loop.run(_batches(cfg, gen, c0 + 60 * cfg.minutes_per_model),
                     lambda b: sequence_loss(model(*b[:3]).logits, b[3])[0])  # fmt: skip
    losses = state.losses
    info = {"train_seconds": time.perf_counter() - t0,
            "train_cpu_seconds": time.process_time() - c0,
            "steps": len(losses), "final_loss": sum(losses[-20:]) / len(losses[-20:]),
            "parameters": model.num_parameters()}  # fmt: skip
    return {k: v.detach().clone() for k, v in model.state_dict().items()}, info


def _trained_synthetic(cfg: Config, progress: Progress) -> list[tuple[Seq2Seq, dict]]:
    """Every decoder trained, in ``cfg.workers`` spawned processes (torch's thread count as
    it is, in this process and in each worker: the runs' numbers do not depend on workers)."""
    jobs = [(cfg, name) for name in cfg.decoders]
    results = worker_map(_train_synthetic, jobs, workers=cfg.workers, threads=None,
                         progress=progress, desc="bottleneck")  # fmt: skip
    out = []
    for name, (weights, info) in zip(cfg.decoders, results, strict=True):
        model = _synthetic_model(cfg, name)
        model.load_state_dict(weights)
        out.append((model.eval(), info))
    return out


@torch.no_grad()
def _evaluate_synthetic(cfg: Config, model: Seq2Seq, test) -> tuple[list[dict], list]:
    from seqattn.decoding import greedy_search

    src, src_len, _, tgt_out = test
    state = model.decode_state(src, src_len)
    hyps = greedy_search(model.step, state, bos=BOS, eos=EOS, max_len=src_len + 2)
    per_len: dict[int, list[tuple[bool, float]]] = {}
    for i, k in enumerate(src_len.tolist()):
        gold = tgt_out[i, :k].tolist()
        pred = hyps.tokens[i][0]
        exact = pred == gold
        tok = sum(a == b for a, b in zip(pred, gold, strict=False)) / k
        per_len.setdefault(k, []).append((exact, tok))
    rows = []
    for lo in range(cfg.min_len, cfg.max_len + 1, cfg.bucket_width):
        hi = min(lo + cfg.bucket_width - 1, cfg.max_len)
        vals = [v for k in range(lo, hi + 1) for v in per_len.get(k, [])]
        rows.append({"bucket": f"{lo}-{hi}", "mid": (lo + hi) / 2, "n": len(vals),
                     "exact_match": sum(e for e, _ in vals) / len(vals),
                     "token_accuracy": sum(t for _, t in vals) / len(vals)})  # fmt: skip
    return rows, hyps


def _run_synthetic(cfg: Config, out_dir: Path, progress: Progress) -> dict[str, Any]:
    lengths = [k for k in range(cfg.min_len, cfg.max_len + 1) for _ in range(cfg.test_per_length)]
    test = make_batch(cfg, lengths, torch.Generator().manual_seed(10_000 + cfg.seed))
    table, curves_em, curves_tok, attention = [], {}, {}, []
    for name, (model, info) in zip(cfg.decoders, _trained_synthetic(cfg, progress), strict=True):
        rows, hyps = _evaluate_synthetic(cfg, model, test)
        xs = [r["mid"] for r in rows]
        curves_em[name] = (xs, [r["exact_match"] for r in rows])
        curves_tok[name] = (xs, [r["token_accuracy"] for r in rows])
        n = len(lengths)
        table.append({"decoder": name, **info,
                      "exact_match": sum(r["exact_match"] * r["n"] for r in rows) / n,
                      "token_accuracy": sum(r["token_accuracy"] * r["n"] for r in rows) / n,
                      "by_length": rows})  # fmt: skip
        if hyps.attention and hyps.attention[0][0] is not None:
            for i in _example_rows(lengths, cfg.examples):
                k, toks = lengths[i], hyps.tokens[i][0]
                if not toks:
                    continue
                keys = [str(int(t) - OFFSET) for t in test[0][i, :k]]
                queries = [str(t - OFFSET) if t >= OFFSET else "?" for t in toks]
                attention.append(attention_view(hyps.attention[i][0][:, :k], keys=keys,
                                                queries=queries,
                                                title=f"{name}, length {k}"))  # fmt: skip
    fig = plot_panels(
        {"exact match": curves_em, "token accuracy": curves_tok},
        out_dir / f"bottleneck_{cfg.dataset}.png",
        xlabel="source length",
        ylabel="accuracy (greedy decoding)",
        title=f"{cfg.dataset} task, {cfg.cell.upper()} H={cfg.hidden_size}, steps run: "
        + ", ".join(f"{r['decoder']} {r['steps']}" for r in table),
    )
    return {"table": table, "figures": [str(fig)], "attention": attention}


def _example_rows(lengths: list[int], count: int) -> list[int]:
    """Indices of test rows of a short and a long source (the longest last)."""
    if count <= 0:
        return []
    targets = [lengths[0]] if count == 1 else [min(lengths) + 5, max(lengths)][:count]
    return [lengths.index(min(lengths, key=lambda k, t=t: abs(k - t))) for t in targets]


def _greedy_bleu(bundle, test) -> tuple[dict[str, Any], list]:
    """Greedy translations of ``test``: sacreBLEU and BLEU by source length, and the output."""
    from seqattn.pipelines.translation import bleu_by_length, bleu_scores

    out = bundle.translate([p.src for p in test], beam=1)
    hyps, refs = [t.text for t in out], [p.tgt for p in test]
    by_length = bleu_by_length(hyps, refs, [len(t.src_tokens) for t in out])
    return {**bleu_scores(hyps, refs), "by_length": by_length}, out


def _multi30k_model(cfg: Config, name: str, train, valid, out_dir: Path):
    """Decoder ``name`` loaded from ``cfg.model_dirs``, or trained (translate pipeline, a
    wall-time budget of ``minutes_per_model``)."""
    from seqattn.pipelines.translation import TimeBudget, TranslationModel, fit_translation

    loaded = (cfg.model_dirs or {}).get(name)
    if loaded is not None:
        bundle = TranslationModel.load(loaded)
        if bundle.config.model.decoder != name:
            raise ValueError(f"expected a {name} model for decoder {name!r}, "
                             f"got {bundle.config.model.decoder} in {loaded}")  # fmt: skip
        return bundle, loaded
    mcfg = replace_config(cfg.translation, {"model.decoder": name, "model.cell": cfg.cell,
                                            "seed": cfg.seed})  # fmt: skip
    budget = TimeBudget(cfg.minutes_per_model)
    bundle = fit_translation(train, valid, mcfg, out_dir / f"model-{name}", callbacks=[budget],
                             resume=True)  # fmt: skip
    return bundle, None


def _run_multi30k(cfg: Config, out_dir: Path, progress: Progress) -> dict[str, Any]:
    from seqattn.data.datasets.parallel import load_multi30k

    train, valid, test = (load_multi30k(s, src="de", tgt="en") for s in ("train", "val", "test"))
    table, curves, attention = [], {}, []
    for name in progress(cfg.decoders, "bottleneck", len(cfg.decoders)):
        bundle, loaded = _multi30k_model(cfg, name, train, valid, out_dir)
        row, out = _greedy_bleu(bundle, test)
        cell = bundle.config.model.cell
        curves[f"{name} ({cell})"] = ([b["bucket"] for b in row["by_length"]],
                                      [b["bleu"] for b in row["by_length"]])  # fmt: skip
        table.append({"decoder": name, "cell": cell, "model_dir": loaded,
                      "bleu": row["bleu"], "bleu_lowercase": row["bleu_lowercase"],
                      "steps": bundle.info.get("steps"),
                      "train_seconds": bundle.info.get("train_seconds"),
                      "by_length": row["by_length"]})  # fmt: skip
        t = next((t for t in out if t.attention is not None and len(t.tokens)), None)
        if t is not None:
            attention.append(attention_view(t.attention, keys=t.src_tokens, queries=t.tokens,
                                            title=f"{name}: {t.text}"))  # fmt: skip
    fig = plot_panels({"Multi30k de→en, greedy": curves}, out_dir / "bottleneck_multi30k.png",
                      xlabel="source length (subwords)", ylabel="BLEU")  # fmt: skip
    return {"table": table, "figures": [str(fig)], "attention": attention}


def run(cfg: Config, out_dir: str | Path, progress: Progress = no_progress) -> dict[str, Any]:
    out_dir = Path(out_dir)
    started, cpu0 = time.perf_counter(), time.process_time()
    if cfg.dataset == "multi30k":
        body = _run_multi30k(cfg, out_dir, progress)
    else:
        body = _run_synthetic(cfg, out_dir, progress)
    return {"experiment": "bottleneck", "dataset": cfg.dataset, **body,
            "seconds": time.perf_counter() - started,
            "cpu_seconds": time.process_time() - cpu0}  # fmt: skip


def _bucket_columns(rows: list[dict], key: str, fmt: str, prefix: str = "") -> list[Column]:
    """One column per length bucket of the first row's ``by_length``, showing ``key``."""
    buckets = [b["bucket"] for b in rows[0]["by_length"]] if rows else []
    return [Column(f"bucket {b}", f"{prefix}{b}", align="right",
                   fmt=lambda r, i=i: format(r["by_length"][i][key], fmt))
            for i, b in enumerate(buckets)]  # fmt: skip


def tables(results: dict[str, Any]) -> list[Table]:
    """One table: a row per decoder, overall scores then one column per source-length bucket."""
    rows = results["table"]
    if results["dataset"] == "multi30k":
        columns = [Column("decoder"), Column("cell"), Column("bleu", "BLEU", ".2f"),
                   *_bucket_columns(rows, "bleu", ".1f", prefix="len ")]  # fmt: skip
        return [Table(columns, rows, name="table")]
    columns = [Column("decoder"), Column("exact_match", "exact match", ".3f"),
               Column("token_accuracy", "token acc", ".3f"),
               *_bucket_columns(rows, "exact_match", ".2f")]  # fmt: skip
    title = f"{results['dataset']} task: exact match per source length"
    return [Table(columns, rows, title=title, name="table")]


def table_text(results: dict[str, Any]) -> str:
    """The tables as Markdown (the name callers used before ``tables``)."""
    return render_markdown(tables(results))


EXPERIMENT = Experiment(
    name="bottleneck",
    summary="Summary-vector vs attention decoders: accuracy / BLEU against source length.",
    config_cls=Config,
    run=run,
    quick=quick,
    tables=tables,
)
