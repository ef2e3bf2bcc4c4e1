"""Decoding speed: sentences/s of greedy and beam search, batched vs one sentence at a time.

Uses a trained translation model directory (``--model DIR``, sentences from ``--input``) or,
without one, a randomly initialised Bahdanau GRU model (emb 256, hid 256, V = 5000) on random
source sentences. With random weights no hypothesis ends early, so every search runs exactly
``--max-len`` steps: the comparison measures the search machinery at equal work.

    python benchmarks/beam.py                                   # random model, 64 sentences
    python benchmarks/beam.py --model runs/translate-m30k-bahdanau/model \
        --input test.de --sentences 128 --json beam.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch

from seqattn.decoding import beam_search, greedy_search
from seqattn.models.seq2seq import Seq2Seq, Seq2SeqConfig


def _random_setup(args):
    torch.manual_seed(0)
    cfg = Seq2SeqConfig(src_vocab=5000, tgt_vocab=5000, embed_dim=256, hidden_size=256,
                        decoder="bahdanau", dropout=0.0)  # fmt: skip
    model = Seq2Seq(cfg).eval()
    g = torch.Generator().manual_seed(1)
    lengths = torch.randint(8, 25, (args.sentences,), generator=g)
    sources = [torch.randint(4, 5000, (int(n),), generator=g).tolist() for n in lengths]
    return model, sources, 2, 3, args.max_len


def _model_setup(args):
    from seqattn.pipelines.translation import TranslationModel

    bundle = TranslationModel.load(args.model)
    with open(args.input, encoding="utf-8") as f:
        texts = [line.strip() for line in f if line.strip()][: args.sentences]
    sources, _ = bundle.encode_sources(texts)
    v = bundle.tgt.vocab
    return bundle.model, sources, v.bos_id, v.eos_id, args.max_len


def _decode(model, sources, bos, eos, max_len, beam, batch):
    for start in range(0, len(sources), batch):
        chunk = sources[start : start + batch]
        lengths = torch.tensor([len(s) for s in chunk])
        src = torch.zeros(len(chunk), int(lengths.max()), dtype=torch.long)
        for i, s in enumerate(chunk):
            src[i, : len(s)] = torch.tensor(s)
        state = model.decode_state(src, lengths)
        if beam == 1:
            greedy_search(model.step, state, bos=bos, eos=eos, max_len=max_len)
        else:
            beam_search(model.step, state, bos=bos, eos=eos, beam_size=beam, max_len=max_len)


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="translation model directory (default: random model)")
    parser.add_argument("--input", help="source sentences, one per line (with --model)")
    parser.add_argument("--sentences", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64, help="batch size of the batched runs")
    parser.add_argument("--beams", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--max-len", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="alternate batched and one-at-a-time runs this often; medians",
    )
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args()
    if bool(args.model) != bool(args.input):
        parser.error("expected --model and --input together")
    torch.set_num_threads(args.threads)
    model, sources, bos, eos, max_len = (_model_setup if args.model else _random_setup)(args)
    rows = []
    for beam in args.beams:
        times: dict[int, list[tuple[float, float]]] = {args.batch: [], 1: []}
        for _ in range(args.repeats):  # alternating, so drifts in machine speed hit both
            for batch in (args.batch, 1):
                t0, c0 = time.perf_counter(), time.process_time()
                _decode(model, sources, bos, eos, max_len, beam, batch)
                times[batch].append((time.perf_counter() - t0, time.process_time() - c0))
        for batch in (args.batch, 1):
            wall = statistics.median(w for w, _ in times[batch])
            cpu = statistics.median(c for _, c in times[batch])
            rows.append({"search": "greedy" if beam == 1 else f"beam {beam}", "batch": batch,
                         "sentences": len(sources), "repeats": args.repeats,
                         "seconds": wall, "cpu_seconds": cpu,
                         "sentences_per_s": len(sources) / wall,
                         "sentences_per_cpu_s": len(sources) / cpu,
                         "all_seconds": [w for w, _ in times[batch]]})  # fmt: skip
    print("| search | batch | sentences/s (wall) | sentences/CPU-s | speed-up (CPU) |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        single = next(x for x in rows if x["search"] == r["search"] and x["batch"] == 1)
        r["speedup_cpu"] = r["sentences_per_cpu_s"] / single["sentences_per_cpu_s"]
        print(f"| {r['search']} | {r['batch']} | {r['sentences_per_s']:.1f} "
              f"| {r['sentences_per_cpu_s']:.1f} | {r['speedup_cpu']:.1f}x |")  # fmt: skip
    if args.json:
        info = {
            "platform": platform.platform(),
            "torch": torch.__version__,
            "threads": args.threads,
            "model": args.model or "random bahdanau GRU 256",
        }
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"device": info, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
