"""Latency of ``seqattn serve`` under concurrent clients (p50/p95 per endpoint).

The fixture models of tests/fixtures/model_dirs/current (tiny, random weights: the cost of the
server and of the pipelines' per-request work, not of a real-size model) on a real uvicorn
server on loopback; ``--clients`` clients at once, each sending ``--rounds`` rounds of one
classify (2 texts), one translate (greedy + beam 3) and one caption request. A sequential run
(one client) is measured first as the reference; every concurrent answer is checked equal to
the sequential one.

    python benchmarks/serve_latency.py                  # 32 clients x 5 rounds
    python benchmarks/serve_latency.py --clients 8 --rounds 20 --json out.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from seqattn.serve import create_app
from seqattn.serve.background import BackgroundServer, concurrent_posts

FIXTURES = Path(__file__).parents[1] / "tests" / "fixtures" / "model_dirs" / "current"
WORDS = ["a", "good", "film", "the", "plot", "was", "bad"]
SOURCES = ["ein hund läuft .", "eine katze schläft .", "ein hund", "katze ."]
ENDPOINTS = ("classify", "translate", "caption")


def jobs(i: int, rounds: int) -> list[tuple[str, dict]]:
    text = " ".join(WORDS[(i + k) % len(WORDS)] for k in range(1 + i % 5))
    one = [
        ("/api/classify", {"model": "classifier", "texts": [text, WORDS[i % 7]]}),
        ("/api/translate", {"model": "translator", "text": SOURCES[i % 4], "beam": 3}),
        ("/api/caption", {"model": "captioner", "scene": i % 6}),
    ]
    return one * rounds


def percentiles(seconds: list[float]) -> dict[str, float]:
    q = statistics.quantiles(seconds, n=20, method="inclusive")  # 5 % steps
    return {"p50_ms": 1e3 * statistics.median(seconds), "p95_ms": 1e3 * q[18], "n": len(seconds)}


def by_endpoint(results) -> dict[str, dict[str, float]]:
    out = {}
    for k, name in enumerate(ENDPOINTS):
        out[name] = percentiles([r[2] for client in results for r in client[k :: len(ENDPOINTS)]])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", help="write the numbers here too")
    args = ap.parse_args()
    torch.set_num_threads(1)
    app = create_app(models=[FIXTURES / k / "model" for k in ("classifier", "translator",
                                                              "captioner")])  # fmt: skip
    work = [jobs(i, args.rounds) for i in range(args.clients)]
    with BackgroundServer(app) as url:
        concurrent_posts(url, [work[0][:3]])  # warm-up
        t0 = time.perf_counter()
        seq = [concurrent_posts(url, [w])[0] for w in work]
        seq_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        conc = concurrent_posts(url, work, timeout=600)
        conc_s = time.perf_counter() - t0
    same = all([b for _, b, _ in c] == [b for _, b, _ in s] for c, s in zip(conc, seq, strict=True))
    n = sum(len(w) for w in work)
    record = {
        "machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}",
        "clients": args.clients, "rounds": args.rounds, "requests": n,
        "sequential": {"seconds": seq_s, "req_per_s": n / seq_s, **by_endpoint(seq)},
        "concurrent": {"seconds": conc_s, "req_per_s": n / conc_s, **by_endpoint(conc)},
        "answers_equal_sequential": same,
    }  # fmt: skip
    for mode in ("sequential", "concurrent"):
        r = record[mode]
        print(f"{mode}: {n} requests in {r['seconds']:.2f} s ({r['req_per_s']:.0f} req/s)")
        for name in ENDPOINTS:
            e = r[name]
            print(
                f"  {name:<10} p50 {e['p50_ms']:7.1f} ms  p95 {e['p95_ms']:7.1f} ms  (n={e['n']})"
            )
    print(f"concurrent answers equal the sequential ones: {same}")
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
