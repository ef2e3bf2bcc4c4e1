"""Chapter 3.2 worked example: tanh' = 1 - tanh^2 and how saturation kills a gradient.

Run: .venv/bin/python examples/tanh_saturation.py   (under a second on a CPU)

For activations tanh(x) = 0.99, 0.80, 0.20 the chapter gives tanh' = 0.02, 0.36, 0.96. Here
x = atanh(a) and tanh'(x) is taken by autograd, not by the formula, then the product of 20
such factors shows what a chain of saturated steps leaves of a gradient.
"""

import torch

CHAPTER = {0.99: 0.02, 0.80: 0.36, 0.20: 0.96}


def main() -> None:
    for a, claimed in CHAPTER.items():
        x = torch.atanh(torch.tensor(a, dtype=torch.float64)).requires_grad_()
        torch.tanh(x).backward()
        print(f"tanh(x) = {a:.2f}: x = {x.item():.4f}, tanh'(x) = {x.grad.item():.4f}"
              f"   (chapter: {claimed})")  # fmt: skip
    for a in CHAPTER:
        print(f"20 steps at tanh = {a:.2f}: product of tanh' = {(1 - a * a) ** 20:.3e}")


if __name__ == "__main__":
    main()
