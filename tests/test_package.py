"""Package-level rules: the import direction of the architecture, and docstring examples run."""

from __future__ import annotations

import ast
import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

import seqattn

SRC = Path(seqattn.__file__).parent
# functional <- nn <- models <- decoding/training/evaluation <- experiments <- cli
FORBIDDEN = {
    "functional": {"nn", "models", "decoding", "training", "evaluation", "data", "viz",
                   "experiments", "cli", "diagnostics"},
    "nn": {"models", "decoding", "training", "evaluation", "data", "viz", "experiments", "cli",
           "diagnostics"},
    "diagnostics": {"models", "training", "data", "viz", "experiments", "cli"},
    "training": {"experiments", "cli", "viz"},
    "experiments": {"cli"},
}  # fmt: skip


def _seqattn_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        for n in names:
            parts = n.split(".")
            if parts[0] == "seqattn" and len(parts) > 1:
                found.add(parts[1])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_flow_one_way(package):
    folder = SRC / package
    if not folder.exists():
        pytest.skip(f"seqattn.{package} does not exist yet")
    bad = {
        str(f.relative_to(SRC)): sorted(_seqattn_imports(f) & FORBIDDEN[package])
        for f in folder.rglob("*.py")
    }
    bad = {k: v for k, v in bad.items() if v}
    assert not bad, f"seqattn.{package} imports layers above it: {bad}"


def _modules():
    for info in pkgutil.walk_packages([str(SRC)], prefix="seqattn."):
        if not info.name.startswith("seqattn.cli"):
            yield info.name


@pytest.mark.parametrize("name", sorted(_modules()))
def test_docstring_examples(name):
    module = importlib.import_module(name)
    import torch

    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, globs={"torch": torch, **vars(module)}):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
