"""TensorBoard tracking: the event files parse and hold what the issue asks for (losses,
metrics, lr, per-layer gradient norms, attention images), for the Trainer, the pipelines, the
ambient TrainLoop tracking of `seqattn run`, and the CLI flag; tracking changes no result."""

from __future__ import annotations

import random

import pytest
import torch

pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed")

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from seqattn.cli.main import main  # noqa: E402
from seqattn.config import replace_config  # noqa: E402
from seqattn.data.datasets.text_classification import TextExample  # noqa: E402
from seqattn.pipelines import TextClassifierConfig, fit_text_classifier  # noqa: E402
from seqattn.training import TensorBoardLogger, TrainLoop, tracking  # noqa: E402


def _events(path):
    acc = EventAccumulator(str(path), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


def _examples(n, seed):
    rng = random.Random(seed)
    good, bad = ["good", "great", "fine"], ["bad", "dull", "awful"]
    out = []
    for i in range(n):
        label = "pos" if i % 2 else "neg"
        words = [rng.choice(["the", "a", "film", "plot"]) for _ in range(rng.randint(2, 6))]
        words.insert(rng.randrange(len(words) + 1), rng.choice(good if i % 2 else bad))
        out.append(TextExample(" ".join(words), label))
    return out


TINY = {"model.embed_dim": 8, "model.hidden_size": 8, "epochs": 2, "batch_size": 8}


def test_classifier_events_hold_losses_metrics_grad_norms_and_attention(tmp_path):
    config = replace_config(TextClassifierConfig(), TINY)
    tb = TensorBoardLogger(tmp_path / "tb", every=2)
    fit_text_classifier(_examples(48, 0), _examples(16, 1), config, tmp_path / "m",
                        callbacks=[tb])  # fmt: skip
    acc = _events(tmp_path / "tb")
    tags = set(acc.Tags()["scalars"])
    assert {"train/loss", "train/lr", "grad_norm/total", "val/acc", "val/loss"} <= tags
    layers = {t for t in tags if t.startswith("grad_norm/") and t != "grad_norm/total"}
    assert {"grad_norm/embedding", "grad_norm/encoder.rnn", "grad_norm/classifier"} <= layers
    assert [e.step for e in acc.Scalars("grad_norm/total")] == [2, 4, 6, 8, 10, 12]
    assert all(e.value > 0 for e in acc.Scalars("grad_norm/total"))
    assert len(acc.Scalars("val/acc")) == 2  # one evaluation per epoch
    images = acc.Tags()["images"]
    assert "attention/0" in images and len(acc.Images("attention/0")) == 2
    assert acc.Images("attention/0")[0].width > 50


def test_tracking_changes_no_result(tmp_path):
    config = replace_config(TextClassifierConfig(), TINY)
    train, valid = _examples(48, 0), _examples(16, 1)
    plain = fit_text_classifier(train, valid, config, tmp_path / "a")
    tb = TensorBoardLogger(tmp_path / "tb", every=1)
    tracked = fit_text_classifier(train, valid, config, tmp_path / "b", callbacks=[tb])
    for (name, p), q in zip(plain.model.state_dict().items(), tracked.model.state_dict().values(),
                            strict=True):  # fmt: skip
        assert torch.equal(p, q), name


def test_translation_events_hold_cross_attention_images(tmp_path):
    from seqattn.pipelines.translation import SentencePair, TranslationConfig, fit_translation

    words = {"ein": "a", "hund": "dog", "katze": "cat", "läuft": "runs", "schläft": "sleeps"}
    rng = random.Random(0)
    pairs = []
    for _ in range(40):
        src = [rng.choice(list(words)) for _ in range(rng.randint(2, 5))]
        pairs.append(SentencePair(" ".join(src), " ".join(words[w] for w in src)))
    config = replace_config(TranslationConfig(), {"subword": "word", "model.embed_dim": 8,
                                                  "model.hidden_size": 8, "epochs": 1,
                                                  "batch_size": 8, "min_freq": 1})  # fmt: skip
    tb = TensorBoardLogger(tmp_path / "tb", every=1)
    fit_translation(pairs, pairs[:8], config, tmp_path / "m", callbacks=[tb])
    acc = _events(tmp_path / "tb")
    assert {"train/loss", "grad_norm/total", "val/loss"} <= set(acc.Tags()["scalars"])
    assert "attention/0" in acc.Tags()["images"]


def test_train_loops_are_tracked_while_a_logger_is_active(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    batches = [(torch.randn(4, 2), torch.randn(4, 1)) for _ in range(6)]
    loss = lambda b: ((model(b[0]) - b[1]) ** 2).mean()  # noqa: E731
    with tracking(TensorBoardLogger(tmp_path / "tb", every=2)):
        TrainLoop(model.parameters(), opt, clip_norm=1.0, desc="probe").run(batches, loss)
        TrainLoop(model.parameters(), opt, desc="probe").run(batches, loss)
    TrainLoop(model.parameters(), opt, desc="after").run(batches, loss)  # not tracked
    tags = set(_events(tmp_path / "tb").Tags()["scalars"])
    assert {"probe-0/loss", "probe-0/lr", "probe-0/grad_norm", "probe-1/loss"} <= tags
    assert "probe-1/grad_norm" not in tags and not any(t.startswith("after") for t in tags)
    assert [e.step for e in _events(tmp_path / "tb").Scalars("probe-0/loss")] == [2, 4, 6]


def test_cli_tensorboard_flag(tmp_path, capsys):
    data = tmp_path / "t.csv"
    data.write_text("text,label\n" + "".join(f"{e.text},{e.label}\n" for e in _examples(40, 0)))
    args = ["train", "classify", "--train", str(data), "--valid", str(data), "--epochs", "6",
            "--patience", "9", "--hidden-size", "8", "--embed-dim", "8",
            "--out", str(tmp_path / "m"), "--tensorboard", str(tmp_path / "tb")]  # fmt: skip
    assert main(args) == 0
    assert "grad_norm/total" in _events(tmp_path / "tb").Tags()["scalars"]


def test_every_is_checked():
    with pytest.raises(ValueError, match="expected every as an int >= 1, got 0"):
        TensorBoardLogger("x", every=0)
