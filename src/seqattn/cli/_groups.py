"""Command groups shared by several CLI modules."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable


def train_group(sub: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """The sub-commands of ``seqattn train`` (``classify``, ``translate``, ``caption``, ...).

    Whichever CLI module registers first creates the ``train`` command; the others add their
    task to the same group, so the registration order in cli/main.py does not matter.
    """
    train = sub.choices.get("train")
    if train is None:
        train = sub.add_parser("train", help="train a model from your own data (`train TASK`)")
        train.set_defaults(func=lambda args: (train.print_help(), 0)[1])
        return train.add_subparsers(dest="train_task", metavar="TASK")
    for action in train._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return train.add_subparsers(dest="train_task", metavar="TASK")


def check_inputs(items: list[str] | None, input_path: str | None, output: str | None,
                 noun: str) -> None:  # fmt: skip
    """Inputs come as command-line ``items`` (``noun``: "texts", "sentences") or from
    ``--input FILE``, exactly one of them; ``--output`` only goes with ``--input``."""
    if bool(items) == bool(input_path):
        raise ValueError(f"expected {noun} as arguments or --input FILE (one of them), got "
                         + ("both" if items else "neither"))  # fmt: skip
    if output and not input_path:
        singular = noun[:-1] if noun.endswith("s") else noun
        raise ValueError(f"expected --output only with --input, got it with {singular} arguments")


def add_run_flags(parser: argparse.ArgumentParser, *, resume: bool = True) -> None:
    """``--resume`` (continue from the checkpoints) and ``--progress`` of a training command."""
    if resume:
        parser.add_argument("--resume", action="store_true", help="continue from the checkpoints")
        parser.add_argument(
            "--resume-options", choices=("refuse", "checkpoint"), default="refuse",
            help="with --resume, options that differ from the checkpoint's: refuse (default: "
            "each is named; only --epochs and --patience may change) or checkpoint (continue "
            "with all the checkpoint's options)",
        )  # fmt: skip
    parser.add_argument(
        "--progress", action=argparse.BooleanOptionalAction, default=True,
        help="show training progress: a bar on a terminal, a line every 30 s otherwise "
        "(a log, a pipe)",
    )  # fmt: skip
    add_tensorboard(parser)


def add_tensorboard(parser: argparse.ArgumentParser) -> None:
    """``--tensorboard DIR``: losses, metrics, learning rate, gradient norms (and attention
    images where the training evaluates) as TensorBoard event files."""
    parser.add_argument(
        "--tensorboard", metavar="DIR",
        help="write TensorBoard events (loss, metrics, lr, per-layer gradient norms, attention "
        "images) to DIR; needs the tensorboard package",
    )  # fmt: skip


def tensorboard_logger(args: argparse.Namespace):
    """The :class:`~seqattn.training.TensorBoardLogger` of ``--tensorboard``, or None; checks
    the package is there before anything trains."""
    if not getattr(args, "tensorboard", None):
        return None
    import importlib.util

    if importlib.util.find_spec("tensorboard") is None:
        raise ValueError("expected the tensorboard package for --tensorboard "
                         "(pip install 'seqattn[tensorboard]'), got it missing")  # fmt: skip
    from seqattn.training import TensorBoardLogger

    return TensorBoardLogger(args.tensorboard)


def add_model_io(parser: argparse.ArgumentParser, input_help: str, output_help: str) -> None:
    """``--model DIR`` (required), ``--input FILE`` and ``--output FILE`` of an apply command."""
    parser.add_argument("--model", required=True, metavar="DIR", help="model directory")
    parser.add_argument("--input", metavar="FILE", help=input_help)
    parser.add_argument("--output", metavar="FILE", help=output_help)


def guarded(name: str, fn: Callable[[argparse.Namespace], int]) -> Callable[..., int]:
    """Run ``fn``; the library's errors on bad input (and an unusable checkpoint) become one
    line naming the command, and exit code 2."""

    def run(args: argparse.Namespace) -> int:
        from seqattn.training import CheckpointError

        try:
            return fn(args)
        except (ValueError, TypeError, OSError, CheckpointError) as err:
            print(f"seqattn {name}: {err}", file=sys.stderr)
            return 2

    return run


def default_help(help_text: str, config: str, key: str) -> str:
    """``help_text`` + ``(default: X)``, X read from the config class ``config``
    (``"module:Class"``) at the dotted ``key`` only when --help is printed (no torch import at
    parse time). Help that already names its default is returned as it is."""
    if "default" in help_text.lower():
        return help_text
    import importlib

    from seqattn._registry import _LazyHelp

    def fill() -> str:
        module, name = config.split(":")
        value = getattr(importlib.import_module(module), name)()
        for part in key.split("."):
            value = getattr(value, part)
        return ("none" if value is None else str(value)).replace("%", "%%")

    return _LazyHelp(f"{help_text} (default: {{}})", fill)


def add_config_file(parser: argparse.ArgumentParser, starters: str) -> None:
    """``--config FILE`` and ``--set KEY=VALUE`` of a training command, as ``seqattn run`` has
    them (``starters``: the configs/ folder with starter files for it)."""
    parser.add_argument(
        "--config", metavar="FILE",
        help=f"YAML file of config values (starters: {starters})",
    )  # fmt: skip
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="override one config value, dotted keys for nested ones, e.g. --set "
        "model.hidden_size=128 (repeatable); wins over the flags and --config",
    )  # fmt: skip


def resolve_train_config(cls: type, args: argparse.Namespace, changes: dict) -> object:
    """``cls()`` defaults, then ``--config``, then the flags (``changes``), then ``--set``."""
    from seqattn.config import apply_overrides, load_config, replace_config

    return apply_overrides(replace_config(load_config(cls, args.config), changes), args.set)


def add_train_config(
    parser: argparse.ArgumentParser,
    options: dict[str, tuple[str, type, str]],
    config: str,
    starters: str,
) -> None:
    """``--config``/``--set`` (:func:`add_config_file`) and one flag per config option
    (:func:`add_config_options`) of a training command."""
    add_config_file(parser, starters)
    add_config_options(parser, options, config)


def option_changes(args: argparse.Namespace, options: dict[str, tuple[str, type, str]]) -> dict:
    """``{dotted config key: value}`` of the option flags given on the command line."""
    values = {key: getattr(args, option_dest(flag)) for flag, (key, _, _) in options.items()}
    return {key: value for key, value in values.items() if value is not None}


def option_dest(flag: str) -> str:
    """``--max-len`` -> ``max_len``."""
    return flag.lstrip("-").replace("-", "_")


def add_config_options(
    parser: argparse.ArgumentParser, options: dict[str, tuple[str, type, str]], config: str
) -> None:
    """One option per ``{flag: (dotted config key, type, help)}``, default None (unset keeps the
    config's value), its help ending in the config class's default (see default_help)."""
    for flag, (key, kind, help_text) in options.items():
        parser.add_argument(
            flag, dest=option_dest(flag), type=kind, help=default_help(help_text, config, key)
        )
