"""The ``seqattn`` command. Thin: parses arguments, calls experiments, prints, writes files."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import traceback
from pathlib import Path

from seqattn import __version__
from seqattn.cli._progress import progress as _progress
from seqattn.cli._progress import progress_lines  # noqa: F401 (its home before _progress)


def _numbers(results: dict, prefix: str = "") -> dict[str, float]:
    """The numbers of a results dict, nested keys joined with '/'."""
    out: dict[str, float] = {}
    for key, value in results.items():
        if isinstance(value, dict):
            out.update(_numbers(value, f"{prefix}{key}/"))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[f"{prefix}{key}"] = value
    return out


def _cmd_run(args: argparse.Namespace) -> int:
    from seqattn import experiments
    from seqattn.config import ConfigError
    from seqattn.data.datasets import DatasetNotFoundError
    from seqattn.training import CheckpointError

    if args.list or not args.experiment:
        width = max(len(n) for n in experiments.EXPERIMENTS)
        for name, exp in sorted(experiments.EXPERIMENTS.items()):
            print(f"{name:<{width}}  {exp.summary}")
        return 0
    try:
        exp = experiments.get(args.experiment)
    except ValueError as err:
        print(f"seqattn run: {err}", file=sys.stderr)
        return 2
    overrides = list(args.set or ())
    if args.dataset is not None:
        overrides.append(f"dataset={args.dataset}")
    try:
        cfg = experiments.resolve_config(exp, config_file=args.config, overrides=overrides,
                                         seed=args.seed, quick=args.quick)  # fmt: skip
    except ConfigError as err:
        print(f"seqattn run {exp.name}: {err}", file=sys.stderr)
        return 2
    if args.print_config:  # the resolved config as YAML, nothing run
        import yaml

        from seqattn.config import config_to_dict

        print(f"# seqattn run {exp.name}: {exp.summary}")
        print(f"# use: seqattn run {exp.name} --config THIS_FILE [--set KEY=VALUE ...]")
        print(yaml.safe_dump(config_to_dict(cfg), sort_keys=False), end="")
        return 0
    try:
        from seqattn.cli._groups import tensorboard_logger
        from seqattn.training import tracking

        out = Path(args.out or Path("runs") / exp.name)
        with tracking(tensorboard_logger(args)) as tb:  # every TrainLoop of the run
            record = experiments.run_experiment(
                exp, cfg, out, quick=args.quick, progress=_progress, command=args.argv,
            )  # fmt: skip
            if tb is not None:
                tb.scalars("results", _numbers(record.results), 0)
    except (ValueError, TypeError, OSError, DatasetNotFoundError, CheckpointError) as err:
        # a user error found while running (a bad data file, a missing dataset, a full disk):
        # the message, not a traceback (-v logs it with the traceback for a bug report)
        logging.getLogger("seqattn.cli").info("run failed", exc_info=True)
        print(f"seqattn run {exp.name}: {err}", file=sys.stderr)
        return 2
    print(record.table)
    print(f"\nresults: {record.results_path}")
    print(f"metrics: {record.metrics_path}")
    for fig in record.figures:
        print(f"figure:  {fig}")
    print(f"report:  {record.report_path}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    """The main job: the sentiment probe at quick scale, then VADER tweets when present."""
    from seqattn.data.datasets import missing_files

    out = Path(args.out)
    jobs = [("probe", ["run", "sentiment", "--quick", "--out", str(out / "probe")])]
    if not missing_files("vader"):
        jobs.append(("vader-tweets", ["run", "sentiment", "--quick", "--out",
                                      str(out / "vader-tweets"), "--set",
                                      "dataset=vader-tweets"]))  # fmt: skip
    else:
        print("VADER tweets not found (seqattn data info vader): running the offline probe only")
    reports = []
    for name, argv in jobs:
        print(f"\n== sentiment on {name}: seqattn {' '.join(argv)}")
        sub_args = build_parser().parse_args(argv)
        sub_args.argv = argv
        code = _cmd_run(sub_args)
        if code:
            return code
        reports.append(Path(argv[argv.index("--out") + 1]) / "report.html")
    print("\nreports:\n" + "\n".join(f"  {p}" for p in reports))
    return 0


class _DefaultsFormatter(argparse.HelpFormatter):
    """Help that shows each option's default, unless its help already says it or there is
    none (None, False, an empty string)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if ("default" in text.lower() or default in (None, False, "", argparse.SUPPRESS)
                or not action.option_strings):  # fmt: skip
            return text
        return f"{text} (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """Every parser and sub-parser of ``seqattn`` (sub-parsers take their parent's class)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _DefaultsFormatter)
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="seqattn",
        description="Sequence models and attention: from-scratch layers and runnable experiments.",
    )
    parser.add_argument("--version", action="version", version=f"seqattn {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = sub.add_parser("run", help="run an experiment (see `seqattn run --list`)")
    run.add_argument("experiment", nargs="?", help="experiment name")
    run.add_argument("--list", action="store_true", help="list the experiments and exit")
    run.add_argument("--out", help="output folder (default runs/<experiment>)")
    run.add_argument("--seed", type=int, help="first random seed")
    run.add_argument("--quick", action="store_true", help="the quick (demo) scale")
    run.add_argument(
        "--dataset", help="shortcut for --set dataset=VALUE (experiments with a dataset field)"
    )
    run.add_argument("--config", help="YAML file with config values (see the run's config.yaml)")
    run.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override one config value; dotted keys reach nested configs, "
        "e.g. --set model.hidden_size=128 (repeatable)",
    )
    from seqattn.cli._groups import add_tensorboard

    add_tensorboard(run)
    run.add_argument(
        "--print-config", action="store_true",
        help="print the resolved config as YAML (a --config file) and exit without running",
    )  # fmt: skip
    run.set_defaults(func=_cmd_run)
    demo = sub.add_parser(
        "demo", help="the main job: sentiment probe (offline), then VADER tweets when present"
    )
    demo.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    demo.set_defaults(func=_cmd_demo)
    from seqattn.cli.data import register as register_data_commands

    register_data_commands(sub)
    from seqattn.cli.classify import register as register_classify_commands

    register_classify_commands(sub)
    from seqattn.cli.tag import register as register_tag_commands

    register_tag_commands(sub)
    from seqattn.cli.vectors import register as register_vectors_command

    register_vectors_command(sub)
    from seqattn.cli.translate import register as register_translate_commands

    register_translate_commands(sub)
    from seqattn.cli.caption import register as register_caption_commands

    register_caption_commands(sub)
    from seqattn.cli.bench import register as register_bench_command

    register_bench_command(sub)
    from seqattn.cli.serve import register as register_serve_command

    register_serve_command(sub)
    return parser


