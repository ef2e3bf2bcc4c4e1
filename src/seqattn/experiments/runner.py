"""The run lifecycle, in the library: resolve the config, run, write every file of a run folder.

``seqattn run NAME`` is a thin wrapper over :func:`run_experiment`; a notebook or a script
calls it directly, with no argv::

    from seqattn.experiments import run_experiment
    record = run_experiment("clipping", quick=True, out_dir="runs/clipping",
                            overrides={"steps": 400})
    record.results["table"], record.report_path

A run folder holds: ``config.yaml`` (the resolved config, reusable with ``--config``),
``results.json`` (results, config, quick flag, versions, the command that reproduces it),
``metrics.jsonl``, the figures the experiment drew and ``report.html``.
"""

from __future__ import annotations

import dataclasses
import logging
import shlex
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqattn.experiments.base import Experiment, Progress, no_progress, versions, write_metrics
from seqattn.experiments.toolkit import phase, torch_threads
from seqattn.io import atomic_write_json
from seqattn.lock import folder_lock

__all__ = ["RunRecord", "resolve_config", "run_experiment"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunRecord:
    """What a run produced and where its files are."""

    name: str
    config: Any
    quick: bool
    results: dict[str, Any]
    out_dir: Path
    results_path: Path
    metrics_path: Path
    report_path: Path
    table: str  # the result tables as Markdown
    command: str
    seconds: float

    @property
    def figures(self) -> list[str]:
        return list(self.results.get("figures", []))


def _experiment(experiment: str | Experiment) -> Experiment:
    if isinstance(experiment, Experiment):
        return experiment
    if isinstance(experiment, str):
        from seqattn.experiments import get

        return get(experiment)
    raise TypeError(f"expected an experiment name or Experiment, got {type(experiment).__name__}")


def _override_list(overrides: Mapping[str, Any] | Sequence[str] | None) -> list[str]:
    if overrides is None:
        return []
    if isinstance(overrides, Mapping):
        import json

        # JSON for values: the config loader reads them as YAML scalars/lists (a superset)
        return [f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in overrides.items()]
    if isinstance(overrides, str):
        raise TypeError("expected overrides as a mapping or a list of 'key=value', got a string")
    return [str(o) for o in overrides]


def resolve_config(
    experiment: str | Experiment,
    cfg: Any = None,
    *,
    config_file: str | Path | None = None,
    overrides: Mapping[str, Any] | Sequence[str] | None = None,
    seed: int | None = None,
    quick: bool = False,
) -> Any:
    """The config a run will use: a given one, or defaults < YAML file < overrides; then the
    seed, then the quick scale. Raises :class:`seqattn.config.ConfigError` on a bad key or value.
    """
    from seqattn.config import load_config

    exp = _experiment(experiment)
    if cfg is None:
        cfg = load_config(exp.config_cls, config_file, _override_list(overrides))
    elif not isinstance(cfg, exp.config_cls):
        raise TypeError(
            f"expected a {exp.config_cls.__name__} for {exp.name!r}, got {type(cfg).__name__}"
        )
    elif config_file is not None or overrides:
        raise ValueError("expected either cfg or config_file/overrides, got both")
    if seed is not None:
        cfg = dataclasses.replace(cfg, seed=seed)
    return exp.quick(cfg) if quick else cfg


def _command(name: str, quick: bool, out_dir: Path, command: str | Sequence[str] | None) -> str:
    if isinstance(command, str):
        return command
    if command is not None:
        return shlex.join(["seqattn", *command])
    # from Python: the resolved config file reproduces the run exactly
    return shlex.join(["seqattn", "run", name, "--config", str(out_dir / "config.yaml"),
                       "--out", str(out_dir)])  # fmt: skip


def run_experiment(
    experiment: str | Experiment,
    cfg: Any = None,
    out_dir: str | Path | None = None,
    *,
    quick: bool = False,
    overrides: Mapping[str, Any] | Sequence[str] | None = None,
    config_file: str | Path | None = None,
    seed: int | None = None,
    progress: Progress = no_progress,
    command: str | Sequence[str] | None = None,
) -> RunRecord:
    """Run one experiment and write its run folder.

    Args:
        experiment: a registered name (``seqattn run --list``) or an :class:`Experiment`.
        cfg: a config instance; None resolves one (defaults, ``config_file``, ``overrides``).
        out_dir: the run folder (default ``runs/<name>``); created if missing.
        quick: apply the experiment's quick (demo) scale to the config.
        overrides: ``{"key": value}`` or ``["key=value", ...]``; dotted keys reach nested
            configs.
        config_file: a YAML file of config values (a run's ``config.yaml``).
        seed: replaces the config's ``seed``.
        progress: a progress hook ``progress(iterable, desc, total)`` (the CLI passes a bar).
        command: the command line recorded in results.json (argv after ``seqattn``, or a
            string); default: the ``seqattn run`` command that reproduces the run from its
            saved config.

    Returns:
        A :class:`RunRecord`. torch's thread count is restored for the caller, whatever the
        experiment set.
    """
    from seqattn.config import save_config
    from seqattn.viz.report import write_report

    exp = _experiment(experiment)
    cfg = resolve_config(exp, cfg, config_file=config_file, overrides=overrides, seed=seed,
                         quick=quick)  # fmt: skip
    out = Path(out_dir) if out_dir is not None else Path("runs") / exp.name
    out.mkdir(parents=True, exist_ok=True)
    with folder_lock(out):  # one run per folder at a time
        save_config(cfg, out / "config.yaml")
        started, wall = time.time(), time.perf_counter()
        log.info("run %s%s -> %s", exp.name, " (quick)" if quick else "", out)
        with torch_threads(None):
            results = exp.run(cfg, out, progress=progress)
        payload = {
            "results": results,
            "config": dataclasses.asdict(cfg),
            "quick": quick,
            "versions": versions(),
            "command": _command(exp.name, quick, out, command),
        }
        with phase(progress, f"report: {out / 'report.html'}"):
            results_path = atomic_write_json(out / "results.json", payload)
            metrics_path = write_metrics(out, results, since=started)
            table = exp.table(results)
            report_path = write_report(
                out, title=f"{exp.name}{' (quick)' if quick else ''}",
                command=payload["command"], config=payload["config"], results=results,
                versions=payload["versions"], table_markdown=table,
                tables=exp.result_tables(results), figures=results.get("figures", []),
                metrics_path=metrics_path, attention=results.get("attention", []),
            )  # fmt: skip
        return RunRecord(
            name=exp.name, config=cfg, quick=quick, results=results, out_dir=out,
            results_path=results_path, metrics_path=metrics_path, report_path=report_path,
            table=table, command=payload["command"], seconds=time.perf_counter() - wall,
        )  # fmt: skip
