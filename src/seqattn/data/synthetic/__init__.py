"""Seeded synthetic tasks (the experiments' offline defaults)."""

from seqattn.data.synthetic.tasks import (
    ProbeVocab,
    adding_problem,
    associative_recall,
    copy_task,
    position_probe,
    reverse_task,
    sort_task,
)

__all__ = [
    "ProbeVocab",
    "position_probe",
    "copy_task",
    "reverse_task",
    "sort_task",
    "adding_problem",
    "associative_recall",
]
