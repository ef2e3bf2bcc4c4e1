"""Chapter 3.2 drill 1: a two-layer RNN, its hidden states logged over a toy sequence and plotted.

Run: .venv/bin/python examples/two_layer_rnn_states.py [OUT.png]   (a few seconds on a CPU)

A torch nn.RNN (tanh, 2 layers, hidden_size 16, float64, seed 0) reads a 30-step toy sequence
whose first input is a spike and the rest zeros. Logged per step and layer: the norm of h, and
how far h moves when the spike is removed (|h - h_without_spike|): where that distance falls
towards 0 the network has forgotten the first token. The plot (default rnn_hidden_states.png)
shows the states of both layers as heat maps and the decaying distance on a log scale.
There is no number in the chapter to compare against: the drill asks to look.
"""

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402


def main(out: str) -> None:
    torch.manual_seed(0)
    steps, hidden_size = 30, 16
    rnn = nn.RNN(4, hidden_size, num_layers=2, batch_first=True, dtype=torch.float64)
    x = torch.zeros(2, steps, 4, dtype=torch.float64)
    x[0, 0] = 3.0  # sequence 0: a spike at t = 0; sequence 1: the same without it
    with torch.no_grad():
        top, _ = rnn(x)  # (B, T, hidden_size), layer 2
        first = nn.RNN(4, hidden_size, batch_first=True, dtype=torch.float64)
        first.load_state_dict({k: v for k, v in rnn.state_dict().items() if k.endswith("_l0")})
        bottom, _ = first(x)  # layer 1 on its own
    layers = {"layer 1": bottom, "layer 2": top}
    dist = {name: (h[0] - h[1]).norm(dim=-1) for name, h in layers.items()}
    for t in (0, 1, 2, 5, 10, 20, 29):
        row = "  ".join(f"{n}: |h| {h[0, t].norm():.3f} dist {dist[n][t]:.2e}"
                        for n, h in layers.items())  # fmt: skip
        print(f"t={t:2d}  {row}")
    for name, d in dist.items():
        print(f"{name}: spike memory ratio dist[29] / dist[0] = {(d[29] / d[0]).item():.2e}")
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.5))
    for ax, (name, h) in zip(axes, layers.items(), strict=False):
        ax.imshow(h[0].T, aspect="auto", cmap="RdBu", vmin=-1, vmax=1)
        ax.set(title=f"{name} hidden states", xlabel="t", ylabel="unit")
    for name, d in dist.items():
        axes[2].semilogy(d, label=name)
    axes[2].set(title="|h - h without the first token|", xlabel="t")
    axes[2].legend()
    fig.tight_layout()
    fig.savefig(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "rnn_hidden_states.png")
