"""CoNLL-2003-style and CoNLL-U readers (on files the tests write): columns, sentence breaks,
-DOCSTART-, comments, multiword ranges, empty nodes, and errors naming file and line."""

from __future__ import annotations

import gzip

import pytest

from seqattn.data.datasets import (
    TaggedSentence,
    format_conll,
    read_conll,
    read_conllu,
    read_tagged,
    write_conll,
)

CONLL = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC
call NN I-NP O

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER


-DOCSTART- -X- -X- O

BRUSSELS NNP B-NP B-LOC
"""

CONLLU = """# newdoc id = d1
# sent_id = s1
# text = Au chat.
1-2\tAu\t_\t_\t_\t_\t_\t_\t_\t_
1\tà\tà\tADP\t_\t_\t3\tcase\t_\t_
2\tle\tle\tDET\t_\t_\t3\tdet\t_\t_
3\tchat\tchat\tNOUN\tNN\t_\t0\troot\t_\tSpaceAfter=No
3.1\tvu\tvoir\tVERB\t_\t_\t_\t_\t0:root\t_
4\t.\t.\tPUNCT\t_\t_\t3\tpunct\t_\t_

1\tOui\toui\tINTJ\t_\t_\t0\troot\t_\t_
"""


def _write(tmp_path, name, text, mode="w"):
    path = tmp_path / name
    if mode == "wb":
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_conll_sentences_tags_and_docstart(tmp_path):
    path = _write(tmp_path, "train.txt", CONLL)
    sents = read_conll(path)
    assert [s.tokens for s in sents] == [
        ["EU", "rejects", "German", "call"], ["Peter", "Blackburn"], ["BRUSSELS"],
    ]  # fmt: skip
    assert sents[0].tags == ["B-ORG", "O", "B-MISC", "O"]
    assert sents[1].tags == ["B-PER", "I-PER"]
    assert [s.id for s in sents] == [f"{path}:3", f"{path}:8", f"{path}:14"]
    assert read_conll(path, tag_col=1)[0].tags == ["NNP", "VBZ", "JJ", "NN"]
    assert read_conll(path, tag_col=2)[1].tags == ["B-NP", "I-NP"]
    untagged = read_conll(path, tag_col=None)
    assert untagged[0].tags is None and untagged[0].tokens[0] == "EU"
    # -DOCSTART- kept as a token when asked
    kept = read_conll(path, skip_docstart=False)
    assert kept[0].tokens == ["-DOCSTART-"] and len(kept) == 5


def test_conll_crlf_bom_gzip_and_trailing_blank_lines(tmp_path):
    text = "\ufeffEU B-ORG\r\nrejects O\r\n\r\n\r\nPeter B-PER\r\n\r\n"
    plain = read_conll(_write(tmp_path, "a.txt", text))
    zipped = read_conll(_write(tmp_path, "a.txt.gz", gzip.compress(text.encode()), "wb"))
    assert [(s.tokens, s.tags) for s in plain] == [(s.tokens, s.tags) for s in zipped]
    assert plain[0].tokens == ["EU", "rejects"] and plain[1].tags == ["B-PER"]


def test_untagged_file_takes_any_columns(tmp_path):
    path = _write(tmp_path, "in.txt", "EU\nrejects x y\n\nPeter\n")
    assert [s.tokens for s in read_conll(path, tag_col=None)] == [["EU", "rejects"], ["Peter"]]


CONLL_ERRORS = [
    ("EU NNP B-ORG\nrejects O\n", {}, r"expected 3 columns \(as at line 1\) at .*bad.txt:2, got 2: "
     r"'rejects O'"),
    ("EU B-ORG\n", {"tag_col": 4}, r"tag_col 4 within the 2 columns .* at .*bad.txt:1"),
    ("EU B-ORG\n", {"tag_col": -3}, r"tag_col -3 within the 2 columns"),
    ("\n\n-DOCSTART- O\n\n", {}, r"at least one sentence in .*bad.txt, got none"),
    ("", {}, r"at least one sentence"),
    (b"EU B-ORG\nM\xfcnchen B-LOC\n", {}, r"UTF-8 text at .*bad.txt:2"),
    ("EU B-ORG\n", {"tag_col": "1"}, r"tag_col to be an int"),
]  # fmt: skip


@pytest.mark.parametrize("text,kwargs,match", CONLL_ERRORS)
def test_conll_errors_name_file_and_line(tmp_path, text, kwargs, match):
    mode = "wb" if isinstance(text, bytes) else "w"
    path = _write(tmp_path, "bad.txt", text, mode)
    error = TypeError if "to be an int" in match else ValueError
    with pytest.raises(error, match=match):
        read_conll(path, **kwargs)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_conll(tmp_path / "nope.txt")
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_conllu(tmp_path / "nope.conllu")


def test_conllu_words_skip_ranges_empty_nodes_and_comments(tmp_path):
    path = _write(tmp_path, "fr.conllu", CONLLU)
    sents = read_conllu(path)
    assert [s.tokens for s in sents] == [["à", "le", "chat", "."], ["Oui"]]
    assert sents[0].tags == ["ADP", "DET", "NOUN", "PUNCT"]
    assert sents[0].id == "s1" and sents[1].id == f"{path}:11"
    assert read_conllu(path, "xpos")[0].tags == ["_", "_", "NN", "_"]
    assert read_conllu(path, "DEPREL")[0].tags == ["case", "det", "root", "punct"]
    assert read_conllu(path, 2)[0].tags == ["à", "le", "chat", "."]
    assert read_conllu(path, None)[0].tags is None


def _row(ident, form="x", upos="X"):
    return "\t".join([ident, form, form, upos, "_", "_", "0", "root", "_", "_"])


CONLLU_ERRORS = [
    (_row("1") + "\n1\tx\tx\tX\n", r"10 tab-separated fields .* at .*bad.conllu:2, got 4"),
    ("1 x x X _ _ 0 root _ _\n", r"10 tab-separated fields .* at .*bad.conllu:1, got 1"),
    (_row("1") + "\n" + _row("3") + "\n", r"word ID 2 at .*bad.conllu:2, got '3'"),
    (_row("2") + "\n", r"word ID 1 at .*bad.conllu:1, got '2'"),
    (_row("1") + "\n" + _row("x-2") + "\n", r"ID such as 3, 3-4 or 3.1 at .*bad.conllu:2"),
    (_row("one") + "\n", r"word ID 1 at .*bad.conllu:1, got 'one'"),
    ("# only a comment\n\n", r"at least one sentence"),
]


@pytest.mark.parametrize("text,match", CONLLU_ERRORS)
def test_conllu_errors_name_file_and_line(tmp_path, text, match):
    with pytest.raises(ValueError, match=match):
        read_conllu(_write(tmp_path, "bad.conllu", text))


def test_conllu_bad_column(tmp_path):
    path = _write(tmp_path, "a.conllu", _row("1") + "\n")
    for column in ("pos", 10, True):
        with pytest.raises(ValueError, match="expected column among"):
            read_conllu(path, column)


def test_read_tagged_dispatch(tmp_path):
    conll = _write(tmp_path, "a.txt", CONLL)
    conllu = _write(tmp_path, "a.conllu", CONLLU)
    assert read_tagged(conll)[0].tags[0] == "B-ORG"
    assert read_tagged(conll, column="1")[0].tags[0] == "NNP"
    assert read_tagged(conll, tagged=False)[0].tags is None
    assert read_tagged(conllu, "conllu")[0].tags[0] == "ADP"
    assert read_tagged(conllu, "conllu", column="deprel")[0].tags[0] == "case"
    with pytest.raises(ValueError, match="format in"):
        read_tagged(conll, "iob")
    with pytest.raises(ValueError, match="column number"):
        read_tagged(conll, column="upos")


def test_sentence_checks_and_write_round_trip(tmp_path):
    with pytest.raises(ValueError, match="one tag per token"):
        TaggedSentence(["a", "b"], ["O"], "x:1")
    rows = [[["EU", "B-ORG"], ["rejects", "O"]], [["Peter", "B-PER"]]]
    path = write_conll(tmp_path / "out.txt", rows)
    back = read_conll(path)
    assert [s.tokens for s in back] == [["EU", "rejects"], ["Peter"]]
    assert [s.tags for s in back] == [["B-ORG", "O"], ["B-PER"]]
    assert format_conll([]) == ""
