"""A build lock left by a killed build must not hang every later process."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import pytest

from seqattn import _extension


def test_stale_build_lock_is_removed_and_a_fresh_one_kept(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    log = logging.getLogger("test.extension")
    assert not _extension.clear_stale_lock("seqattn_lock_probe", log)  # no lock at all
    lock = tmp_path / "seqattn_lock_probe" / "lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.touch()
    assert not _extension.clear_stale_lock("seqattn_lock_probe", log)  # a build in progress
    assert lock.exists()
    old = time.time() - 2 * _extension.STALE_LOCK_S
    os.utime(lock, (old, old))
    with caplog.at_level(logging.WARNING, logger="test.extension"):
        assert _extension.clear_stale_lock("seqattn_lock_probe", log)
    assert not lock.exists()
    assert "stale build lock" in caplog.text


def test_build_cache_is_keyed_by_content_not_checkout(tmp_path, monkeypatch):
    """Two checkouts of one version share a build; a changed source gets its own name."""
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path / "cache"))
    a, b = tmp_path / "a" / "k.cpp", tmp_path / "b" / "k.cpp"
    for path in (a, b):
        path.parent.mkdir()
        path.write_text("int f() { return 1; }\n")
    flags = ["-O3"]
    name = _extension.cache_name("seqattn_probe_", a, flags)
    assert name == _extension.cache_name("seqattn_probe_", b, flags)
    assert name != _extension.cache_name("seqattn_probe_", a, ["-O2"])
    staged_a, built = _extension._stage(name, a)
    staged_b, _ = _extension._stage(name, b)
    assert staged_a == staged_b and not built  # one path for both: ninja sees no change
    assert staged_a.read_text() == a.read_text()
    b.write_text("int f() { return 2; }\n")
    assert _extension.cache_name("seqattn_probe_", b, flags) != name


def test_a_symlinked_environment_gets_its_own_build(tmp_path, monkeypatch):
    """The same torch reached through a symlinked .venv puts other paths on the compiler's
    command line: it must not share a name (ninja would rebuild at each alternation)."""
    import torch.utils.cpp_extension as cpp

    src = tmp_path / "k.cpp"
    src.write_text("int f() { return 1; }\n")
    name = _extension.cache_name("seqattn_probe_", src, [])
    real = cpp.include_paths()
    linked = [p.replace(str(Path(p).parents[4]), str(tmp_path / "link")) for p in real]
    monkeypatch.setattr(cpp, "include_paths", lambda *a, **k: linked)
    assert linked != real and _extension.cache_name("seqattn_probe_", src, []) != name


@pytest.mark.slow
def test_a_compile_is_announced_and_a_second_checkout_loads_the_cache(tmp_path, monkeypatch,
                                                                      caplog):  # fmt: skip
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path / "cache"))
    code = "#include <torch/extension.h>\nint one() { return 1; }\n"
    code += 'PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("one", &one); }\n'
    modules = []
    for checkout in ("a", "b"):
        src = tmp_path / checkout / "probe.cpp"
        src.parent.mkdir()
        src.write_text(code)
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            state = {}
            modules.append(_extension.build_once(state, threading.Lock(), src, "seqattn_probe_",
                                                 "probe", "nothing", expected_s=20))  # fmt: skip
        assert state["reason"] is None and modules[-1].one() == 1
        announced = "compiling the probe C++ extension" in caplog.text
        assert announced == (checkout == "a"), caplog.text  # the second one is a cache load
    assert state["seconds"] < 10


def test_a_slow_load_from_the_cache_is_announced(tmp_path, monkeypatch, caplog):
    """A built extension that loads slowly (ninja rebuilding, another build's lock) says so."""
    import torch.utils.cpp_extension as cpp

    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("SEQATTN_NO_EXT", raising=False)
    monkeypatch.setattr(_extension, "SLOW_LOAD_S", 0.05)
    src = tmp_path / "k.cpp"
    src.write_text("int f() { return 1; }\n")
    name, flags = _extension._flags()
    name = _extension.cache_name(name.replace("seqattn_recurrent_", "seqattn_slow_"), src, flags)
    staged, _ = _extension._stage(name, src)  # the name build_once gives it
    (staged.parent / f"{staged.parent.name}.so").touch()  # "already built"
    monkeypatch.setattr(cpp, "load", lambda *a, **k: time.sleep(0.5) or "module")
    log = logging.getLogger("test.extension.slow")
    with caplog.at_level(logging.WARNING, logger="test.extension.slow"):
        module = _extension.build_once({}, threading.Lock(), src, "seqattn_slow_", "probe",
                                       "fallback", log)  # fmt: skip
    assert module == "module"
    assert "still loading after" in caplog.text and "compiling" not in caplog.text


def test_a_lock_older_than_the_finished_library_is_stale(tmp_path, monkeypatch, caplog):
    """A process killed after linking, before releasing the lock: the lock is stale at once."""
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    log = logging.getLogger("test.extension.finished")
    build = tmp_path / "seqattn_done_probe"
    build.mkdir()
    lock, library = build / "lock", build / "seqattn_done_probe.so"
    lock.touch()
    old = time.time() - 60
    os.utime(lock, (old, old))
    assert not _extension.clear_stale_lock("seqattn_done_probe", log)  # a build, no library yet
    library.touch()  # the build linked after the lock was taken, then died
    with caplog.at_level(logging.WARNING, logger="test.extension.finished"):
        assert _extension.clear_stale_lock("seqattn_done_probe", log)
    assert not lock.exists() and "its build finished" in caplog.text
    lock.touch()  # a new rebuild's lock is newer than the library: kept
    later = time.time() + 5
    os.utime(lock, (later, later))
    assert not _extension.clear_stale_lock("seqattn_done_probe", log) and lock.exists()
