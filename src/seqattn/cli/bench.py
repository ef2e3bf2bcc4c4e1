"""``seqattn bench``: the benchmark suite of a source checkout, one command.

The benchmarks live in the repository's ``benchmarks/`` folder (outside the package: they are
measurements, not library code). This command finds that folder next to the installed source
(an editable install from a clone, as ``make`` does) or at ``--benchmarks DIR``, and runs the
chosen benchmark's ``main()`` with the shared options. Each prints a Markdown table with the
device, torch version and load average, and writes ``--json`` when asked.
"""

from __future__ import annotations

import argparse
import importlib.util
import shlex
from pathlib import Path

#: name -> (script, what it measures)
SUITE = {
    "recurrent": ("recurrent.py", "our RNN/LSTM/GRU (each backend) vs torch.nn, T = 64..1024"),
    "attention": ("attention.py", "naive vs efficient attention vs F.scaled_dot_product_attention"),
    "scan": ("scan.py", "minGRU (fused/sequential/chunked/scan) vs nn.GRU, T = 64..4096"),
    "beam": ("beam.py", "batched vs one-at-a-time greedy and beam-5 decoding (sentences/s)"),
    "packing": ("packing.py", "packed vs padded recurrent training on widely varying lengths"),
    "demo": ("demo.py", "end-to-end training throughput of `seqattn demo` (examples/s)"),
    "local-attention": ("local_attention.py", "banded / Luong local-p attention vs global"),
    "roofline": ("roofline.py", "GFLOP/s and GB/s of every hot path vs measured machine peaks"),
}


def _default_dir() -> Path:
    import seqattn

    return Path(seqattn.__file__).resolve().parents[2] / "benchmarks"


def _cmd_bench(args: argparse.Namespace) -> int:
    folder = Path(args.benchmarks) if args.benchmarks else _default_dir()
    names = list(SUITE) if args.name == "all" else [args.name]
    missing = [n for n in names if not (folder / SUITE[n][0]).is_file()]
    if missing:
        print(
            f"error: expected the benchmark scripts {[SUITE[n][0] for n in missing]} in "
            f"{folder} (a source checkout; pass --benchmarks DIR), got none there"
        )
        return 2
    for name in names:
        script = folder / SUITE[name][0]
        spec = importlib.util.spec_from_file_location(f"seqattn_bench_{name}", script)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        argv = shlex.split(args.args)
        if args.device:
            argv += ["--device", args.device]
        if args.json:
            path = Path(args.json)
            if len(names) > 1:
                path = path.with_name(f"{path.stem}-{name}{path.suffix}")
            argv += ["--json", str(path)]
        print(f"## {name}: {SUITE[name][1]}\n", flush=True)
        code = module.main(argv)
        if code:
            return int(code)
    return 0


def register(sub) -> None:
    """Add ``bench`` to the CLI's sub-commands."""
    lines = "\n".join(f"  {k:10s} {v[1]}" for k, v in SUITE.items())
    p = sub.add_parser(
        "bench",
        help="run the benchmark suite (speed vs torch references, side by side)",
        description="Benchmarks (run from a source checkout):\n" + lines,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", nargs="?", default="all", choices=[*SUITE, "all"])
    p.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    p.add_argument("--json", help="write the rows as JSON (one file per benchmark for 'all')")
    p.add_argument("--benchmarks", help="the benchmarks folder (default: the checkout's)")
    p.add_argument(
        "--args", default="", metavar="'ARGS'",
        help="more options for the benchmark, one quoted string, e.g. --args '--lengths 4096'",
    )  # fmt: skip
    p.set_defaults(func=_cmd_bench)
