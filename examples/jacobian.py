"""Chapter 3.1 worked example: a Jacobian by hand and by autograd, then one RNN step's Jacobian.

Run: .venv/bin/python examples/jacobian.py   (under a second on a CPU)

1. f(x1, x2) = (x1^2 + x2, 3 x1 x2) at (1, 2): the chapter gives J = [[2, 1], [6, 3]]
   (row i = output i, column j = input j).
2. For h_k = tanh(W_hh h_{k-1} + W_xh x_k + b), section 3.1 writes dh_k/dh_{k-1} =
   diag(1 - h_k^2) W_hh. That is the Jacobian in the same row = output layout. A gradient
   written as a column vector dL/dh travels back through its *transpose*, W_hh^T diag(1 - h^2)
   (section 3.2's product dL/dh_T x dh_T/dh_{T-1} x ... is the row-vector form of the same).
   Issue 23 notes the chapter switches layout between sections without saying so; the layout
   of each form is checked here against torch.autograd.functional.jacobian and backward().
"""

import torch
from torch.autograd.functional import jacobian


def f(x: torch.Tensor) -> torch.Tensor:
    return torch.stack([x[0] ** 2 + x[1], 3 * x[0] * x[1]])


def main() -> None:
    point = torch.tensor([1.0, 2.0], dtype=torch.float64)
    print("J_f(1, 2) by autograd =", jacobian(f, point).tolist(), "  (chapter: [[2, 1], [6, 3]])")

    torch.manual_seed(0)
    hidden_size = 4
    w_hh = torch.randn(hidden_size, hidden_size, dtype=torch.float64) * 0.5
    w_xh = torch.randn(hidden_size, 3, dtype=torch.float64)
    x, h_prev = torch.randn(3, dtype=torch.float64), torch.randn(hidden_size, dtype=torch.float64)

    def step(h: torch.Tensor) -> torch.Tensor:
        return torch.tanh(w_hh @ h + w_xh @ x)

    h = step(h_prev)
    auto = jacobian(step, h_prev)
    chapter = torch.diag(1 - h**2) @ w_hh
    transposed = w_hh.T @ torch.diag(1 - h**2)
    print(f"|autograd - diag(1-h^2) W_hh|   = {(auto - chapter).abs().max().item():.2e}")
    print(f"|autograd - W_hh^T diag(1-h^2)| = {(auto - transposed).abs().max().item():.2e}")
    dl_dh = torch.randn(hidden_size, dtype=torch.float64)
    h_req = h_prev.clone().requires_grad_()
    (step(h_req) @ dl_dh).backward()
    vjp = transposed @ dl_dh
    print(f"backprop dL/dh_prev vs W_hh^T diag(1-h^2) dL/dh: {(h_req.grad - vjp).abs().max():.2e}")


if __name__ == "__main__":
    main()
