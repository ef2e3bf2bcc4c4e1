"""Tokenisers: a regex word tokeniser and subword BPE (trained with the ``tokenizers`` library).

Both turn a string into a list of string tokens; a :class:`~seqattn.data.vocab.Vocab` maps those
to ids. Both save to and load from JSON, so a trained model's tokeniser travels with its
checkpoint.

* :class:`WordTokenizer`: words (with inner apostrophes and hyphens kept: ``don't``,
  ``state-of-the-art``), numbers, and every other non-space character as its own token. Options
  lowercase, unescape HTML entities (``&amp;`` -> ``&``) and turn HTML line breaks
  (``<br />``, common in IMDB reviews) into spaces.
* :class:`BPETokenizer`: byte-pair encoding (Sennrich et al., 2016) learnt from a corpus by the
  Rust ``tokenizers`` library; we do not re-implement what it does well. Words are split on
  whitespace first and a ``▁`` marks each word's start, so :meth:`BPETokenizer.decode` restores
  the (whitespace-normalised) text exactly.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from seqattn.io import atomic_write_text

__all__ = ["WordTokenizer", "BPETokenizer", "load_tokenizer", "check_text", "PATTERNS", "MAX_CHARS"]

# A word: letters/digits with inner ' ’ or - joining parts; else any single non-space character.
WORD_PATTERN = r"[^\W_]+(?:['’\-][^\W_]+)*|\S"
#: The token patterns a WordTokenizer can use, by name. A tokenizer file names one of these; a
#: regular expression from a file is never compiled (one like ``(a+)+$`` can take exponential
#: time). Each built-in pattern matches in time linear in the text.
PATTERNS = {"word": WORD_PATTERN}
#: The longest text (characters) the apply paths (``predict``, ``translate``) tokenise: longer
#: input is refused with a message naming it, not cut silently. 1,000,000 characters is about 70
#: times the longest IMDB review.
MAX_CHARS = 1_000_000
_BR = re.compile(r"<\s*br\s*/?\s*>", re.IGNORECASE)


def check_text(text: str, where: str = "the text", max_chars: int = MAX_CHARS) -> str:
    """``text`` if it is a str without NUL characters and at most ``max_chars`` long.

    Raises:
        TypeError: not a str.
        ValueError: a NUL character (its position named) or a text too long, naming ``where``.
    """
    if not isinstance(text, str):
        raise TypeError(f"expected a str at {where}, got {type(text).__name__}")
    nul = text.find("\0")
    if nul >= 0:
        raise ValueError(
            f"expected text without NUL characters at {where}, got one at character {nul + 1}"
        )
    if len(text) > max_chars:
        raise ValueError(
            f"expected at most {max_chars:,} characters at {where}, got {len(text):,} "
            f"(split the text into shorter ones)"
        )
    return text


def _pattern_name(pattern: str) -> str:
    """The name of a built-in pattern given by name or by its text (older tokenizer files)."""
    if pattern in PATTERNS:
        return pattern
    for name, text in PATTERNS.items():
        if pattern == text:
            return name
    raise ValueError(
        f"expected pattern to be one of the built-in patterns {sorted(PATTERNS)} (a regular "
        f"expression is never compiled from an argument or a file), got {pattern!r}"
    )


class WordTokenizer:
    """Split text into words, numbers and punctuation with a regular expression.

    Args:
        lowercase: lowercase the text first.
        unescape_html: turn HTML entities (``&amp;``, ``&#39;``) into characters.
        html_breaks: replace ``<br />`` tags by spaces.
        pattern: the name of a built-in token pattern (:data:`PATTERNS`; ``"word"``); every
            match is a token. The text of a built-in pattern is accepted too (the tokenizer
            files before named patterns held it); any other is a ValueError.

    Example:
        >>> tok = WordTokenizer()
        >>> tok("I didn't LOVE it &amp; the plot<br />was thin...")
        ['i', "didn't", 'love', 'it', '&', 'the', 'plot', 'was', 'thin', '.', '.', '.']
        >>> WordTokenizer(lowercase=False)("State-of-the-art, 2024!")
        ['State-of-the-art', ',', '2024', '!']
    """

    kind = "word"

    def __init__(
        self,
        lowercase: bool = True,
        unescape_html: bool = True,
        html_breaks: bool = True,
        pattern: str = "word",
    ) -> None:
        if not isinstance(pattern, str):
            raise TypeError(f"expected pattern to be a str, got {type(pattern).__name__}")
        self.pattern = _pattern_name(pattern)
        self._regex = re.compile(PATTERNS[self.pattern])
        for name, value in (("lowercase", lowercase), ("unescape_html", unescape_html),
                            ("html_breaks", html_breaks)):  # fmt: skip
            if not isinstance(value, bool):
                raise TypeError(f"expected {name} to be a bool, got {value!r}")
        self.lowercase, self.unescape_html, self.html_breaks = lowercase, unescape_html, html_breaks

    def normalize(self, text: str) -> str:
        """The text after the options, before splitting."""
        if not isinstance(text, str):
            raise TypeError(f"expected a str, got {type(text).__name__}")
        if self.html_breaks:
            text = _BR.sub(" ", text)
        if self.unescape_html:
            text = html.unescape(text)
        if self.lowercase:
            text = text.lower()
        return text

    def __call__(self, text: str) -> list[str]:
        return self._regex.findall(self.normalize(text))

    tokenize = __call__

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "lowercase": self.lowercase,
            "unescape_html": self.unescape_html,
            "html_breaks": self.html_breaks,
            "pattern": self.pattern,
        }

    def save(self, path: str | Path) -> Path:
        """Write the options as JSON (atomically)."""
        return atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")

    def __repr__(self) -> str:
        return (
            f"WordTokenizer(lowercase={self.lowercase}, unescape_html={self.unescape_html}, "
            f"html_breaks={self.html_breaks})"
        )


class BPETokenizer:
    """Subword byte-pair encoding, trained and applied by the ``tokenizers`` library.

    Build one with :meth:`train`; :meth:`encode` gives subword strings (feed them to a
    :class:`~seqattn.data.vocab.Vocab`, or use :meth:`encode_ids` with the tokeniser's own ids).

    Example:
        >>> texts = ["low lower lowest", "new newer newest", "wide wider widest"] * 20
        >>> bpe = BPETokenizer.train(texts, vocab_size=60, min_frequency=2)
        >>> bpe.encode("lowest newer")
        ['▁lowest', '▁newer']
        >>> bpe.decode(bpe.encode_ids("lowest newer"))
        'lowest newer'
    """

    kind = "bpe"
    UNK = "<unk>"

    def __init__(self, tokenizer: Any) -> None:
        self._tok = tokenizer

    @classmethod
    def train(
        cls,
        texts: Iterable[str],
        vocab_size: int = 8000,
        min_frequency: int = 2,
        lowercase: bool = False,
        special_tokens: Iterable[str] = ("<pad>", "<unk>", "<bos>", "<eos>"),
    ) -> BPETokenizer:
        """Learn merges from ``texts`` until ``vocab_size`` symbols (specials included).

        Args:
            texts: the training corpus (any iterable of strings; consumed once).
            vocab_size: the target vocabulary size.
            min_frequency: a pair must occur this often to be merged.
            lowercase: lowercase before learning and encoding.
            special_tokens: added first, with ids 0, 1, ...; must contain ``<unk>``.
        """
        from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

        if not isinstance(vocab_size, int) or vocab_size < 1:
            raise ValueError(f"expected vocab_size to be a positive int, got {vocab_size!r}")
        specials = list(special_tokens)
        if cls.UNK not in specials:
            specials.append(cls.UNK)
        tok = Tokenizer(models.BPE(unk_token=cls.UNK))
        norms = [normalizers.NFKC()] + ([normalizers.Lowercase()] if lowercase else [])
        tok.normalizer = normalizers.Sequence(norms)
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        tok.decoder = decoders.Metaspace()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=specials,
            show_progress=False,
        )
        tok.train_from_iterator((t for t in texts), trainer=trainer)
        return cls(tok)

    def encode(self, text: str) -> list[str]:
        """Subword strings of ``text``."""
        if not isinstance(text, str):
            raise TypeError(f"expected a str, got {type(text).__name__}")
        return self._tok.encode(text).tokens

    __call__ = tokenize = encode

    def encode_ids(self, text: str) -> list[int]:
        """The tokeniser's own ids of ``text``."""
        if not isinstance(text, str):
            raise TypeError(f"expected a str, got {type(text).__name__}")
        return self._tok.encode(text).ids

    def decode(self, ids: Iterable[int], skip_special_tokens: bool = True) -> str:
        return self._tok.decode(list(ids), skip_special_tokens=skip_special_tokens)

    @property
    def vocab_size(self) -> int:
        return self._tok.get_vocab_size()

    def tokens(self) -> list[str]:
        """All subwords, in id order (use it to build a matching :class:`Vocab`)."""
        vocab = self._tok.get_vocab()
        return sorted(vocab, key=vocab.__getitem__)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "tokenizer": json.loads(self._tok.to_str())}

    def save(self, path: str | Path) -> Path:
        """Write the whole tokeniser (normaliser, merges, vocabulary) as JSON (atomically)."""
        return atomic_write_text(path, json.dumps(self.to_dict(), ensure_ascii=False) + "\n")

    def __repr__(self) -> str:
        return f"BPETokenizer(vocab_size={self.vocab_size})"


_WORD_OPTIONS = ("lowercase", "unescape_html", "html_breaks", "pattern")


def _word_tokenizer(data: dict[str, Any], path: Path) -> WordTokenizer:
    """A WordTokenizer from its named options; unknown options or values named with ``path``."""
    unknown = sorted(set(data) - {"kind", *_WORD_OPTIONS})
    if unknown:
        raise ValueError(f"expected only the options {list(_WORD_OPTIONS)} in {path}, got "
                         f"{unknown}")  # fmt: skip
    try:
        return WordTokenizer(**{k: v for k, v in data.items() if k != "kind"})
    except (TypeError, ValueError) as err:
        raise ValueError(f"expected a word tokenizer in {path}, got: {err}") from None


# What BPETokenizer.train writes: nothing else is loaded (a ``Split`` or ``Replace`` step of the
# tokenizers library would compile a regular expression from the file).
_NFKC, _LOWER = {"type": "NFKC"}, {"type": "Lowercase"}
_BPE_STEPS = {
    "normalizer": ({"type": "Sequence", "normalizers": [_NFKC]},
                   {"type": "Sequence", "normalizers": [_NFKC, _LOWER]}),
    "post_processor": (None,),
    "truncation": (None,),
    "padding": (None,),
}  # fmt: skip


def _check_bpe(tok: Any, path: Path) -> None:
    if not isinstance(tok, dict) or not isinstance(tok.get("model"), dict):
        raise ValueError(f"expected a 'tokenizer' object with a 'model' in {path}, got {tok!r:.80}")
    for key, allowed in _BPE_STEPS.items():
        if tok.get(key) not in allowed:
            raise ValueError(f"expected {key} to be one of {list(allowed)} in {path} (what "
                             f"BPETokenizer.train writes), got {tok.get(key)!r:.200}")  # fmt: skip
    for key in ("pre_tokenizer", "decoder"):
        step = tok.get(key)
        if not isinstance(step, dict) or step.get("type") != "Metaspace":
            raise ValueError(f"expected a Metaspace {key} in {path} (what BPETokenizer.train "
                             f"writes), got {step!r:.200}")  # fmt: skip
    if tok["model"].get("type") != "BPE":
        raise ValueError(f"expected a BPE model in {path}, got {tok['model'].get('type')!r}")


def load_tokenizer(path: str | Path) -> WordTokenizer | BPETokenizer:
    """Load a tokeniser saved by ``save`` (either kind)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"expected a tokenizer JSON file at {path}, got: {err}") from None
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind == "word":
        return _word_tokenizer(data, path)
    if kind == "bpe":
        from tokenizers import Tokenizer

        _check_bpe(data.get("tokenizer"), path)
        return BPETokenizer(Tokenizer.from_str(json.dumps(data["tokenizer"])))
    raise ValueError(f"expected 'kind' to be 'word' or 'bpe' in {path}, got {kind!r}")
