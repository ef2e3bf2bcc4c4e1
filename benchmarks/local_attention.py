"""Local attention that computes only its window, against global attention.

Part 1, self-attention (B·H sequences, head dim 64, float32): our banded
``sliding_window_attention`` (window w) against global attention, torch's
``F.scaled_dot_product_attention`` and our ``efficient_attention``: median time of a forward
(no_grad) and a forward+backward, the peak extra memory of the forward+backward (a fresh child
process per point), and the fitted log-log slopes in n (banded: ≈ 1 expected, global: ≈ 2).
Global attention is skipped past ``--global-max-len`` (its O(n²) time).

Part 2, Luong attention at one decoder step (the cost of decoding): ``LocalAttention`` local-p
with the window backend and with the full-row reference backend, and global ``LuongAttention``,
for a (B, hidden) query against S source states: median time of a step.

Part 3, decoding speed of a whole (untrained) Luong translator: greedy decoding of
``--decode-steps`` tokens (no early eos) with global attention and with local-p (window and
reference backends), for batches of sources of length ``--decode-sources``. Untrained: this is
the cost only; the BLEU side of the trade needs a trained model and is not measured here.

    python benchmarks/local_attention.py                      # n = 1k ... 32k, w = 64, 256
    python benchmarks/local_attention.py --lengths 1024 4096 --windows 64 --json out.json
"""

from __future__ import annotations

import argparse
import json
import platform

import torch

from seqattn.experiments.measure import loglog_slope, median_time, peak_memory_child

CALLS = {
    "banded": "sliding_window_attention(q, k, v, {w})",
    "sdpa": "F.scaled_dot_product_attention(q, k, v)",
    "efficient": "efficient_attention(q, k, v, block_size=128)",
}


def _setup(n: int, bh: int, dim: int, grad: bool, device: str) -> str:
    return (
        "import torch\nimport torch.nn.functional as F\n"
        "from seqattn.functional import efficient_attention, sliding_window_attention\n"
        "torch.manual_seed(0)\n"
        f"q, k, v = (torch.randn(1, {bh}, {n}, {dim}, device='{device}', "
        f"requires_grad={grad}) for _ in range(3))\n"
    )


def measure_self(impl: str, n: int, w: int | None, args) -> dict:
    call = CALLS[impl].format(w=w)
    row = {"impl": impl, "n": n, "window": w}
    for grad, label in ((False, "fwd"), (True, "fwd_bwd")):
        env: dict = {}
        exec(_setup(n, args.bh, args.head_dim, grad, args.device), env)  # noqa: S102
        fn = eval(f"lambda: {call}", env)  # noqa: S307 - our own expression

        def step(fn=fn, grad=grad):
            if grad:
                fn().sum().backward()
            else:
                with torch.no_grad():
                    fn()

        row[f"{label}_ms"] = 1e3 * median_time(step, repeats=args.repeats)
        del env
    if not args.no_memory and args.device == "cpu":
        setup = _setup(n, args.bh, args.head_dim, True, "cpu") + f"fn = lambda: {call}\n"
        row["fwd_bwd_peak_mib"] = peak_memory_child(setup, "fn().sum().backward()\n")
    return row


def measure_step(impl: str, src: int, args) -> dict:
    """One decoder step of Luong attention: (B, hidden) query against (B, S, hidden) states."""
    from seqattn.nn import LocalAttention, LuongAttention

    torch.manual_seed(0)
    hidden, batch = args.hidden, args.batch
    if impl == "global":
        att = LuongAttention("general", hidden)
    else:
        backend = "window" if impl == "local-p window" else "reference"
        att = LocalAttention(hidden, window=args.local_window, mode="local-p", backend=backend)
    att = att.to(args.device)
    h = torch.randn(batch, hidden, device=args.device)
    mem = torch.randn(batch, src, hidden, device=args.device)
    with torch.no_grad():
        kp = att.project_keys(mem)  # once per source, as the decoders do

        def step():
            att(h, mem, key_proj=kp)

        ms = 1e3 * median_time(step, repeats=max(args.repeats, 5) * 4)
    return {"impl": impl, "S": src, "step_ms": ms}


def measure_decode(impl: str, src: int, args) -> dict:
    """Greedy decoding time of a Luong Seq2Seq (global or local-p attention), per token."""
    from seqattn.decoding import greedy_search
    from seqattn.models.seq2seq import Seq2Seq, Seq2SeqConfig

    torch.manual_seed(0)
    kind = "global" if impl == "global" else "local-p"
    cfg = Seq2SeqConfig(src_vocab=1000, tgt_vocab=1000, embed_dim=128, hidden_size=args.hidden,
                        decoder="luong", luong_attention=kind, local_window=args.local_window,
                        max_source_len=max(128, src), dropout=0.0)  # fmt: skip
    model = Seq2Seq(cfg).to(args.device).eval()
    if kind == "local-p":
        model.decoder.attention.backend = "window" if impl == "local-p window" else "reference"
    g = torch.Generator().manual_seed(1)
    tokens = torch.randint(3, 1000, (args.batch, src), generator=g).to(args.device)
    lengths = torch.full((args.batch,), src, device=args.device)

    def step(tok, state):  # eos (id 2) never wins: every row decodes decode_steps tokens
        log_probs, state, attn = model.step(tok, state)
        return log_probs.index_fill(1, eos, float("-inf")), state, attn

    eos = torch.tensor([2], device=args.device)
    with torch.no_grad():

        def decode():
            state = model.decode_state(tokens, lengths)
            return greedy_search(step, state, bos=1, eos=2, max_len=args.decode_steps)

        ms = 1e3 * median_time(decode, repeats=args.repeats)
    return {"impl": impl, "S": src, "decode_ms": ms, "per_token_ms": ms / args.decode_steps}


