"""Chapter 3.2 drill: a tiny Bahdanau attention, every intermediate number printed.

Run: .venv/bin/python examples/bahdanau_tiny.py   (about a second on a CPU)

Part 1 checks the chapter's "bahdanau-mini" listing: it turns the scores [2.1, 0.2, 0.1] into
attention [0.82, 0.09, 0.09]. softmax([2.1, 0.2, 0.1]) is [0.778, 0.116, 0.105] (issue 23
rounds it [0.78, 0.12, 0.10]; to two places the last is 0.11). The chapter's weights would need
equal second and third scores and a first one ln(0.82 / 0.09) = 2.21 above them.

Part 2 runs seqattn's AdditiveAttention, e_ts = v^T tanh(W_q s_t + W_k h_s + b), with a
3-token source and a 2-token target (float64, seed 0), prints the projections, the tanh
layer, the scores, the weights and the contexts, and recomputes all of it by hand.
"""

import torch

from seqattn.nn.attention import AdditiveAttention

torch.set_printoptions(precision=4, sci_mode=False)


def mini_listing() -> None:
    scores = torch.tensor([2.1, 0.2, 0.1], dtype=torch.float64)
    weights = torch.softmax(scores, dim=0)
    print("bahdanau-mini: scores", scores.tolist())
    print(f"softmax = [{', '.join(f'{w:.3f}' for w in weights.tolist())}]"
          "   (chapter: [0.82, 0.09, 0.09], which is wrong)")  # fmt: skip


def tiny_attention() -> None:
    torch.manual_seed(0)
    source_len, target_len, hidden_size, attn_dim = 3, 2, 4, 3
    att = AdditiveAttention(hidden_size, hidden_size, attn_dim, dtype=torch.float64)
    enc = torch.randn(1, source_len, hidden_size, dtype=torch.float64)  # h_1..h_3, (B, S, D)
    dec = torch.randn(1, target_len, hidden_size, dtype=torch.float64)  # s_1, s_2, (B, T, D)
    print("encoder states h (S=3, D=4):\n", enc[0])
    print("decoder states s (T=2, D=4):\n", dec[0])
    with torch.no_grad():
        context, weights = att(dec, enc)
        wq = att.query_proj(dec)[0]  # (T, A)
        wk = att.key_proj(enc)[0]  # (S, A)
        hidden = torch.tanh(wq[:, None, :] + wk[None, :, :])  # (T, S, A)
        scores = hidden @ att.v  # (T, S)
        manual_w = torch.softmax(scores, dim=-1)
        manual_c = manual_w @ enc[0]
    print("W_q s_t (T, A):\n", wq)
    print("W_k h_s + b (S, A):\n", wk)
    for t in range(target_len):
        print(f"target {t + 1}: tanh(W_q s + W_k h + b) per source token:\n", hidden[t])
        print(f"target {t + 1}: scores e = v^T tanh(...):", scores[t])
        print(f"target {t + 1}: weights softmax(e):", weights[0, t], "sum", weights[0, t].sum())
        print(f"target {t + 1}: context sum_s a_s h_s:", context[0, t])
    diff = max((weights[0] - manual_w).abs().max(), (context[0] - manual_c).abs().max())
    print(f"manual recompute max |diff| = {diff.item():.2e}")
    for t in range(target_len):
        print(f"target {t + 1} favours source token {int(weights[0, t].argmax()) + 1}")


if __name__ == "__main__":
    mini_listing()
    tiny_attention()
