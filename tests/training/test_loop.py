"""The one training loop: the same updates as a hand-written loop, limits, callbacks."""

import math

import pytest
import torch

from seqattn.training.loop import TrainLoop, optimizer_step


def _setup(seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    data = [(torch.randn(5, 3), torch.randn(5, 1)) for _ in range(7)]
    return model, opt, data


def _loss(model):
    return lambda b: ((model(b[0]) - b[1]) ** 2).mean()


def test_loop_equals_a_hand_written_loop_bit_for_bit():
    model, opt, data = _setup()
    norms = []
    for x, y in data:
        loss = ((model(x) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)))
        opt.step()
    ref = [p.detach().clone() for p in model.parameters()]

    model, opt, data = _setup()
    sched = None
    state = TrainLoop(model.parameters(), opt, clip_norm=0.5, scheduler=sched).run(
        data, _loss(model)
    )
    assert state.step == 7 and state.stopped_by is None and state.grad_norms == norms
    for a, b in zip(ref, model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_limits_and_callbacks():
    model, opt, data = _setup()
    loop = TrainLoop(model.parameters(), opt, max_steps=3)
    assert loop.run(data, _loss(model)).stopped_by == "max_steps"
    assert loop.run(data, _loss(model)).step == 3  # the limit counts over calls

    model, opt, data = _setup()
    seen = []

    def stop_at_two(state, batch):
        seen.append(state.step)
        state.stop = state.step == 2

    state = TrainLoop(model.parameters(), opt, after_step=[stop_at_two]).run(data, _loss(model))
    assert (state.step, state.stopped_by, seen) == (2, "callback", [1, 2])

    model, opt, data = _setup()
    state = TrainLoop(model.parameters(), opt, deadline=0.0).run(data, _loss(model))
    assert (state.step, state.stopped_by) == (0, "deadline")


def test_nonfinite_step_is_not_applied():
    model, opt, data = _setup()
    before = [p.detach().clone() for p in model.parameters()]
    bad = [(data[0][0] * math.inf, data[0][1])]
    state = TrainLoop(model.parameters(), opt, clip_norm=math.inf, stop_on_nonfinite=True).run(
        bad, _loss(model)
    )
    assert state.stopped_by == "nonfinite" and state.step == 0
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_bad_arguments():
    model, opt, _ = _setup()
    with pytest.raises(ValueError, match="max_steps"):
        TrainLoop(model.parameters(), opt, max_steps=-1)
    with pytest.raises(ValueError, match="budget_s"):
        TrainLoop(model.parameters(), opt, budget_s=0)
    norm, updated = optimizer_step(
        list(model.parameters()), opt, model(torch.ones(1, 3)).sum(), before_update=lambda n: False
    )
    assert norm is None and updated is False
