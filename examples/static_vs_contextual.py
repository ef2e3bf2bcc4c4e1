"""Chapter 3.2 note on embeddings: a static vector for "bank" against contextual ones.

Run: .venv/bin/python examples/static_vs_contextual.py   (about a second on a CPU)

A static embedding (nn.Embedding, as Word2Vec) gives "bank" one vector whatever surrounds it:
cosine 1.0 between "river bank" and "bank loan". A contextual encoder (here a bidirectional
LSTM over the same embeddings, untrained, seed 0) gives each occurrence its own vector, so the
cosine drops below 1. This shows the mechanism only: whether the two senses separate
*meaningfully* needs a trained encoder (BERT in the chapter); an untrained one also moves
"bank" between two sentences of the same sense, which is printed too.
"""

import torch
from torch import nn


def main() -> None:
    torch.manual_seed(0)
    sentences = ["we sat on the river bank", "the bank approved the loan",
                 "the grassy bank of the river"]  # fmt: skip
    vocab = {w: i for i, w in enumerate(sorted({w for s in sentences for w in s.split()}))}
    embed = nn.Embedding(len(vocab), 16, dtype=torch.float64)
    encoder = nn.LSTM(16, 8, bidirectional=True, batch_first=True, dtype=torch.float64)
    static, contextual = [], []
    with torch.no_grad():
        for s in sentences:
            ids = torch.tensor([[vocab[w] for w in s.split()]])
            pos = s.split().index("bank")
            vectors = embed(ids)
            static.append(vectors[0, pos])
            contextual.append(encoder(vectors)[0][0, pos])
    cos = nn.functional.cosine_similarity
    pairs = {"river vs loan": (0, 1), "river vs grassy river": (0, 2)}
    for name, (i, j) in pairs.items():
        print(f"static cosine ({name}) = {cos(static[i], static[j], dim=0).item():.4f}")
        print(f"contextual cosine ({name}) = {cos(contextual[i], contextual[j], dim=0).item():.4f}")


if __name__ == "__main__":
    main()
