"""Training utilities."""

from seqattn.training.tbptt import TBPTTResult, detach_state, tbptt

__all__ = ["TBPTTResult", "detach_state", "tbptt"]
