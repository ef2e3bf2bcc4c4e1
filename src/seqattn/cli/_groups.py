"""Command groups shared by several CLI modules."""

from __future__ import annotations

import argparse


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
