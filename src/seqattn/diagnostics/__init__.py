"""Diagnostics of recurrent training: gradient flow, Jacobian products, gradient health."""

from seqattn.diagnostics.gradient_flow import GradientFlow, gradient_flow
from seqattn.diagnostics.health import GradientHealthMonitor, GradientReport, NonFiniteGradientError
from seqattn.diagnostics.jacobian import (
    JacobianProducts,
    jacobian_products,
    step_jacobian,
    zero_state,
)

__all__ = [
    "GradientFlow",
    "gradient_flow",
    "GradientHealthMonitor",
    "GradientReport",
    "NonFiniteGradientError",
    "JacobianProducts",
    "jacobian_products",
    "step_jacobian",
    "zero_state",
]
