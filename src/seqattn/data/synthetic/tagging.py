"""A synthetic named-entity language: the tags are a fixed function of the tokens and their
context on both sides, so a tagger can be tested and measured without a corpus.

Tokens are fillers (``w0`` ...), names (``n0`` ...), titles (``mr``, ``ms``, ``dr``),
prepositions (``in``, ``near``, ``from``) and company suffixes (``corp``, ``inc``, ``ltd``).
A maximal run of names is

* a person (``B-PER I-PER ...``) after a title: ``mr n3 n7``;
* a location (``B-LOC ...``) after a preposition: ``near n12``;
* an organisation (``B-ORG ...``) when a suffix follows it: ``n4 n9 corp`` (only the right
  context tells: a left-to-right reader must wait for the suffix);
* else no entity (``O``): the same name tokens are entities or not by context alone.

Every other token is ``O``. :func:`synthetic_tags` is that rule; :func:`synthetic_tagging`
draws sentences and tags them with it.
"""

from __future__ import annotations

import random

from seqattn.data.datasets.conll import TaggedSentence

__all__ = ["TITLES", "PREPOSITIONS", "SUFFIXES", "synthetic_tags", "synthetic_tagging"]

TITLES = ("mr", "ms", "dr")
PREPOSITIONS = ("in", "near", "from")
SUFFIXES = ("corp", "inc", "ltd")


def _is_name(token: str) -> bool:
    return token.startswith("n") and token[1:].isdigit()


def synthetic_tags(tokens: list[str]) -> list[str]:
    """The tags of ``tokens`` under the rule of the module docstring.

    Example:
        >>> synthetic_tags("mr n1 n2 w3 n4 corp near n5 w0 n6".split())
        ['O', 'B-PER', 'I-PER', 'O', 'B-ORG', 'O', 'O', 'B-LOC', 'O', 'O']
    """
    tags = ["O"] * len(tokens)
    i = 0
    while i < len(tokens):
        if not _is_name(tokens[i]):
            i += 1
            continue
        end = i
        while end < len(tokens) and _is_name(tokens[end]):
            end += 1
        before = tokens[i - 1] if i else None
        after = tokens[end] if end < len(tokens) else None
        kind = ("PER" if before in TITLES else "LOC" if before in PREPOSITIONS
                else "ORG" if after in SUFFIXES else None)  # fmt: skip
        if kind is not None:
            tags[i:end] = [f"B-{kind}"] + [f"I-{kind}"] * (end - i - 1)
        i = end
    return tags


def synthetic_tagging(
    n: int,
    seed: int = 0,
    num_fillers: int = 30,
    num_names: int = 30,
    max_segments: int = 8,
) -> list[TaggedSentence]:
    """``n`` sentences of the synthetic entity language, tagged by :func:`synthetic_tags`.

    A sentence is 2 to ``max_segments`` segments: a filler, or a person / location /
    organisation / plain name run of 1 to 3 names (the plain and organisation runs after a
    filler, so that runs never touch).

    Example:
        >>> s = synthetic_tagging(2, seed=1)
        >>> [len(x.tokens) == len(x.tags) for x in s], s[0].tags == synthetic_tags(s[0].tokens)
        ([True, True], True)
    """
    checks = (("n", n, 0), ("num_fillers", num_fillers, 2), ("num_names", num_names, 2),
              ("max_segments", max_segments, 2))  # fmt: skip
    for name, value, low in checks:
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"expected {name} to be an int >= {low}, got {value!r}")
    rng = random.Random(seed)
    fillers = [f"w{i}" for i in range(num_fillers)]
    names = [f"n{i}" for i in range(num_names)]
    out = []
    for k in range(n):
        tokens: list[str] = []
        for _ in range(rng.randint(2, max_segments)):
            kind = rng.choice(("filler", "filler", "per", "loc", "org", "plain"))
            run = [rng.choice(names) for _ in range(rng.randint(1, 3))]
            if kind == "filler":
                tokens.append(rng.choice(fillers))
            elif kind in ("per", "loc"):
                tokens += [rng.choice(TITLES if kind == "per" else PREPOSITIONS), *run]
            else:
                tokens += [rng.choice(fillers), *run]
                if kind == "org":
                    tokens.append(rng.choice(SUFFIXES))
        out.append(TaggedSentence(tokens, synthetic_tags(tokens), f"synthetic:{seed}:{k + 1}"))
    return out
