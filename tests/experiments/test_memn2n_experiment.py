"""The `memn2n` experiment: data preparation, random noise, config, and a learning test on
bAbI task 1 (real data)."""

from __future__ import annotations

import math

import pytest
import torch

from seqattn.data.datasets import babi_file, load_babi
from seqattn.data.datasets.babi import BabiExample
from seqattn.experiments import get
from seqattn.experiments import memn2n as E
from seqattn.experiments.toolkit import torch_threads


def test_parse_tasks_and_config_errors():
    assert E.parse_tasks("1-3,7") == (1, 2, 3, 7)
    assert E.parse_tasks(20) == (20,)
    for bad in ("0-3", "1-21", "a", "3-1", "1,1"):
        with pytest.raises(ValueError, match="expected"):
            E.parse_tasks(bad)
    with pytest.raises(ValueError, match="repeats"):
        E.Config(repeats=0)
    with pytest.raises(ValueError, match="random_noise"):
        E.Config(random_noise=1.5)
    assert E.Config().resolved("embed_dim") == 20 and E.Config(joint=True).resolved("epochs") == 60
    assert get("memn2n") is E.EXPERIMENT


def test_paper_column_reproduces_its_summary():
    # Table 1, PE LS RN: mean 13.9, 11 failed tasks (> 5%) — the transcription is consistent
    errs = list(E.PAPER_PE_LS_RN.values())
    assert len(errs) == 20 and round(sum(errs) / 20, 1) == E.PAPER_MEAN
    assert sum(e > E.FAIL_THRESHOLD for e in errs) == E.PAPER_FAILED


def test_vectorize_keeps_the_last_sentences_oldest_first():
    story = tuple(f"Mary went to room{i}." for i in range(7))
    ex = BabiExample(story, "Where is Mary?", "room6", (6,), 1)
    vocab = E.build_vocab([ex])
    data = E.vectorize([ex], vocab, memory_size=4, sent_len=5, query_len=4)
    assert data.stories.shape == (1, 4, 5) and data.mask.tolist() == [[True] * 4]
    # slots hold sentences 3..6 (the last 4), oldest first
    assert data.stories[0, 0, 3] == vocab["room3"] and data.stories[0, 3, 3] == vocab["room6"]
    assert data.answer.tolist() == [vocab["room6"]] and vocab["<nil>"] == 0
    assert E.tokenize("Where is Mary? ") == ["where", "is", "mary"]


def test_random_noise_inserts_gaps_but_keeps_the_order():
    gen = torch.Generator().manual_seed(0)
    n = torch.tensor([3, 20, 48, 50])
    mask = torch.arange(50) < n[:, None]  # (4, 50)
    plain = E.noisy_time(mask, 0.0, gen)
    assert plain[1, :20].tolist() == list(range(19, -1, -1))
    gaps = 0
    for _ in range(50):
        t = E.noisy_time(mask, 0.1, gen, table=50)
        assert t.min() >= 0 and t.max() <= 49
        for row, k in zip(t, n.tolist(), strict=True):
            real = row[:k]
            upper = min(k + math.ceil(0.1 * k), 50) - 1
            assert real.max() <= upper
            if k < 45:  # no clipping at the table's end: strictly newer = strictly smaller
                assert (real[:-1] > real[1:]).all()
        gaps += int((t[1, :20] != plain[1, :20]).any())
    assert 10 < gaps < 50  # sometimes no blank is drawn (nb = 0), usually one or two are


def test_malformed_babi_file_names_file_and_line(tmp_path):
    path = tmp_path / "babi" / babi_file(1, "train")
    path.parent.mkdir(parents=True)
    path.write_text("1 Mary moved to the bathroom.\n2 Where is Mary?\tbathroom\t7\n")
    with pytest.raises(ValueError, match=rf"supporting ids .* at {path}:2"):
        load_babi(1, "train", root=tmp_path)
    path.write_text("1 Mary moved to the bathroom.\nMary went back.\n")
    with pytest.raises(ValueError, match=rf"expected '<line id> <text>' at {path}:2"):
        load_babi(1, "train", root=tmp_path)


