"""The captioning pipeline: layering, fit through TrainLoop, the experiment's re-exports."""

from __future__ import annotations

import subprocess
import sys

import torch

from seqattn.models.show_attend_tell import ShowAttendTell, ShowAttendTellConfig, caption_loss
from seqattn.pipelines import captioning
from seqattn.pipelines.captioning import batches, caption_tensors, caption_vocab, fit


def test_the_pipeline_imports_no_experiment_or_cli():
    code = (
        "import sys, seqattn.pipelines.captioning, seqattn.pipelines.captioning_eval, "
        "seqattn.pipelines.model_dir\n"
        "bad = sorted(m for m in sys.modules if m.startswith(('seqattn.experiments', "
        "'seqattn.cli')))\n"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_no_pipeline_module_imports_experiments_or_cli():
    import ast
    from pathlib import Path

    bad = {}
    for path in Path(captioning.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            hits = [n for n in names if n.startswith(("seqattn.experiments", "seqattn.cli"))]
            if hits:
                bad.setdefault(path.name, []).extend(hits)
    assert not bad, bad


def test_the_experiment_re_exports_the_pipeline():
    from seqattn.experiments import show_attend_tell as sat
    from seqattn.pipelines import captioning_eval

    for name in ("Captioner", "CaptionTrainConfig", "train_captioner", "fit", "batches",
                 "greedy_captions", "beam_captions", "caption_vocab",
                 "caption_tensors"):  # fmt: skip
        assert getattr(sat, name) is getattr(captioning, name), name
    for name in ("evaluate", "bleu4", "localisation", "region_box_overlap", "plot_word_attention"):
        assert getattr(sat, name) is getattr(captioning_eval, name), name


def _data(n: int = 12):
    gen = torch.Generator().manual_seed(3)
    images = torch.rand(n, 1, 8, 8, generator=gen)
    words = ["red", "blue", "green"]
    caps = [[words[int(i)] for i in torch.randint(0, 3, (3,), generator=gen)] for _ in range(n)]
    return images, caps, caption_vocab(words)


def _model(vocab) -> ShowAttendTell:
    torch.manual_seed(0)
    return ShowAttendTell(ShowAttendTellConfig(
        vocab_size=len(vocab), channels=(4,), num_pools=1, embed_dim=4, hidden_size=8,
        attn_dim=4, dropout=0.1, pad_id=vocab.pad_id, bos_id=vocab.bos_id, eos_id=vocab.eos_id,
    ))  # fmt: skip


def _old_fit(model, epoch_batches, epochs, steps_per_epoch, lr, final_lr_fraction, clip_norm,
             alpha_c):  # fmt: skip
    """The optimisation loop fit had before TrainLoop (commit a6957a4), as the reference."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    total = max(1, epochs * steps_per_epoch)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 1.0 - (1.0 - final_lr_fraction) * min(s, total) / total
    )
    history = []
    for epoch in range(1, epochs + 1):
        model.train()
        sums, n = {"loss": 0.0, "nll": 0.0, "penalty": 0.0}, 0
        for images, inp, tgt in epoch_batches(epoch):
            out = model(images, inp)
            loss, nll, pen = caption_loss(out, tgt, model.config.pad_id, alpha_c)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
            opt.step()
            sched.step()
            for k, v in (("loss", loss), ("nll", nll), ("penalty", pen)):
                sums[k] += float(v.detach())
            n += 1
        history.append({"epoch": epoch, **{k: v / max(n, 1) for k, v in sums.items()}, "steps": n})
    return history


def test_fit_through_train_loop_is_bit_identical_to_the_old_loop():
    images, caps, vocab = _data()
    results = []
    for train in (_old_fit, None):
        model = _model(vocab)
        gen = torch.Generator().manual_seed(1)
        opts = dict(epochs=3, steps_per_epoch=3, lr=1e-2, final_lr_fraction=0.1, clip_norm=0.5,
                    alpha_c=0.01)  # fmt: skip
        torch.manual_seed(5)  # dropout draws

        def epoch_batches(epoch, gen=gen):
            return batches(images, caps, vocab, 4, gen)

        if train is None:
            history = fit(model, epoch_batches, **opts)
            history = [{k: h[k] for k in ("epoch", "loss", "nll", "penalty", "steps")}
                       for h in history]  # fmt: skip
        else:
            history = train(model, epoch_batches, **opts)
        results.append((history, {k: v.clone() for k, v in model.state_dict().items()}))
    (old_hist, old_state), (new_hist, new_state) = results
    assert new_hist == old_hist
    assert all(torch.equal(old_state[k], new_state[k]) for k in old_state)


def test_fit_stops_at_the_deadline_before_a_batch():
    import time

    images, caps, vocab = _data()
    model = _model(vocab)
    history = fit(model, lambda e: batches(images, caps, vocab, 4), epochs=3, steps_per_epoch=3,
                  deadline=time.perf_counter() - 1)  # fmt: skip
    assert len(history) == 1 and history[0]["steps"] == 0 and history[0]["stopped"] is True


def test_caption_tensors_shift_by_one():
    vocab = caption_vocab(["a", "b"])
    inp, tgt = caption_tensors([["a"], ["a", "b"]], vocab)
    assert inp.tolist()[1] == [vocab.bos_id, *vocab.encode(["a", "b"])]
    assert tgt.tolist()[0] == [*vocab.encode(["a"]), vocab.eos_id, vocab.pad_id]
