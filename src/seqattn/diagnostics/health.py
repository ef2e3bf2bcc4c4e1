"""Gradient-health monitor: per-parameter gradient norms, vanishing/exploding warnings, NaN/Inf
detection, and clipping through torch's utilities (reporting the norm before clipping).

Use it between ``loss.backward()`` and ``optimizer.step()``::

    monitor = GradientHealthMonitor(model, clip_norm=1.0)
    loss.backward()
    report = monitor.check()          # logs warnings, clips, returns a GradientReport
    if report.finite:
        optimizer.step()

As a training callback it answers ``on_after_backward(...)``. It never prints; warnings go to
the ``seqattn.diagnostics`` logger.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import torch
from torch import nn

__all__ = ["GradientHealthMonitor", "GradientReport", "NonFiniteGradientError"]

log = logging.getLogger("seqattn.diagnostics")


class NonFiniteGradientError(FloatingPointError):
    """A gradient contains NaN or Inf (raised when ``on_nonfinite="raise"``)."""


@dataclass
class GradientReport:
    """What one check found.

    Attributes:
        norms: L2 norm of each parameter's gradient, by parameter name.
        total_norm: L2 norm of all gradients together, before clipping.
        clipped_norm: the total norm after clipping (== total_norm if nothing was clipped).
        vanishing: names whose gradient norm is below the low threshold.
        exploding: names whose gradient norm is above the high threshold.
        nonfinite: names whose gradient has a NaN or Inf.
        missing: names of trainable parameters that received no gradient.
    """

    norms: dict[str, float]
    total_norm: float
    clipped_norm: float
    vanishing: list[str] = field(default_factory=list)
    exploding: list[str] = field(default_factory=list)
    nonfinite: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def finite(self) -> bool:
        return not self.nonfinite

    @property
    def healthy(self) -> bool:
        return not (self.vanishing or self.exploding or self.nonfinite)


class GradientHealthMonitor:
    """Check gradients after each backward pass.

    Args:
        model: the module whose parameters to watch.
        low: a parameter whose gradient norm is below this is reported as vanishing (1e-7).
        high: above this, exploding (1e3).
        clip_norm: if set, clip the total gradient norm to this with
            :func:`torch.nn.utils.clip_grad_norm_` (the report keeps the pre-clip norm).
        clip_value: if set, clip every gradient element to [-v, v] with
            :func:`torch.nn.utils.clip_grad_value_` (applied after norm clipping).
        on_nonfinite: ``"warn"`` (log, and zero nothing) or ``"raise"``
            (:class:`NonFiniteGradientError`).
        history: keep every report in ``self.reports``.
    """

    def __init__(
        self,
        model: nn.Module,
        low: float = 1e-7,
        high: float = 1e3,
        clip_norm: float | None = None,
        clip_value: float | None = None,
        on_nonfinite: str = "warn",
        history: bool = False,
    ) -> None:
        if not 0 <= low < high:
            raise ValueError(f"expected 0 <= low < high, got low={low}, high={high}")
        for label, value in (("clip_norm", clip_norm), ("clip_value", clip_value)):
            if value is not None and not value > 0:
                raise ValueError(f"expected {label} > 0 or None, got {value}")
        if on_nonfinite not in ("warn", "raise"):
            raise ValueError(f"expected on_nonfinite 'warn' or 'raise', got {on_nonfinite!r}")
        self.model = model
        self.low, self.high = low, high
        self.clip_norm, self.clip_value = clip_norm, clip_value
        self.on_nonfinite = on_nonfinite
        self.reports: list[GradientReport] | None = [] if history else None

    @torch.no_grad()
    def check(self) -> GradientReport:
        """Measure, warn, clip; return the :class:`GradientReport`."""
        named = [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]
        with_grad = [(n, p) for n, p in named if p.grad is not None]
        norms = {n: float(p.grad.detach().float().norm()) for n, p in with_grad}
        report = GradientReport(
            norms=norms,
            total_norm=math.sqrt(sum(v * v for v in norms.values())),
            clipped_norm=math.nan,
            missing=[n for n, p in named if p.grad is None],
        )
        for name, value in norms.items():
            if not math.isfinite(value):
                report.nonfinite.append(name)
            elif value < self.low:
                report.vanishing.append(name)
            elif value > self.high:
                report.exploding.append(name)
        if report.nonfinite:
            msg = f"non-finite gradient (NaN/Inf) in: {', '.join(report.nonfinite)}"
            if self.on_nonfinite == "raise":
                raise NonFiniteGradientError(msg)
            log.warning(msg)
        if report.vanishing:
            log.warning(
                "vanishing gradients (norm < %g) in: %s", self.low, ", ".join(report.vanishing)
            )
        if report.exploding:
            log.warning(
                "exploding gradients (norm > %g) in: %s", self.high, ", ".join(report.exploding)
            )
        params = [p for _, p in with_grad]
        report.clipped_norm = report.total_norm
        if self.clip_norm is not None and params:
            pre = torch.nn.utils.clip_grad_norm_(params, self.clip_norm)
            report.total_norm = float(pre)
            report.clipped_norm = min(report.total_norm, self.clip_norm)
        if self.clip_value is not None and params:
            torch.nn.utils.clip_grad_value_(params, self.clip_value)
            grads = [p.grad.detach().float().norm() for p in params]
            report.clipped_norm = float(torch.stack(grads).norm())
        if self.reports is not None:
            self.reports.append(report)
        return report

    def on_after_backward(self, *args, **kwargs) -> GradientReport:
        """Training-callback hook: same as :meth:`check`."""
        return self.check()