def _slopes(rows, windows) -> list[tuple[str, dict]]:
    out = []
    for impl in CALLS:
        for w in windows if impl == "banded" else [None]:
            mine = [r for r in rows if r["impl"] == impl and r["window"] == w]
            if len(mine) < 2:
                continue
            ns = [r["n"] for r in mine]
            keys = ("fwd_ms", "fwd_bwd_ms", "fwd_bwd_peak_mib")
            s = {k: loglog_slope(ns, [r.get(k, float("nan")) for r in mine]) for k in keys}
            out.append((impl if w is None else f"{impl} w={w}", s))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lengths", nargs="+", type=int,
                   default=[1024, 2048, 4096, 8192, 16384, 32768])  # fmt: skip
    p.add_argument("--windows", nargs="+", type=int, default=[64, 256])
    p.add_argument("--bh", type=int, default=2, help="batch x heads")
    p.add_argument("--head-dim", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--global-max-len", type=int, default=8192)
    p.add_argument(
        "--global",
        dest="global_impls",
        nargs="*",
        default=["sdpa", "efficient"],
        choices=["sdpa", "efficient"],
        help="the global attentions to compare",
    )
    p.add_argument("--no-memory", action="store_true")
    p.add_argument("--sources", nargs="*", type=int, default=[256, 1024, 4096, 16384],
                   help="part 2: source lengths S")  # fmt: skip
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--local-window", type=int, default=10, help="parts 2, 3: Luong's D")
    p.add_argument("--decode-sources", nargs="*", type=int, default=[30, 300])
    p.add_argument("--decode-steps", type=int, default=40)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--json", help="write the rows as JSON here")
    args = p.parse_args(argv)
    name = torch.cuda.get_device_name() if args.device == "cuda" else platform.machine()
    print(f"device: {args.device} ({name}), torch {torch.__version__}, threads "
          f"{torch.get_num_threads()}; B·H {args.bh}, head dim {args.head_dim}, "
          "float32\n")  # fmt: skip
    print("| impl | w | n | fwd ms | fwd+bwd ms | fwd+bwd peak MiB |")
    print("|---|---:|---:|---:|---:|---:|")
    rows = []
    for n in args.lengths:
        jobs = [("banded", w) for w in args.windows]
        if n <= args.global_max_len:
            jobs += [(impl, None) for impl in args.global_impls]
        for impl, w in jobs:
            r = measure_self(impl, n, w, args)
            rows.append(r)
            print(f"| {impl} | {w or '-'} | {n} | {r['fwd_ms']:.1f} | {r['fwd_bwd_ms']:.1f} | "
                  f"{r.get('fwd_bwd_peak_mib', float('nan')):.0f} |", flush=True)  # fmt: skip
    print("\n| impl | slope fwd time | slope fwd+bwd time | slope fwd+bwd memory |")
    print("|---|---:|---:|---:|")
    slopes = _slopes(rows, args.windows)
    for label, s in slopes:
        print(f"| {label} | {s['fwd_ms']:.2f} | {s['fwd_bwd_ms']:.2f} | "
              f"{s['fwd_bwd_peak_mib']:.2f} |")  # fmt: skip
    print(f"\nLuong attention, one decoder step: B {args.batch}, hidden {args.hidden}, "
          f"local-p D = {args.local_window}\n")  # fmt: skip
    print("| impl | S | step ms |")
    print("|---|---:|---:|")
    steps = []
    for src in args.sources:
        for impl in ("global", "local-p reference", "local-p window"):
            r = measure_step(impl, src, args)
            steps.append(r)
            print(f"| {impl} | {src} | {r['step_ms']:.3f} |", flush=True)
    print(f"\nGreedy decoding, untrained Luong translator (GRU, hidden {args.hidden}), B "
          f"{args.batch}, {args.decode_steps} tokens\n")  # fmt: skip
    print("| impl | S | decode ms | ms / token |")
    print("|---|---:|---:|---:|")
    decodes = []
    for src in args.decode_sources:
        for impl in ("global", "local-p reference", "local-p window"):
            r = measure_decode(impl, src, args)
            decodes.append(r)
            print(f"| {impl} | {src} | {r['decode_ms']:.1f} | {r['per_token_ms']:.3f} |",
                  flush=True)  # fmt: skip
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            out = {"rows": rows, "slopes": dict(slopes), "steps": steps, "decode": decodes}
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
