"""``seqattn serve``: the local attention explorer (docs/serve.md)."""

from __future__ import annotations

import argparse
import sys

from seqattn.cli._groups import guarded

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _cmd_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from seqattn.serve import Limits, create_app
    except ImportError as err:
        print(f"seqattn serve: needs the serve extra (pip install 'seqattn[serve]'): {err}",
              file=sys.stderr)  # fmt: skip
        return 2
    limits = Limits(max_chars=args.max_chars, max_batch=args.max_batch, max_beam=args.max_beam)
    app = create_app(models=args.model, runs=args.runs, limits=limits, scenes=args.scenes)
    if args.host not in _LOOPBACK:
        print(f"seqattn serve: WARNING: binding {args.host}, not 127.0.0.1: anyone who can "
              f"reach this machine on port {args.port} can use the models and read the run "
              "reports; there is no authentication", file=sys.stderr)  # fmt: skip
    print(f"seqattn serve: http://{args.host}:{args.port}/ ({len(args.model)} model(s); "
          "Ctrl-C stops)", file=sys.stderr)  # fmt: skip
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``serve`` to the ``seqattn`` parser."""
    sp = sub.add_parser(
        "serve",
        help="a local web page to explore the models' attention (needs the serve extra)",
        description="Serve an explorer page and its JSON API over saved models: classifiers "
        "(label, probabilities, token shading), translators (greedy and beam hypotheses, "
        "alignment, a step slider), captioners (per-word attention over a scene) and an index "
        "of run reports. See docs/serve.md.",
    )
    sp.add_argument("--model", action="append", required=True, metavar="DIR",
                    help="a model directory (repeatable)")  # fmt: skip
    sp.add_argument("--runs", metavar="DIR", help="a folder of runs whose reports to list")
    sp.add_argument("--scenes", metavar="DIR",
                    help="PNG scenes for captioners (default: generated scenes)")  # fmt: skip
    sp.add_argument("--host", default="127.0.0.1", help="address to bind")
    sp.add_argument("--port", type=int, default=8000, help="port")
    sp.add_argument("--max-chars", type=int, default=1000, help="characters per text")
    sp.add_argument("--max-batch", type=int, default=32, help="texts per request")
    sp.add_argument("--max-beam", type=int, default=8, help="largest beam width")
    sp.set_defaults(func=guarded("serve", _cmd_serve))