def _command_name(args: argparse.Namespace) -> str:
    words = [args.command, getattr(args, "train_task", None), getattr(args, "experiment", None)]
    return " ".join(["seqattn", *(w for w in words if isinstance(w, str))])


def _interrupted(args: argparse.Namespace) -> int:
    """Ctrl-C: one line, exit 130. Checkpoints are written atomically, so the last one is
    intact and a command with ``--resume`` continues from it."""
    hint = "; resume with --resume" if hasattr(args, "resume") else ""
    print(f"{_command_name(args)}: interrupted{hint}", file=sys.stderr)
    return 130


def _internal_error(args: argparse.Namespace, err: Exception) -> int:
    """A bug (or an error nobody turned into a message): one line, the traceback under -v."""
    if args.verbose:
        traceback.print_exc()
    lines = str(err).strip().splitlines() or [""]
    text = lines[0] + (" ..." if len(lines) > 1 else "")
    hint = "" if args.verbose else "; run with -v for the traceback"
    print(f"{_command_name(args)}: internal error: {type(err).__name__}: {text}{hint}",
          file=sys.stderr)  # fmt: skip
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.argv = argv  # recorded with every run, also when main() is called from code
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe fails here, not in the flush at exit
        return code
    except KeyboardInterrupt:
        return _interrupted(args)
    except BrokenPipeError:  # `seqattn ... | head`: the reader left; nothing to report
        with contextlib.suppress(OSError, ValueError):  # nothing left for the exit-time flush
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as err:  # the one place a traceback is turned into a line
        return _internal_error(args, err)


if __name__ == "__main__":
    sys.exit(main())
