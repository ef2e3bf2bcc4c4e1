"""The shape of src/ stays within the limits the shell redesign set (issue 19): few long files,
few long functions, every experiment on the shared training loop. benchmarks/code_shape.py
prints the same scan."""

import importlib.util
from pathlib import Path

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "code_shape.py"
_spec = importlib.util.spec_from_file_location("code_shape", _PATH)
code_shape = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(code_shape)


def test_at_most_three_files_over_500_lines():
    long = code_shape.long_files()
    assert len(long) <= 3, f"expected at most 3 files over 500 lines in src/, got {long}"


def test_at_most_four_functions_over_80_lines():
    long = code_shape.long_functions()
    assert len(long) <= 4, f"expected at most 4 functions over 80 lines in src/, got {long}"


def test_experiments_train_through_the_shared_loop():
    own = code_shape.own_loops()
    assert len(own) <= 2, f"expected at most 2 experiments with their own loop, got {own}"


def test_the_scan_sees_a_hand_written_loop(tmp_path):
    exp = tmp_path / "experiments"
    exp.mkdir()
    (exp / "x.py").write_text("def f(loss, opt):\n    loss.backward()\n    opt.step()\n")
    (exp / "y.py").write_text("def g(model):\n    return model.step(1)\n")
    assert code_shape.own_loops(tmp_path) == [str(Path(tmp_path.name) / "experiments" / "x.py")]
    (tmp_path / "big.py").write_text("x = 1\n" * 501)
    assert code_shape.long_files(tmp_path) == [(str(Path(tmp_path.name) / "big.py"), 501)]
