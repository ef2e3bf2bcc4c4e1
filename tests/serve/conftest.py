"""Fixtures of the ``seqattn serve`` tests: the fixture model folders (copied), the app, and a
real uvicorn server on loopback in a thread."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parents[1] / "fixtures" / "model_dirs" / "current"
KINDS = ("classifier", "translator", "captioner")


@pytest.fixture(scope="session")
def model_dirs(tmp_path_factory) -> dict[str, Path]:
    """{kind: model folder}: copies of tests/fixtures/model_dirs/current/<kind>/model."""
    root = tmp_path_factory.mktemp("models")
    dirs = {k: Path(shutil.copytree(FIXTURES / k / "model", root / k)) for k in KINDS}
    dirs["transformer"] = _transformer(dirs["translator"], root / "transformer")
    dirs["saliency"] = _mean_head(dirs["classifier"], root / "saliency")
    return dirs


def _mean_head(classifier: Path, out: Path) -> Path:
    """The fixture classifier's tokenizer, vocabulary and labels with a GRU + mean-pooling head
    (random weights, fixed seed): a head without attention, explained by saliency."""
    import torch

    from seqattn.models import ClassifierConfig, SequenceClassifier
    from seqattn.pipelines import ClassifierBundle

    base = ClassifierBundle.load(classifier)
    cfg = ClassifierConfig(vocab_size=len(base.vocab), embed_dim=4, hidden_size=4,
                           encoder="gru", head="mean", num_classes=len(base.labels))  # fmt: skip
    torch.manual_seed(1)
    ClassifierBundle(SequenceClassifier(cfg), base.tokenizer, base.vocab, base.labels).save(out)
    return out


def _transformer(translator: Path, out: Path) -> Path:
    """The fixture translator's tokenisers and vocabularies with a 2-layer, 2-head Transformer
    decoder (random weights, fixed seed): a multi-head model for the per-head switch."""
    import dataclasses

    import torch

    from seqattn.models.seq2seq import Seq2Seq
    from seqattn.pipelines import TranslationModel

    base = TranslationModel.load(translator)
    cfg = dataclasses.replace(base.model.config, decoder="transformer", num_heads=2,
                              decoder_layers=2)  # fmt: skip
    torch.manual_seed(0)
    TranslationModel(Seq2Seq(cfg).eval(), base.config, base.src, base.tgt).save(out)
    return out


@pytest.fixture(scope="session")
def runs_dir(tmp_path_factory) -> Path:
    """A runs folder: two runs with a report, one without, and a secret file beside it."""
    root = tmp_path_factory.mktemp("served")
    runs = root / "runs"
    for name in ("sentiment", "nested/translate"):
        (runs / name).mkdir(parents=True)
        (runs / name / "report.html").write_text(f"<html><body>report of {name}</body></html>")
        (runs / name / "results.json").write_text("{}")
    (runs / "no-report").mkdir()
    (runs / "no-report" / "results.json").write_text("{}")
    (root / "secret.txt").write_text("outside the runs folder")
    return runs


@pytest.fixture(scope="session")
def app(model_dirs, runs_dir):
    from seqattn.serve import create_app

    return create_app(models=list(model_dirs.values()), runs=runs_dir)


@pytest.fixture(scope="session")
def client(app):
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="session")
def server(app):
    """The app on a real uvicorn server bound to a free loopback port: its base URL."""
    from seqattn.serve.background import BackgroundServer

    with BackgroundServer(app) as url:
        yield url
