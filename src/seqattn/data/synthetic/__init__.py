"""Seeded synthetic tasks (the experiments' offline defaults)."""

from seqattn.data.synthetic import tasks as _tasks
from seqattn.data.synthetic.tagging import synthetic_tagging, synthetic_tags
from seqattn.data.synthetic.tasks import *  # noqa: F403  (its __all__)

__all__ = [
    *_tasks.__all__,
    "synthetic_tagging",
    "synthetic_tags",
]
