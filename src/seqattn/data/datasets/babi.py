"""bAbI question answering v1.2 (Weston et al., 2015): the 20 English tasks, 1k and 10k.

A file is a sequence of stories; a story restarts when the line id returns to 1. Statement
lines are ``<id> <sentence>``; question lines are ``<id> <question>\\t<answer>\\t<ids>``, where
``<ids>`` are the line ids of the supporting statements. Each question becomes one
:class:`BabiExample` whose story is every statement of its story before the question (the
memory-network convention), with the supporting ids turned into indices into that story.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from seqattn.data.datasets._download import DatasetNotFoundError
from seqattn.data.datasets._registry import data_dir, get_info

__all__ = ["BabiExample", "BABI_TASKS", "babi_file", "babi_path", "load_babi", "parse_babi"]

log = logging.getLogger("seqattn.data")

BABI_TASKS = {
    1: "single-supporting-fact",
    2: "two-supporting-facts",
    3: "three-supporting-facts",
    4: "two-arg-relations",
    5: "three-arg-relations",
    6: "yes-no-questions",
    7: "counting",
    8: "lists-sets",
    9: "simple-negation",
    10: "indefinite-knowledge",
    11: "basic-coreference",
    12: "conjunction",
    13: "compound-coreference",
    14: "time-reasoning",
    15: "basic-deduction",
    16: "basic-induction",
    17: "positional-reasoning",
    18: "size-reasoning",
    19: "path-finding",
    20: "agents-motivations",
}
_SIZES = {"1k": "en", "10k": "en-10k"}


@dataclass(frozen=True)
class BabiExample:
    """One bAbI question with its story.

    Attributes:
        story: the story's statements before the question, in order.
        question: the question, without its line id.
        answer: the answer; tasks 8 and 19 have several, comma-separated (``apple,football``).
        supporting: indices into ``story`` of the supporting facts.
        task: task number 1..20.
    """

    story: tuple[str, ...]
    question: str
    answer: str
    supporting: tuple[int, ...]
    task: int


def babi_file(task: int, split: str = "train", size: str = "1k") -> str:
    """Path of a task file relative to the ``babi`` folder.

    Example:
        >>> babi_file(3, "test", "10k")
        'tasks_1-20_v1-2/en-10k/qa3_three-supporting-facts_test.txt'
    """
    if isinstance(task, bool) or not isinstance(task, int) or task not in BABI_TASKS:
        raise ValueError(f"expected task in 1..20, got {task!r}")
    if split not in ("train", "test"):
        raise ValueError(f"expected split 'train' or 'test', got {split!r}")
    if size not in _SIZES:
        raise ValueError(f"expected size in {list(_SIZES)}, got {size!r}")
    return f"tasks_1-20_v1-2/{_SIZES[size]}/qa{task}_{BABI_TASKS[task]}_{split}.txt"


def babi_path(
    task: int, split: str = "train", size: str = "1k", root: str | os.PathLike | None = None
) -> Path:
    """Absolute path of a task file under the data dir (``root``, default ``SEQATTN_DATA_DIR``
    or the user cache); the file need not exist (``load_babi`` returns ``[]`` for a missing one).

    Example:
        >>> babi_path(3, "train", "10k", "/data").as_posix()
        '/data/babi/tasks_1-20_v1-2/en-10k/qa3_three-supporting-facts_train.txt'
    """
    return data_dir(root) / get_info("babi").folder / babi_file(task, split, size)


def parse_babi(lines, task: int = 0, source: str = "<lines>") -> list[BabiExample]:
    """Parse bAbI lines (an open file or a list of strings) into :class:`BabiExample`.

    Example:
        >>> lines = ["1 Mary moved to the bathroom.", "2 John went to the hallway.",
        ...          "3 Where is Mary? \\tbathroom\\t1"]
        >>> ex = parse_babi(lines, task=1)[0]
        >>> ex.story[ex.supporting[0]], ex.answer
        ('Mary moved to the bathroom.', 'bathroom')
    """
    out: list[BabiExample] = []
    story: list[str] = []
    index_of: dict[int, int] = {}  # line id -> index in story
    for lineno, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        head, _, rest = line.partition(" ")
        if not head.isdigit():
            raise ValueError(f"expected '<line id> <text>' at {source}:{lineno}, got {line!r}")
        line_id = int(head)
        if line_id == 1:
            story, index_of = [], {}
        if "\t" not in rest:
            index_of[line_id] = len(story)
            story.append(rest.strip())
            continue
        fields = rest.split("\t")
        if not fields[0].strip() or not fields[1].strip():  # a tab always gives 2+ fields
            raise ValueError(
                f"expected 'question<TAB>answer<TAB>ids' with a question and an answer at "
                f"{source}:{lineno}, got {line!r}"
            )
        ids = fields[2].split() if len(fields) > 2 else []
        try:
            supporting = tuple(index_of[int(i)] for i in ids)
        except (KeyError, ValueError):
            raise ValueError(
                f"expected supporting ids of earlier statements at {source}:{lineno}, got {ids}"
            ) from None
        out.append(
            BabiExample(tuple(story), fields[0].strip(), fields[1].strip(), supporting, task)
        )
    return out


def load_babi(
    task: int,
    split: str = "train",
    size: str = "1k",
    root: str | os.PathLike | None = None,
) -> list[BabiExample]:
    """The questions of one bAbI task (1,000 per split in ``1k``; 10,000 train in ``10k``).

    A missing task file logs a warning and returns ``[]`` instead of raising: some copies of
    ``en-10k`` lack task 3's training file (use the ``1k`` file, or skip the task).

    Args:
        task: 1..20 (see ``BABI_TASKS``).
        split: ``train`` or ``test`` (the 10k test files equal the 1k ones).
        size: ``1k`` (folder ``en``) or ``10k`` (folder ``en-10k``).
        root: data dir (default ``SEQATTN_DATA_DIR`` or the user cache).

    Returns:
        list of :class:`BabiExample` in file order.

    Raises:
        DatasetNotFoundError: the ``en``/``en-10k`` folder itself is absent.

    Example:
        >>> qa1 = load_babi(1, "train")  # doctest: +SKIP
        >>> len(qa1), qa1[0].answer  # doctest: +SKIP
        (1000, 'bathroom')
    """
    rel = babi_file(task, split, size)
    info = get_info("babi")
    path = babi_path(task, split, size, root)
    if not path.parent.is_dir():
        needed = [f for f in info.required_files if f.path.startswith(str(Path(rel).parent))]
        raise DatasetNotFoundError(info, root, needed)
    if not path.is_file():
        log.warning("bAbI %s task %d %s file is missing (%s); returning no examples",
                    size, task, split, path)  # fmt: skip
        return []
    with open(path, encoding="utf-8", newline=None) as f:
        return parse_babi(f, task=task, source=str(path))
