"""seqattn._registry: registries that read as tuples of names, and the CLI's lazy view of them."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from seqattn._registry import LazyNames, Registry


def test_registry_reads_as_its_names_and_stays_current():
    reg = Registry("widget")
    reg.register("a", 1)

    @reg.register("b")
    def b():
        return 2

    assert reg == ("a", "b") and reg == ["a", "b"] and reg != ("b", "a")
    assert repr(reg) == "('a', 'b')" and f"{reg}" == "('a', 'b')"
    assert list(reg) == ["a", "b"] and len(reg) == 2 and "a" in reg and 3 not in reg
    assert reg["a"] == 1 and reg["b"]() == 2 and dict(reg.items()) == {"a": 1, "b": b}
    with pytest.raises(ValueError, match=r"expected a new widget name, got 'a' \(registered\)"):
        reg.register("a", 5)
    reg.register("a", 5, replace=True)
    assert reg["a"] == 5
    with pytest.raises(ValueError, match=r"expected widget in \('a', 'b'\), got 'c'"):
        reg.check("c")
    with pytest.raises(KeyError, match="expected widget in"):
        reg["c"]
    with pytest.raises(ValueError, match="non-empty str"):
        reg.register("", 1)
    reg.unregister("a")
    assert reg == ("b",)


def test_lazy_names_follow_the_registry():
    from seqattn.models.seq2seq import DECODERS

    names = LazyNames("seqattn.models.seq2seq:DECODERS")
    assert names == DECODERS and tuple(names) == DECODERS.names() and "location" in names
    DECODERS.register("lazy-test", DECODERS["plain"])
    try:
        assert names[-1] == "lazy-test" and len(names) == len(DECODERS)
    finally:
        DECODERS.unregister("lazy-test")
    with pytest.raises(ValueError, match="module:attribute"):
        LazyNames("seqattn.models.DECODERS")


def test_lazy_help_is_filled_in_when_printed():
    names = LazyNames("seqattn._registry:__all__")
    parser = argparse.ArgumentParser(prog="p")
    parser.add_argument("--kind", help=names.help("one of {} (default %(default)s)"), default="x")
    text = " ".join(parser.format_help().split())
    assert "one of LazyNames, Registry (default x)" in text


def test_the_cli_parser_imports_no_torch():
    """The choices read the registries lazily: building every parser stays torch-free."""
    code = ("import sys; from seqattn.cli.main import build_parser; build_parser(); "
            "print('torch' in sys.modules)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
