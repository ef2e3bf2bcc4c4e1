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

# The layers of src/seqattn and what each may import besides itself (docs/architecture.md draws
# the same table). Every package and top-level module must be listed, so a new layer is a
# decision, not an accident. Imports inside functions count like any other.
FOUNDATION = {"io", "config", "_registry", "lock"}  # torch-free helpers every layer may use
ALLOWED = {
    "__init__": {"pipelines"},  # seqattn.load, imported on the first call
    "_registry": set(),
    "io": set(),
    "lock": set(),
    "_extension": set(),  # the C++ build helper (torch and the standard library only)
    "config": {"io"},
    "functional": {"_extension"},
    "nn": {"functional", "_extension"},
    "models": {"functional", "nn"} | FOUNDATION,
    "decoding": {"functional"},
    "data": FOUNDATION,
    "evaluation": {"functional"} | FOUNDATION,
    "diagnostics": {"functional", "nn"} | FOUNDATION,
    "training": {"functional", "nn", "data", "diagnostics", "evaluation"} | FOUNDATION,
    "viz": FOUNDATION,
    "pipelines": {"functional", "nn", "models", "decoding", "data", "evaluation", "diagnostics",
                  "training", "viz"} | FOUNDATION,
    "experiments": {"functional", "nn", "models", "decoding", "data", "evaluation",
                    "diagnostics", "training", "viz", "pipelines"} | FOUNDATION,
    "serve": {"data", "viz", "pipelines", "serving"} | FOUNDATION,
    "serving": FOUNDATION,  # numpy + onnxruntime only: no torch (tests/serving checks it runs)
    "cli": {"functional", "nn", "models", "decoding", "data", "evaluation", "diagnostics",
            "training", "viz", "pipelines", "experiments", "serve"} | FOUNDATION,
}  # fmt: skip


def _seqattn_imports(path: Path) -> set[str]:
    """The seqattn layers a file imports: ``seqattn.x...`` and ``from seqattn import x``."""
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "seqattn":
                names = [f"seqattn.{a.name}" for a in node.names]
            else:
                names = [node.module]
        for n in names:
            parts = n.split(".")
            if parts[0] == "seqattn" and len(parts) > 1 and parts[1] != "__version__":
                found.add(parts[1])
    return found


def _layer_files(root: Path, layer: str) -> list[Path]:
    folder = root / layer
    return sorted(folder.rglob("*.py")) if folder.is_dir() else [root / f"{layer}.py"]


def _violations(root: Path, allowed: dict[str, set[str]]) -> dict[str, list[str]]:
    """{file: layers it must not import} over every layer of ``root``."""
    bad = {}
    for layer, ok in allowed.items():
        for f in _layer_files(root, layer):
            wrong = sorted(_seqattn_imports(f) - ok - {layer})
            if wrong:
                bad[str(f.relative_to(root))] = wrong
    return bad


def test_every_layer_is_declared():
    present = {p.stem for p in SRC.glob("*.py")}
    present |= {p.name for p in SRC.iterdir() if p.is_dir() and any(p.rglob("*.py"))}
    assert present == set(ALLOWED), (
        f"undeclared layers {sorted(present - set(ALLOWED))}, "
        f"declared but missing {sorted(set(ALLOWED) - present)}"
    )


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_imports_flow_one_way(layer):
    bad = _violations(SRC, {layer: ALLOWED[layer]})
    assert not bad, f"seqattn.{layer} imports layers it must not: {bad}"


def test_the_import_check_catches_a_violation(tmp_path):
    """The check can fail: a models file importing decoding, or (lazily, inside a function,
    or as ``from seqattn import x``) an experiment, is flagged."""
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "m.py").write_text("from seqattn.decoding import Shared\n")
    (tmp_path / "models" / "ok.py").write_text("from seqattn.nn import GRU\nimport torch\n")
    (tmp_path / "nn").mkdir()
    (tmp_path / "nn" / "n.py").write_text("def f():\n    from seqattn import experiments\n")
    bad = _violations(tmp_path, {"models": ALLOWED["models"], "nn": ALLOWED["nn"]})
    assert bad == {"models/m.py": ["decoding"], "nn/n.py": ["experiments"]}


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
