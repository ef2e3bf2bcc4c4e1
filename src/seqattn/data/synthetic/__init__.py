"""Seeded synthetic tasks (the experiments' offline defaults)."""

from seqattn.data.synthetic import recall as _recall
from seqattn.data.synthetic import tasks as _tasks
from seqattn.data.synthetic.ntm_tasks import associative_recall_batch, priority_sort_batch
from seqattn.data.synthetic.recall import *  # noqa: F403  (its __all__)
from seqattn.data.synthetic.tagging import synthetic_tagging, synthetic_tags
from seqattn.data.synthetic.tasks import *  # noqa: F403  (its __all__)

__all__ = [
    *_tasks.__all__,
    *_recall.__all__,
    "associative_recall_batch",
    "priority_sort_batch",
    "synthetic_tagging",
    "synthetic_tags",
]
