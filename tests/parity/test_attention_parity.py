"""Our MultiHeadAttention, SDPA, encoder layer and efficient attention against torch, float64."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F

import seqattn.nn as snn
from seqattn.functional import efficient_attention, scaled_dot_product_attention

TOL = 1e-10
MASKS = [
    "none", "kpm_bool", "kpm_float", "attn_bool", "attn_float", "attn_bool_3d",
    "attn_float_3d", "both_bool", "both_mixed", "causal",
]  # fmt: skip


@dataclass(frozen=True)
class MhaConfig:
    embed_dim: int
    num_heads: int
    cross: bool
    kdim: int | None
    vdim: int | None
    batch_first: bool
    bias: bool
    add_bias_kv: bool
    add_zero_attn: bool
    mask: str
    average: bool
    tgt: int
    src: int
    batch: int
    seed: int

    def __str__(self) -> str:
        return (
            f"E{self.embed_dim}H{self.num_heads}-{'cross' if self.cross else 'self'}-"
            f"k{self.kdim}v{self.vdim}-{'bf' if self.batch_first else 'tf'}-"
            f"{'b' if self.bias else 'nob'}{'-bkv' if self.add_bias_kv else ''}"
            f"{'-zero' if self.add_zero_attn else ''}-{self.mask}-"
            f"{'avg' if self.average else 'heads'}-T{self.tgt}S{self.src}B{self.batch}-s{self.seed}"
        )


def _grid(n: int = 240) -> list[MhaConfig]:
    rng = random.Random(7)
    out = []
    for i in range(n):
        heads = rng.randint(1, 8)
        embed = heads * rng.randint(1, 4)
        cross = rng.random() < 0.5
        mask = MASKS[i % len(MASKS)]
        tgt = rng.randint(1, 6)
        src = rng.randint(1, 7) if cross and mask != "causal" else tgt
        out.append(
            MhaConfig(
                embed_dim=embed,
                num_heads=heads,
                cross=cross,
                kdim=rng.choice([None, rng.randint(1, 9)]) if cross else None,
                vdim=rng.choice([None, rng.randint(1, 9)]) if cross else None,
                batch_first=rng.random() < 0.5,
                bias=rng.random() < 0.8,
                add_bias_kv=rng.random() < 0.2,
                add_zero_attn=rng.random() < 0.2,
                mask=mask,
                average=rng.random() < 0.5,
                tgt=tgt,
                src=src,
                batch=rng.randint(1, 3),
                seed=i,
            )
        )
    return out


GRID = _grid()


def _masks(cfg: MhaConfig, gen: torch.Generator):
    """torch-convention masks in which every query keeps at least key 0 (no fully masked row)."""
    b, t, s, h = cfg.batch, cfg.tgt, cfg.src, cfg.num_heads
    kpm = torch.rand(b, s, generator=gen) < 0.4
    kpm[:, 0] = False
    attn2 = torch.rand(t, s, generator=gen) < 0.4
    attn2[:, 0] = False
    attn3 = torch.rand(b * h, t, s, generator=gen) < 0.4
    attn3[..., 0] = False
    neg = lambda m: torch.zeros(m.shape, dtype=torch.double).masked_fill(m, float("-inf"))  # noqa: E731
    soft = lambda shape: torch.randn(shape, dtype=torch.double, generator=gen)  # noqa: E731
    return {
        "none": {},
        "kpm_bool": {"key_padding_mask": kpm},
        "kpm_float": {"key_padding_mask": neg(kpm) + soft((b, s))},
        "attn_bool": {"attn_mask": attn2},
        "attn_float": {"attn_mask": soft((t, s))},
        "attn_bool_3d": {"attn_mask": attn3},
        "attn_float_3d": {"attn_mask": neg(attn3) + soft((b * h, t, s))},
        "both_bool": {"attn_mask": attn2, "key_padding_mask": kpm},
        "both_mixed": {"attn_mask": soft((t, s)), "key_padding_mask": kpm},
        "causal": {"attn_mask": torch.ones(t, s, dtype=torch.bool).triu(1), "is_causal": True},
    }[cfg.mask]


@pytest.mark.parametrize("cfg", GRID, ids=str)
def test_multihead_matches_torch(cfg: MhaConfig):
    assert len(GRID) >= 200
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    kw = dict(
        bias=cfg.bias, add_bias_kv=cfg.add_bias_kv, add_zero_attn=cfg.add_zero_attn,
        kdim=cfg.kdim, vdim=cfg.vdim, batch_first=cfg.batch_first,
    )  # fmt: skip
    ref = torch.nn.MultiheadAttention(cfg.embed_dim, cfg.num_heads, **kw).double()
    ours = snn.MultiHeadAttention(cfg.embed_dim, cfg.num_heads, **kw).double()
    ours.load_state_dict(ref.state_dict(), strict=True)

    def seq(length, dim):
        shape = (cfg.batch, length) if cfg.batch_first else (length, cfg.batch)
        return torch.randn(*shape, dim, dtype=torch.double, generator=gen)

    q = seq(cfg.tgt, cfg.embed_dim)
    if cfg.cross:
        k, v = seq(cfg.src, cfg.kdim or cfg.embed_dim), seq(cfg.src, cfg.vdim or cfg.embed_dim)
    else:
        k = v = q
    masks = _masks(cfg, gen)
    results = []
    for module in (ours, ref):
        qi = q.clone().requires_grad_(True)
        ki = qi if not cfg.cross else k.clone().requires_grad_(True)
        vi = qi if not cfg.cross else v.clone().requires_grad_(True)
        out, w = module(qi, ki, vi, average_attn_weights=cfg.average, **masks)
        g = torch.Generator().manual_seed(cfg.seed + 1)
        loss = (out * torch.randn(out.shape, dtype=torch.double, generator=g)).sum()
        loss = loss + (w * torch.randn(w.shape, dtype=torch.double, generator=g)).sum()
        inputs = [qi] if not cfg.cross else [qi, ki, vi]
        grads = torch.autograd.grad(loss, inputs + list(module.parameters()))
        results.append((out, w, grads))
    (o1, w1, g1), (o2, w2, g2) = results
    torch.testing.assert_close(o1, o2, atol=TOL, rtol=0)
    torch.testing.assert_close(w1, w2, atol=TOL, rtol=0)
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, b, atol=TOL, rtol=0)


@pytest.mark.parametrize("need_weights", [True, False])
def test_multihead_unbatched_and_no_weights(need_weights):
    ref = torch.nn.MultiheadAttention(8, 2).double()
    ours = snn.MultiHeadAttention(8, 2).double()
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(5, 8, dtype=torch.double)
    kpm = torch.tensor([False, False, True, False, True])
    a = ours(x, x, x, key_padding_mask=kpm, need_weights=need_weights)
    b = ref(x, x, x, key_padding_mask=kpm, need_weights=need_weights)
    torch.testing.assert_close(a[0], b[0], atol=TOL, rtol=0)
    assert (a[1] is None) == (b[1] is None) == (not need_weights)
    if need_weights:
        torch.testing.assert_close(a[1], b[1], atol=TOL, rtol=0)


def test_multihead_fully_masked_rows_are_zero_where_torch_is_nan():
    ref = torch.nn.MultiheadAttention(8, 2, batch_first=True).double()
    ours = snn.MultiHeadAttention(8, 2, batch_first=True).double()
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(2, 4, 8, dtype=torch.double, requires_grad=True)
    attn = torch.zeros(4, 4, dtype=torch.bool)
    attn[2] = True  # query 2 may attend nothing (torch: True = not allowed)
    out, w = ours(x, x, x, attn_mask=attn)
    r_out, r_w = ref(x, x, x, attn_mask=attn)
    assert torch.all(w[:, 2] == 0)
    keep = [0, 1, 3]
    torch.testing.assert_close(out[:, keep], r_out[:, keep], atol=TOL, rtol=0)
    torch.testing.assert_close(w[:, keep], r_w[:, keep], atol=TOL, rtol=0)
    # the zero context still passes through out_proj: the row equals the output bias
    torch.testing.assert_close(out[:, 2], ours.out_proj.bias.expand(2, 8), atol=TOL, rtol=0)
    (out.sum() + w.sum()).backward()
    assert torch.isfinite(x.grad).all()


# -- scaled dot-product attention -----------------------------------------------------------


SDPA_CASES = [
    ("plain", {}),
    ("causal", {"is_causal": True}),
    ("bool", "bool"),
    ("float", "float"),
    ("scale", {"scale": 0.37}),
    ("causal_scale", {"is_causal": True, "scale": 1.7}),
    ("bool_broadcast", "bool_bcast"),
]


def _sdpa_kwargs(kind, t, s, gen):
    if kind == "bool":
        m = torch.rand(2, 3, t, s, generator=gen) < 0.6
        m[..., 0] = True
        return {"attn_mask": m}
    if kind == "float":
        return {"attn_mask": torch.randn(t, s, dtype=torch.double, generator=gen)}
    if kind == "bool_bcast":
        m = torch.rand(2, 1, 1, s, generator=gen) < 0.6
        m[..., 0] = True
        return {"attn_mask": m}
    return kind


@pytest.mark.parametrize("name,kind", SDPA_CASES, ids=[c[0] for c in SDPA_CASES])
@pytest.mark.parametrize("t,s", [(1, 1), (5, 5), (4, 9), (9, 4)])
def test_sdpa_matches_torch(name, kind, t, s):
    gen = torch.Generator().manual_seed(t * 31 + s)
    q = torch.randn(2, 3, t, 8, dtype=torch.double, generator=gen)
    k = torch.randn(2, 3, s, 8, dtype=torch.double, generator=gen)
    v = torch.randn(2, 3, s, 5, dtype=torch.double, generator=gen)
    kw = _sdpa_kwargs(kind, t, s, gen)
    res = []
    for fn in (scaled_dot_product_attention, F.scaled_dot_product_attention):
        qi, ki, vi = (x.clone().requires_grad_(True) for x in (q, k, v))
        out = fn(qi, ki, vi, **kw)
        res.append((out, torch.autograd.grad((out * out).sum(), (qi, ki, vi))))
    torch.testing.assert_close(res[0][0], res[1][0], atol=TOL, rtol=0)
    for a, b in zip(res[0][1], res[1][1], strict=True):
        torch.testing.assert_close(a, b, atol=TOL, rtol=0)
    out, w = scaled_dot_product_attention(q, k, v, need_weights=True, **kw)
    torch.testing.assert_close(out, w @ v, atol=TOL, rtol=0)


def test_sdpa_gqa_matches_torch():
    q = torch.randn(2, 6, 4, 8, dtype=torch.double)
    k, v = torch.randn(2, 2, 5, 8, dtype=torch.double), torch.randn(2, 2, 5, 8, dtype=torch.double)
    torch.testing.assert_close(
        scaled_dot_product_attention(q, k, v, enable_gqa=True),
        F.scaled_dot_product_attention(q, k, v, enable_gqa=True),
        atol=TOL, rtol=0,
    )  # fmt: skip


def test_sdpa_dropout_changes_weights_in_expectation_only():
    torch.manual_seed(0)
    q = k = v = torch.randn(1, 1, 64, 16)
    base, w0 = scaled_dot_product_attention(q, k, v, need_weights=True)
    out, w = scaled_dot_product_attention(q, k, v, dropout_p=0.5, need_weights=True)
    assert not torch.equal(out, base)
    kept = w != 0
    torch.testing.assert_close(w[kept], 2 * w0[kept])  # survivors scaled by 1/(1-p)
    assert 0.4 < kept.float().mean() < 0.6


# -- Transformer encoder layer ------------------------------------------------------------------


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("masks", ["none", "padding", "causal"])
def test_encoder_layer_matches_torch(norm_first, activation, batch_first, masks):
    torch.manual_seed(1)
    kw = dict(dim_feedforward=24, dropout=0.0, activation=activation, batch_first=batch_first,
              norm_first=norm_first)  # fmt: skip
    ref = torch.nn.TransformerEncoderLayer(12, 3, **kw).double().train()  # train: no fast path
    ours = snn.TransformerEncoderLayer(12, 3, **kw).double().train()
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, 6, 12, dtype=torch.double)
    x = x if batch_first else x.transpose(0, 1)
    margs = {}
    if masks == "padding":
        margs["src_key_padding_mask"] = torch.tensor([[False] * 6, [False] * 4 + [True] * 2])
    elif masks == "causal":
        margs = {"src_mask": torch.ones(6, 6, dtype=torch.bool).triu(1), "is_causal": True}
    res = []
    for module in (ours, ref):
        xi = x.clone().requires_grad_(True)
        out = module(xi, **margs)
        res.append((out, torch.autograd.grad((out**2).sum(), [xi, *module.parameters()])))
    torch.testing.assert_close(res[0][0], res[1][0], atol=TOL, rtol=0)
    for a, b in zip(res[0][1], res[1][1], strict=True):
        torch.testing.assert_close(a, b, atol=TOL, rtol=0)


def test_encoder_stack_matches_torch():
    layer_ref = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
    ref = torch.nn.TransformerEncoder(
        layer_ref, 3, torch.nn.LayerNorm(8), enable_nested_tensor=False
    )
    ours = snn.TransformerEncoder(
        snn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True), 3,
        torch.nn.LayerNorm(8),
    )  # fmt: skip
    ref, ours = ref.double().train(), ours.double().train()
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, 5, 8, dtype=torch.double)
    out, weights = ours(x, need_weights=True)
    torch.testing.assert_close(out, ref(x), atol=TOL, rtol=0)
    assert len(weights) == 3 and weights[0].shape == (2, 2, 5, 5)


# -- efficient attention ------------------------------------------------------------------------


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
@pytest.mark.parametrize("mask", ["none", "causal", "padding", "float", "causal_rect"])
@pytest.mark.parametrize("block", [1, 7, 64])
def test_efficient_equals_naive(dtype, tol, mask, block):
    gen = torch.Generator().manual_seed(block)
    t, s = (37, 50) if mask != "causal_rect" else (50, 37)
    q = torch.randn(2, 3, t, 16, dtype=dtype, generator=gen)
    k = torch.randn(2, 3, s, 16, dtype=dtype, generator=gen)
    v = torch.randn(2, 3, s, 8, dtype=dtype, generator=gen)
    kw = {}
    if mask in ("causal", "causal_rect"):
        kw["is_causal"] = True
    elif mask == "padding":
        lengths = torch.tensor([50, 13])
        kw["attn_mask"] = (torch.arange(s)[None, :] < lengths[:, None]).view(2, 1, 1, s)
    elif mask == "float":
        kw["attn_mask"] = torch.randn(t, s, dtype=dtype, generator=gen)
    res = []
    for fn, extra in (
        (efficient_attention, {"block_size": block}),
        (scaled_dot_product_attention, {}),
    ):
        qi, ki, vi = (x.clone().requires_grad_(True) for x in (q, k, v))
        out = fn(qi, ki, vi, **kw, **extra)
        grads = torch.autograd.grad(
            (out * torch.linspace(-1, 1, 8, dtype=dtype)).sum(), (qi, ki, vi)
        )
        res.append((out, grads))
    torch.testing.assert_close(res[0][0], res[1][0], atol=tol, rtol=tol)
    for a, b in zip(res[0][1], res[1][1], strict=True):
        torch.testing.assert_close(a, b, atol=tol, rtol=tol)


@pytest.mark.parametrize("kind", ["bool", "float", "causal", "none"])
def test_efficient_gradcheck(kind):
    gen = torch.Generator().manual_seed(3)
    q = torch.randn(2, 2, 6, 4, dtype=torch.double, generator=gen, requires_grad=True)
    k = torch.randn(2, 2, 7, 4, dtype=torch.double, generator=gen, requires_grad=True)
    v = torch.randn(2, 2, 7, 3, dtype=torch.double, generator=gen, requires_grad=True)
    if kind == "bool":
        m = torch.rand(2, 1, 6, 7, generator=gen) < 0.5
        m[0, 0, 2] = False  # one fully masked query
        fn = lambda a, b, c: efficient_attention(a, b, c, attn_mask=m, block_size=3)  # noqa: E731
        args = (q, k, v)
    elif kind == "float":
        fm = torch.randn(6, 7, dtype=torch.double, generator=gen, requires_grad=True)
        fn = lambda a, b, c, d: efficient_attention(a, b, c, attn_mask=d, block_size=3)  # noqa: E731
        args = (q, k, v, fm)
    else:
        causal = kind == "causal"
        fn = lambda a, b, c: efficient_attention(a, b, c, is_causal=causal, block_size=2)  # noqa: E731
        args = (q, k, v)
    assert torch.autograd.gradcheck(fn, args)
