"""The shape of src/: files over 500 lines, functions over 80 lines, experiments with their own
optimisation loop (an AST scan; the limits of issue 19 are enforced by tests/test_code_shape.py).

    python benchmarks/code_shape.py
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "seqattn"
FILE_LIMIT, FUNCTION_LIMIT = 500, 80


def python_files(root: Path = SRC) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def long_files(root: Path = SRC, limit: int = FILE_LIMIT) -> list[tuple[str, int]]:
    out = []
    for p in python_files(root):
        n = len(p.read_text(encoding="utf-8").splitlines())
        if n > limit:
            out.append((str(p.relative_to(root.parent)), n))
    return out


def long_functions(root: Path = SRC, limit: int = FUNCTION_LIMIT) -> list[tuple[str, int]]:
    out = []
    for p in python_files(root):
        tree = ast.parse(p.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = node.end_lineno - node.lineno + 1
                if n > limit:
                    out.append((f"{p.relative_to(root.parent)}:{node.lineno} {node.name}", n))
    return out


def own_loops(root: Path = SRC) -> list[str]:
    """Experiment modules that call ``.backward()`` and an optimizer's ``.step()`` themselves."""
    out = []
    for p in python_files(root / "experiments"):
        tree = ast.parse(p.read_text(encoding="utf-8"))
        calls = {n.func.attr for n in ast.walk(tree)
                 if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)}  # fmt: skip
        if {"backward", "step"} <= calls:
            out.append(str(p.relative_to(root.parent)))
    return out


def main() -> int:
    files, funcs, loops = long_files(), long_functions(), own_loops()
    print(f"files over {FILE_LIMIT} lines: {len(files)}")
    for name, n in sorted(files, key=lambda x: -x[1]):
        print(f"  {n:5d}  {name}")
    print(f"functions over {FUNCTION_LIMIT} lines: {len(funcs)}")
    for name, n in sorted(funcs, key=lambda x: -x[1]):
        print(f"  {n:5d}  {name}")
    print(f"experiment modules with their own optimisation loop: {len(loops)}")
    for name in loops:
        print(f"  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
