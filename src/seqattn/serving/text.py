"""Tokenise and detokenise as a translator's model directory does, from its saved files.

``src_tokenizer.json`` / ``tgt_tokenizer.json`` are either a ``word`` tokenizer (its options:
``html_breaks`` replaces ``<br />`` tags by a space, ``unescape_html`` applies
``html.unescape``, ``lowercase`` lowers, then the built-in ``word`` pattern splits) or a ``bpe``
one (the ``tokenizers`` library's own JSON: NFKC (+ lowercase), Metaspace, BPE). The
vocabulary files (``seqattn.vocab/1``) map tokens to ids (unknown ones to ``<unk>``).
Detokenising: BPE pieces through the tokenizer's Metaspace decoder (specials but ``<unk>``
dropped), word tokens joined by spaces with the spaces before closing punctuation removed.
No regular expression is ever compiled from a file.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["ServingVocab", "load_text_tokenizer", "detokenize", "MAX_CHARS"]

MAX_CHARS = 1_000_000  # as seqattn.data.tokenize: longer texts are refused, not cut
_WORD = r"[^\W_]+(?:['’\-][^\W_]+)*|\S"  # seqattn.data.tokenize's built-in "word" pattern
_BREAK = re.compile(r"<\s*br\s*/?\s*>", re.IGNORECASE)
_BEFORE = re.compile(r" ([.,!?;:%)\]}]|'s\b|n't\b)")
_AFTER = re.compile(r"([(\[{]) ")


def _read(path: Path, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"expected a {what} JSON file at {path}, got: {err}") from None


class ServingVocab:
    """A ``seqattn.vocab/1`` file: id-ordered tokens and the special tokens' ids.

    Example:
        >>> v = ServingVocab(["<pad>", "<unk>", "<bos>", "<eos>", "dog"], {"pad": "<pad>",
        ...                  "unk": "<unk>", "bos": "<bos>", "eos": "<eos>"})
        >>> v.encode(["dog", "cat"]), v.decode([2, 4, 0])
        ([4, 1], ['dog'])
    """

    def __init__(self, tokens: Sequence[str], specials: dict[str, str | None]) -> None:
        self.itos = list(tokens)
        self.stoi = {t: i for i, t in enumerate(self.itos)}
        self.ids = {role: self.stoi[tok] for role, tok in specials.items() if tok is not None}

    @classmethod
    def load(cls, path: str | Path) -> ServingVocab:
        data = _read(Path(path), "vocabulary")
        if not isinstance(data, dict) or data.get("format") != "seqattn.vocab/1":
            raise ValueError(f"expected a seqattn.vocab/1 document at {path}, got another")
        return cls(data["tokens"], data.get("specials", {}))

    def encode(self, tokens: Sequence[str]) -> list[int]:
        unk = self.ids["unk"]
        return [self.stoi.get(t, unk) for t in tokens]

    def decode(self, ids: Sequence[int]) -> list[str]:
        """Tokens up to eos, without pad and bos (``Vocab.decode``)."""
        out = []
        for i in ids:
            if i == self.ids.get("eos"):
                break
            if i not in (self.ids.get("pad"), self.ids.get("bos")):
                out.append(self.itos[i])
        return out


class _Word:
    def __init__(self, options: dict[str, Any], path: Path) -> None:
        unknown = set(options) - {"kind", "lowercase", "unescape_html", "html_breaks", "pattern"}
        if unknown or options.get("pattern", "word") not in ("word", _WORD):
            raise ValueError(f"expected a seqattn word tokenizer in {path}, got {options!r:.200}")
        self.lower = bool(options.get("lowercase", True))
        self.unescape = bool(options.get("unescape_html", True))
        self.breaks = bool(options.get("html_breaks", True))
        self.regex = re.compile(_WORD)

    def __call__(self, text: str) -> list[str]:
        text = _BREAK.sub(" ", text) if self.breaks else text
        text = html.unescape(text) if self.unescape else text
        return self.regex.findall(text.lower() if self.lower else text)


class _Bpe:
    def __init__(self, spec: Any, path: Path) -> None:
        from tokenizers import Tokenizer  # the library the model directory was written with

        steps = spec if isinstance(spec, dict) else {}
        kinds = {k: (steps.get(k) or {}).get("type") for k in ("pre_tokenizer", "decoder")}
        norms = (steps.get("normalizer") or {}).get("normalizers", [])
        extra = [k for k in ("post_processor", "truncation", "padding") if steps.get(k)]
        norm_ok = all(n.get("type") in ("NFKC", "Lowercase") for n in norms)
        model_ok = (steps.get("model") or {}).get("type") == "BPE"
        if (
            kinds != {"pre_tokenizer": "Metaspace", "decoder": "Metaspace"}
            or extra
            or not (norm_ok and model_ok)
        ):
            raise ValueError(f"expected the BPE tokenizer seqattn trains in {path}, got another")
        self.tok = Tokenizer.from_str(json.dumps(spec))

    def __call__(self, text: str) -> list[str]:
        return self.tok.encode(text).tokens

    def decode(self, ids: list[int]) -> str:
        return self.tok.decode(ids, skip_special_tokens=False)


def load_text_tokenizer(path: str | Path):
    """``tokenize(text) -> tokens`` of a saved tokenizer file (``word`` or ``bpe``)."""
    path = Path(path)
    data = _read(path, "tokenizer")
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind == "word":
        return _Word(data, path)
    if kind == "bpe":
        return _Bpe(data.get("tokenizer"), path)
    raise ValueError(f"expected 'kind' to be 'word' or 'bpe' in {path}, got {kind!r}")


def detokenize(tokenizer, vocab: ServingVocab, ids: Sequence[int]) -> str:
    """The text of target ids (no eos), as the translator's ``_Side.decode``.

    Example:
        >>> v = ServingVocab(["<pad>", "<unk>", "<bos>", "<eos>", "hi", "(", "x", ")", "."],
        ...                  {"pad": "<pad>", "unk": "<unk>", "bos": "<bos>", "eos": "<eos>"})
        >>> detokenize(_Word({}, Path("t")), v, [4, 5, 6, 7, 8])
        'hi (x).'
    """
    if isinstance(tokenizer, _Bpe):
        special = {v for k, v in vocab.ids.items() if k != "unk"}
        return tokenizer.decode([i for i in ids if i not in special]).strip()
    text = " ".join(vocab.decode(ids))
    return _AFTER.sub(r"\1", _BEFORE.sub(r"\1", text))
