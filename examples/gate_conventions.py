"""Chapter 3.1 conventions checked on torch's cells: the GRU update and the forget-gate bias.

Run: .venv/bin/python examples/gate_conventions.py   (about a second on a CPU)

1. GRU. The chapter writes h_t = (1 - z) * h_{t-1} + z * candidate (z = how much *new* to take).
   torch.nn.GRU computes h' = (1 - z) * n + z * h (z = how much *old* to keep): the reverse.
   Here torch's GRUCell is recomputed by hand both ways; only torch's form matches it.
2. Forget bias. The chapter's snippet sets lstm.bias_ih_l0[128:256] and lstm.bias_hh_l0[128:256]
   both to 1.0 "to set the forget bias to 1". torch adds the two biases, so the forget gate's
   effective bias is 2.0 (sigmoid(2) = 0.881 at zero input, not sigmoid(1) = 0.731).
"""

import torch
from torch import nn


def gru_convention() -> None:
    torch.manual_seed(0)
    cell = nn.GRUCell(3, 4).double()
    x, h = torch.randn(2, 3, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)
    gi = x @ cell.weight_ih.T + cell.bias_ih  # gates ordered r, z, n
    gh = h @ cell.weight_hh.T + cell.bias_hh
    r = torch.sigmoid(gi[:, :4] + gh[:, :4])
    z = torch.sigmoid(gi[:, 4:8] + gh[:, 4:8])
    n = torch.tanh(gi[:, 8:] + r * gh[:, 8:])
    with torch.no_grad():
        out = cell(x, h)
    torch_form = (1 - z) * n + z * h
    chapter_form = (1 - z) * h + z * n
    print(f"GRU |torch - (1-z)*n + z*h|   = {(out - torch_form).abs().max().item():.2e}")
    print(f"GRU |torch - (1-z)*h + z*n|   = {(out - chapter_form).abs().max().item():.2e}"
          "   (the chapter's convention: z swapped for 1 - z)")  # fmt: skip


def forget_bias() -> None:
    lstm = nn.LSTM(input_size=64, hidden_size=128)
    nn.init.constant_(lstm.bias_ih_l0[128:256], 1.0)  # the chapter's two lines
    nn.init.constant_(lstm.bias_hh_l0[128:256], 1.0)
    effective = (lstm.bias_ih_l0 + lstm.bias_hh_l0)[128:256]
    print(f"forget-gate effective bias = {effective.min().item():.1f} .. "
          f"{effective.max().item():.1f}   (chapter intends 1.0)")  # fmt: skip
    f_gate = torch.sigmoid(effective.detach()[0])
    print(f"forget gate at zero input = {f_gate.item():.3f}   (bias 1 would give 0.731)")
    print("to get an effective bias of 1, set one vector to 1 and the other's slice to 0")


if __name__ == "__main__":
    gru_convention()
    forget_bias()