@pytest.mark.data
def test_task1_learns_and_reports_attention(data_dir, tmp_path):
    # 900 training questions, 15 epochs, no LS/RN: task 1 (random guessing: ~83% error)
    cfg = E.Config(
        tasks="1", repeats=1, max_test=200, epochs=15, linear_start=False, random_noise=0.0,
        lr_decay_every=100, data_dir=str(data_dir), attention_views=1,
    )  # fmt: skip
    res = E.run(cfg, tmp_path)
    (row,) = res["table"]
    assert row["test_error"] < 10.0, row  # measured 2.0
    assert res["mean_test_error"] == row["test_error"] and res["paper_mean_test_error"] == 0.0
    (view,) = res["attention"]
    assert len(view["queries"]) == 3 and len(view["weights"]) == 3
    assert len(view["weights"][0]) == len(view["keys"])
    assert view["keys"][-1].endswith("empty slots)")  # the weight left to the empty slots
    for hop in view["weights"]:
        assert sum(hop) == pytest.approx(1.0, abs=1e-5)
    # the model found the supporting fact: the most attended sentence (over hops) is marked *
    total = [sum(col) for col in zip(*view["weights"], strict=True)][:-1]
    assert view["keys"][total.index(max(total))].startswith("* ")
    for fig in res["figures"]:
        assert (tmp_path / fig.split("/")[-1]).exists()
    (table,) = E.tables(res)
    assert [cells[:2] for cells in table.cells()] == [["1", "single-supporting-fact"],
                                                      ["**mean**", "failed (> 5%): 0"]]  # fmt: skip
    assert table.cells()[-1][2:4] == [f"**{row['test_error']:.1f}**", "0.0 (failed 0)"]
    assert "| 1 | single-supporting-fact |" in E.EXPERIMENT.table(res)
    assert len(load_babi(1, "test", root=data_dir)) == 1000


@pytest.mark.data
def test_joint_mode_trains_one_model_and_reports_every_task(data_dir, tmp_path):
    cfg = E.Config(
        tasks="1,4", joint=True, repeats=1, epochs=1, ls_max_epochs=1, max_train=60,
        max_test=40, data_dir=str(data_dir), attention_views=2,
    )  # fmt: skip
    with torch_threads(2):  # the run uses one thread and gives the caller's count back
        res = E.run(cfg, tmp_path)
        assert torch.get_num_threads() == 2
    assert res["mode"] == "joint" and [r["task"] for r in res["table"]] == [1, 4]
    assert res["table"][0]["vocab"] == res["table"][1]["vocab"]  # one shared vocabulary
    assert {m["group"] for m in res["metrics"]} == {"joint"}
    assert len(res["attention"]) == 2


def test_ensemble_sgd_is_the_per_model_clipped_update():
    # the update the experiment wrote by hand before it ran through TrainLoop, bit for bit
    from seqattn.models.memn2n import MemN2N, MemN2NConfig
    from seqattn.training.ensemble_sgd import EnsembleSGD
    from seqattn.training.loop import TrainLoop

    def model_and_batch():
        torch.manual_seed(0)
        model = MemN2N(MemN2NConfig(vocab_size=12, embed_dim=6, memory_size=5, num_models=3))
        gen = torch.Generator().manual_seed(1)
        stories = torch.randint(0, 12, (3, 4, 5, 3), generator=gen)
        query, answer = torch.randint(0, 12, (3, 4, 3), generator=gen), torch.arange(12) % 7
        return model, (stories, query, torch.ones(3, 4, 5, dtype=torch.bool), answer)

    def loss_of(model, batch):
        stories, query, mask, answer = batch
        logits = model(stories, query, mask).logits
        return torch.nn.functional.cross_entropy(logits.reshape(-1, 12), answer, reduction="sum")

    lr = torch.tensor([0.5, 0.1, 0.0])  # a finished model: lr 0
    model, batch = model_and_batch()
    params = list(model.parameters())
    grads = torch.autograd.grad(loss_of(model, batch), params)
    with torch.no_grad():
        sq = sum(g.pow(2).flatten(1).sum(1) for g in grads)
        scale = (1.0 / sq.sqrt().clamp(min=1e-12)).clamp(max=1.0) * lr
        for p, g in zip(params, grads, strict=True):
            p.sub_(scale.view(-1, *[1] * (g.dim() - 1)) * g)
    ported, batch = model_and_batch()
    opt = EnsembleSGD(ported.parameters(), lr=lr, clip_norm=1.0)
    TrainLoop(ported.parameters(), opt, max_steps=1).run([batch], lambda b: loss_of(ported, b))
    for a, b in zip(model.state_dict().values(), ported.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    untouched = model_and_batch()[0].state_dict()["memory.embed"][2]
    assert torch.equal(ported.state_dict()["memory.embed"][2], untouched)  # lr 0: unchanged
