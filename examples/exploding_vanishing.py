"""Chapter 3.1 drill: vanishing and exploding products, and a measured RNN gradient decay.

Run: .venv/bin/python examples/exploding_vanishing.py   (under a second on a CPU)

A gradient that passes through 100 steps is multiplied 100 times. A per-step factor of 0.9
leaves 0.9**100 of it; 1.1 gives 1.1**100. The table shows the same for other factors. Then
Code Fragment 3.1.2 is measured: the gradient of the last output of a torch RNN with respect
to each input step.

On the chapter's print: it labels grad[99] / grad[0] as "step 99 / step 0" and reads it as how
much *smaller* step 0 is; the decay ratio itself (step 0 / step 99) is the reciprocal, well
below 1. Both are printed below. The chapter's own numbers (0.000023 ... 8.34, ratio 362637.7x)
come from one unseeded draw. Measured here (seed 0, float64: in float32 the early
gradients underflow to exactly 0) the decay is far steeper than the chapter's print.
"""

import torch
from torch import nn

CHAPTER = {"0.9**100": 0.0000266, "1.1**100": 13781.0}


def main() -> None:
    print(f"0.9**100 = {0.9**100:.4e}   (chapter: {CHAPTER['0.9**100']})")
    print(f"1.1**100 = {1.1**100:.1f}   (chapter: {CHAPTER['1.1**100']:.0f})")
    print("multiplier table: factor ** steps")
    steps = (10, 20, 50, 100)
    print("factor " + "".join(f"{s:>12d}" for s in steps))
    for factor in (0.5, 0.9, 0.99, 1.0, 1.01, 1.1, 1.5):
        print(f"{factor:6.2f} " + "".join(f"{factor**s:12.4g}" for s in steps))

    torch.manual_seed(0)
    rnn = nn.RNN(input_size=32, hidden_size=64, batch_first=True).double()
    x = torch.randn(1, 100, 32, dtype=torch.float64, requires_grad=True)
    output, _ = rnn(x)
    output[0, -1, :].sum().backward()
    norms = x.grad[0].norm(dim=1)
    for t in (0, 10, 25, 50, 75, 99):
        print(f"step {t:3d}: grad norm {norms[t].item():.3e}")
    print(f"grad[99] / grad[0] = {(norms[99] / norms[0]).item():.3e}   (chapter: 362637.7)")
    print(f"decay ratio grad[0] / grad[99] = {(norms[0] / norms[99]).item():.3e}")


if __name__ == "__main__":
    main()
