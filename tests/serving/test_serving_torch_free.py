"""seqattn.serving runs where torch cannot be imported: a subprocess whose sitecustomize puts a
meta-path finder in front that refuses ``torch`` and its submodules."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from serving_models import SENTENCES

BLOCKER = """
import importlib.abc
import sys


class _NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError(f"torch is blocked in this process (asked for {name})")
        return None


sys.meta_path.insert(0, _NoTorch())
"""

RUN = """
import json, sys
try:
    import torch  # noqa: F401
except ImportError as err:
    blocked = str(err)
else:
    sys.exit("the blocker let torch in")
from seqattn.serving import OnnxTranslator

runner = OnnxTranslator(sys.argv[1])
texts = json.loads(sys.argv[2])
out = {f"beam{b}": [t.tokens for t in runner.translate(texts, beam=b)] for b in (1, 3)}
out["torch_modules"] = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))
out["blocked"] = blocked
print(json.dumps(out))
"""


def test_runner_needs_no_torch(exported, tmp_path):
    from seqattn.pipelines.translation import TranslationModel

    model_dir, folder = exported("bahdanau", "bpe")
    model = TranslationModel.load(model_dir)
    want = {f"beam{b}": [t.tokens for t in model.translate(SENTENCES, beam=b)] for b in (1, 3)}
    (tmp_path / "block").mkdir()
    (tmp_path / "block" / "sitecustomize.py").write_text(BLOCKER)
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "block"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", RUN, str(folder), json.dumps(SENTENCES)],
                          capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout)
    assert "torch is blocked" in got["blocked"] and got["torch_modules"] == []
    assert got["beam1"] == want["beam1"] and got["beam3"] == want["beam3"]
