"""32 concurrent clients on a real uvicorn server: every answer equals the sequential one."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("fastapi", reason="seqattn serve needs the serve extra (fastapi, uvicorn)")
httpx = pytest.importorskip("httpx", reason="the concurrency test's clients need httpx")

from seqattn.serve.background import concurrent_posts  # noqa: E402

CLIENTS = 32
WORDS = ["a", "good", "film", "the", "plot", "was", "bad"]
SOURCES = ["ein hund läuft .", "eine katze schläft .", "ein hund", "katze ."]


def client_jobs(i: int) -> list[tuple[str, dict]]:
    """Client i's requests: texts and sentences that differ between clients, so answers
    swapped between concurrent requests show up."""
    text = " ".join(WORDS[(i + k) % len(WORDS)] for k in range(1 + i % 5))
    return [
        ("/api/classify", {"model": "classifier", "texts": [text, WORDS[i % len(WORDS)]]}),
        ("/api/translate", {"model": "translator", "text": SOURCES[i % 4], "beam": 1 + i % 3}),
        ("/api/caption", {"model": "captioner", "scene": i % 6, "beam": 1 + i % 2}),
        # saliency hooks the model's embedding layer per request: the per-model lock's case
        ("/api/classify", {"model": "saliency", "texts": [text, SOURCES[i % 4]]}),
        ("/api/translate", {"model": "transformer", "text": SOURCES[i % 4], "beam": 2}),
    ]


def test_32_concurrent_clients_get_the_sequential_answers(server):
    jobs = [client_jobs(i) for i in range(CLIENTS)]
    with httpx.Client(base_url=server, timeout=30) as c:
        sequential = [[c.post(p, json=b).json() for p, b in job] for job in jobs]
    t0 = time.perf_counter()
    results = concurrent_posts(server, jobs, timeout=60)
    elapsed = time.perf_counter() - t0
    assert sum(len(r) for r in results) == CLIENTS * len(jobs[0])
    for i, (got, want) in enumerate(zip(results, sequential, strict=True)):
        assert [s for s, _, _ in got] == [200] * len(jobs[0]), (i, got)
        assert [body for _, body, _ in got] == want, f"client {i} got another client's answer"
    assert elapsed < 60
