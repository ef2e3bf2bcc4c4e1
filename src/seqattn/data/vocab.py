"""A vocabulary: tokens <-> ids, built from counts with a minimum frequency and a maximum size.

Specials come first (``<pad>`` = 0, ``<unk>`` = 1, ``<bos>`` = 2, ``<eos>`` = 3 by default), then
tokens by descending count, ties broken alphabetically so the same corpus always gives the same
ids. Saved as JSON next to a checkpoint.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from seqattn.io import atomic_write_text

__all__ = ["Vocab", "DEFAULT_SPECIALS"]

DEFAULT_SPECIALS = ("<pad>", "<unk>", "<bos>", "<eos>")


class Vocab:
    """Map tokens to ids and back.

    Args:
        tokens: the id-ordered token list (specials included).
        pad / unk / bos / eos: the special tokens' strings, or None where the vocabulary has
            none (``unk=None`` makes unknown tokens an error instead of ``<unk>``).
        counts: optional token counts (kept for coverage reports and saved with the vocab).

    Example:
        >>> v = Vocab.build([["the", "cat"], ["the", "dog"], ["a", "cat"]], min_freq=2)
        >>> v.itos
        ['<pad>', '<unk>', '<bos>', '<eos>', 'cat', 'the']
        >>> v.encode(["the", "bird"], add_eos=True)
        [5, 1, 3]
        >>> v.decode([2, 5, 4, 3, 0, 0])
        ['the', 'cat']
    """

    def __init__(
        self,
        tokens: Sequence[str],
        pad: str | None = "<pad>",
        unk: str | None = "<unk>",
        bos: str | None = "<bos>",
        eos: str | None = "<eos>",
        counts: Mapping[str, int] | None = None,
    ) -> None:
        tokens = list(tokens)
        bad = [t for t in tokens if not isinstance(t, str)]
        if bad:
            raise TypeError(f"expected str tokens, got {type(bad[0]).__name__} ({bad[0]!r})")
        seen: dict[str, int] = {}
        for i, t in enumerate(tokens):
            if t in seen:
                raise ValueError(f"expected unique tokens, got {t!r} at ids {seen[t]} and {i}")
            seen[t] = i
        for role, tok in (("pad", pad), ("unk", unk), ("bos", bos), ("eos", eos)):
            if tok is not None and tok not in seen:
                raise ValueError(f"expected the {role} token {tok!r} in the vocabulary, got none")
        self.itos: list[str] = tokens
        self.stoi: dict[str, int] = seen
        self.pad, self.unk, self.bos, self.eos = pad, unk, bos, eos
        self.counts: dict[str, int] = dict(counts or {})

    # -- building ------------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        corpus: Iterable[Iterable[str]] | Mapping[str, int],
        min_freq: int = 1,
        max_size: int | None = None,
        specials: Sequence[str] = DEFAULT_SPECIALS,
    ) -> Vocab:
        """Build from tokenised texts (or a ``{token: count}`` mapping).

        Args:
            corpus: an iterable of token lists, or counts.
            min_freq: drop tokens seen fewer times.
            max_size: keep at most this many tokens, specials included (None: all).
            specials: special tokens, placed first; the standard four name their roles
                (``<pad>``, ``<unk>``, ``<bos>``, ``<eos>``); others are plain reserved tokens.
        """
        if not isinstance(min_freq, int) or min_freq < 1:
            raise ValueError(f"expected min_freq to be an int >= 1, got {min_freq!r}")
        specials = list(dict.fromkeys(specials))
        if max_size is not None and (not isinstance(max_size, int) or max_size < len(specials)):
            raise ValueError(
                f"expected max_size to be an int >= {len(specials)} (the specials), "
                f"got {max_size!r}"
            )
        if isinstance(corpus, Mapping):
            counts = Counter(dict(corpus))
        else:
            counts = Counter()
            for tokens in corpus:
                if isinstance(tokens, str):
                    raise TypeError(
                        "expected an iterable of token lists, got a str (tokenise first)"
                    )
                counts.update(tokens)
        ranked = sorted(
            (t for t, c in counts.items() if c >= min_freq and t not in specials),
            key=lambda t: (-counts[t], t),
        )
        if max_size is not None:
            ranked = ranked[: max_size - len(specials)]
        roles = {r: (r if r in specials else None) for r in DEFAULT_SPECIALS}
        return cls(
            specials + ranked,
            pad=roles["<pad>"],
            unk=roles["<unk>"],
            bos=roles["<bos>"],
            eos=roles["<eos>"],
            counts={t: counts[t] for t in ranked},
        )

    # -- lookups -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: object) -> bool:
        return token in self.stoi

    def __getitem__(self, token: str) -> int:
        idx = self.stoi.get(token)
        if idx is not None:
            return idx
        if self.unk is None:
            raise KeyError(f"expected a token of the vocabulary (it has no <unk>), got {token!r}")
        return self.stoi[self.unk]

    def _id(self, role: str) -> int:
        tok = getattr(self, role)
        if tok is None:
            raise ValueError(f"expected a vocabulary with a {role} token, got none")
        return self.stoi[tok]

    @property
    def pad_id(self) -> int:
        return self._id("pad")

    @property
    def unk_id(self) -> int:
        return self._id("unk")

    @property
    def bos_id(self) -> int:
        return self._id("bos")

    @property
    def eos_id(self) -> int:
        return self._id("eos")

    @property
    def special_ids(self) -> set[int]:
        return {self.stoi[t] for t in (self.pad, self.unk, self.bos, self.eos) if t is not None}

    def encode(
        self, tokens: Iterable[str], add_bos: bool = False, add_eos: bool = False
    ) -> list[int]:
        """Ids of ``tokens`` (unknown ones -> ``<unk>``), optionally framed by bos/eos."""
        if isinstance(tokens, str):
            raise TypeError("expected a list of tokens, got a str (tokenise first)")
        ids = [self[t] for t in tokens]
        if add_bos:
            ids.insert(0, self.bos_id)
        if add_eos:
            ids.append(self.eos_id)
        return ids

    def decode(self, ids: Iterable[int], strip_specials: bool = True) -> list[str]:
        """Tokens of ``ids``; stops at ``<eos>`` and drops pad/bos when ``strip_specials``."""
        out = []
        n = len(self.itos)
        eos = self.stoi[self.eos] if self.eos is not None else None
        drop = {self.stoi[t] for t in (self.pad, self.bos) if t is not None}
        for i in ids:
            i = int(i)
            if not 0 <= i < n:
                raise ValueError(f"expected ids in [0, {n}), got {i}")
            if strip_specials and i == eos:
                break
            if strip_specials and i in drop:
                continue
            out.append(self.itos[i])
        return out

    def coverage(self, corpus: Iterable[Iterable[str]]) -> float:
        """Fraction of the corpus's tokens that are in the vocabulary (not mapped to <unk>)."""
        total = known = 0
        for tokens in corpus:
            for t in tokens:
                total += 1
                known += t in self.stoi
        return known / total if total else 1.0

    # -- persistence ---------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "format": "seqattn.vocab/1",
            "tokens": self.itos,
            "specials": {"pad": self.pad, "unk": self.unk, "bos": self.bos, "eos": self.eos},
            "counts": self.counts,
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> Vocab:
        if not isinstance(data, Mapping) or data.get("format") != "seqattn.vocab/1":
            got = data.get("format") if isinstance(data, Mapping) else type(data).__name__
            raise ValueError(f"expected a seqattn.vocab/1 document, got {got!r}")
        sp = data.get("specials", {})
        return cls(data["tokens"], counts=data.get("counts"), **sp)

    def save(self, path: str | Path) -> Path:
        """Write the vocabulary as JSON (atomically)."""
        return atomic_write_text(path, json.dumps(self.to_dict(), ensure_ascii=False) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Vocab:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"expected a vocabulary JSON file at {path}, got: {err}") from None
        return cls.from_dict(data)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        specials = [t for t in self.itos if t in DEFAULT_SPECIALS]
        return f"Vocab(size={len(self)}, specials={specials})"
