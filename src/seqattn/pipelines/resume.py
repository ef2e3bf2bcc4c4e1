"""What a resumed training runs with when its options differ from the checkpoint's.

A checkpoint records the pipeline's options (``state["pipeline"]``). ``--resume`` with other
options on the command line used to train with the checkpoint's weights, optimizer and schedule
but record the new options in config.json and train_summary.json, which then described a run
that never happened. Now the differences are decided, and what was used is recorded:

* the options a resumed run can honour (the pipeline names them: ``epochs``, ``patience``...)
  take their new values, with a warning naming each;
* any other difference (``lr``, ``hidden_size``, ``batch_size``...) is refused under the default
  policy ``"refuse"``: a ValueError naming each option with its value in the checkpoint and
  now, and the two ways on;
* the policy ``"checkpoint"`` continues with all the checkpoint's options (the new ones are
  ignored, and the records say the checkpoint's).

>>> from seqattn.pipelines.resume import option_differences
>>> option_differences({"lr": 0.001, "model": {"hidden_size": 8}},
...                    {"lr": 0.1, "model": {"hidden_size": 8}})
{'lr': (0.001, 0.1)}
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["RESUME_OPTIONS", "option_differences", "resume_config", "saved_options"]

log = logging.getLogger(__name__)

#: The policies for options that differ from the checkpoint's (``--resume-options``).
RESUME_OPTIONS = ("refuse", "checkpoint")
C = TypeVar("C")
_ABSENT = "(absent)"


def option_differences(
    old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = ""
) -> dict[str, tuple[Any, Any]]:
    """``{dotted key: (old value, new value)}`` for every leaf that differs (nested sections
    compared key by key; a key on one side only counts as absent on the other)."""
    out: dict[str, tuple[Any, Any]] = {}
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, _ABSENT), new.get(key, _ABSENT)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out.update(option_differences(a, b, f"{prefix}{key}."))
        elif _norm(a) != _norm(b):
            out[f"{prefix}{key}"] = (a, b)
    return out


def _norm(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value  # JSON turns tuples into lists


def saved_options(ckpt_dir: str | Path) -> tuple[bool, dict[str, Any] | None, Path | None]:
    """(a checkpoint exists, the options it recorded or None, its folder) for the checkpoint a
    resume would continue from (the newest good one, as the trainer picks it)."""
    from seqattn.training import CheckpointError, list_checkpoints, load_checkpoint

    ckpt_dir = Path(ckpt_dir)
    if not ckpt_dir.is_dir() or not list_checkpoints(ckpt_dir):
        return False, None, None
    try:
        ckpt = load_checkpoint(ckpt_dir)
    except CheckpointError:
        return True, None, None  # the trainer names the failure when it tries
    options = ckpt.state.get("pipeline")
    return True, (dict(options) if isinstance(options, Mapping) else None), ckpt.path


def resume_config(
    config: C,
    ckpt_dir: str | Path,
    policy: str,
    changeable: Collection[str],
) -> tuple[C, dict[str, Any]]:
    """The config a resume from ``ckpt_dir`` trains with, and a record of what differed.

    Args:
        config: the new options (a :class:`~seqattn.config.ConfigDict` dataclass).
        ckpt_dir: the checkpoints folder the trainer resumes from.
        policy: one of :data:`RESUME_OPTIONS`.
        changeable: dotted keys a resumed run honours (taken from ``config`` under
            ``"refuse"``).

    Returns:
        ``(config, record)``: the config to train with (the checkpoint's under
        ``"checkpoint"``) and ``{"options": policy, "from": folder, "differences": {key:
        {"checkpoint": a, "now": b}}, "used": "new" | "checkpoint"}`` (``differences`` None
        when there is nothing to compare).

    Raises:
        ValueError: an unknown policy; under ``"refuse"`` a difference outside ``changeable``,
            each named with both values.
    """
    if policy not in RESUME_OPTIONS:
        raise ValueError(f"expected resume_options in {RESUME_OPTIONS}, got {policy!r}")
    found, saved, path = saved_options(ckpt_dir)
    record: dict[str, Any] = {"options": policy, "from": str(path) if path else None,
                              "differences": None, "used": "new"}  # fmt: skip
    if not found or path is None:
        return config, record
    if saved is None:
        log.warning("the checkpoint %s records no options (written by an older version): "
                    "resuming without checking them", path)  # fmt: skip
        return config, record
    diffs = option_differences(saved, config.to_dict())
    record["differences"] = {k: {"checkpoint": a, "now": b} for k, (a, b) in diffs.items()}
    named = "; ".join(f"{k}: checkpoint {a!r}, now {b!r}" for k, (a, b) in diffs.items())
    if policy == "checkpoint":
        if diffs:
            log.warning("resuming with the checkpoint's options, ignoring the new %s", named)
        record["used"] = "checkpoint"
        return type(config).from_dict(saved), record
    fixed = {k: v for k, v in diffs.items() if k not in changeable}
    if fixed:
        listed = "; ".join(f"{k}: checkpoint {a!r}, now {b!r}" for k, (a, b) in fixed.items())
        raise ValueError(
            f"expected the options of the checkpoint {path} to resume, got different ones: "
            f"{listed} (a resumed run cannot honour them; --resume-options checkpoint continues "
            f"with the checkpoint's, or train without --resume; only {sorted(changeable)} may "
            f"change)"
        )
    if diffs:
        log.warning("resuming with new %s", named)
    return config, record
