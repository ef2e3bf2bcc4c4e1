"""SE-ResNet-20: architecture, SE overhead formula, SE-off equals the plain block, errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seqattn.models.se_resnet import BasicBlock, SEResNet, SEResNetConfig
from seqattn.nn import se_parameter_count


def _plain_block(block: BasicBlock, x: torch.Tensor) -> torch.Tensor:
    # He et al. 2016's basic block written out from the block's own layers, no SE.
    u = F.relu(block.bn1(block.conv1(x)))
    u = block.bn2(block.conv2(u))
    return F.relu(u + block.shortcut(x))


def _randomise_bn(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.2, 0.2)


def test_resnet20_shape_and_depth():
    model = SEResNet(SEResNetConfig(se_reduction=None))
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) + 1 == 20  # 19 convolutions + the classifier; option A adds none
    # the well-known ResNet-20 size (0.27 M on CIFAR; here one input channel, not three)
    assert sum(p.numel() for p in model.parameters()) == 269_434
    assert model.block_names()[0] == "stage1.block1" and len(model.block_names()) == 9
    assert model(torch.randn(3, 1, 28, 28)).shape == (3, 10)


@pytest.mark.parametrize("shortcut", ["a", "b"])
@pytest.mark.parametrize("stride_channels", [(1, 16, 16), (2, 16, 32)])
def test_block_without_se_equals_plain_residual_block(shortcut, stride_channels):
    stride, cin, cout = stride_channels
    block = BasicBlock(cin, cout, stride, squeeze_channels=None, shortcut=shortcut).double()
    _randomise_bn(block)
    block.eval()
    x = torch.randn(2, cin, 8, 8, dtype=torch.float64)
    out, s = block(x, return_excitation=True)
    assert s is None
    torch.testing.assert_close(out, _plain_block(block, x), rtol=0, atol=0)


def test_block_with_open_gates_equals_plain_block():
    # SE with its excitation pinned at 1 (W_2 = 0, b_2 large) is the plain residual block.
    block = BasicBlock(16, 32, 2, squeeze_channels=2).double()
    _randomise_bn(block)
    block.eval()
    with torch.no_grad():
        block.se.fc2.weight.zero_()
        block.se.fc2.bias.fill_(60.0)  # σ(60) = 1 - 9e-27: exactly 1.0 in float64
    x = torch.randn(2, 16, 8, 8, dtype=torch.float64)
    out, s = block(x, return_excitation=True)
    assert bool((s == 1).all())
    torch.testing.assert_close(out, _plain_block(block, x), rtol=0, atol=0)


def test_se_disabled_model_equals_plain_model_with_shared_weights():
    se_model = SEResNet(SEResNetConfig(se_reduction=8)).double()
    plain = SEResNet(SEResNetConfig(se_reduction=None)).double()
    _randomise_bn(se_model)
    se_only = {k for k in se_model.state_dict() if ".se." in k}
    assert set(se_model.state_dict()) - se_only == set(plain.state_dict())
    plain.load_state_dict({k: v for k, v in se_model.state_dict().items() if k not in se_only})
    with torch.no_grad():
        for block in se_model.blocks.values():
            block.se.fc2.weight.zero_()
            block.se.fc2.bias.fill_(60.0)
    se_model.eval()
    plain.eval()
    x = torch.randn(4, 1, 28, 28, dtype=torch.float64)
    torch.testing.assert_close(se_model(x), plain(x), rtol=0, atol=0)
    # and with learned gates the outputs differ: the SE blocks are really in the path
    se_model.blocks["stage3_block3"].se.fc2.bias.data.fill_(0.0)
    assert not torch.allclose(se_model(x), plain(x))


@pytest.mark.parametrize("reduction", [4, 8, 16, 32])
@pytest.mark.parametrize("bias", [True, False])
def test_parameter_overhead_formula(reduction, bias):
    cfg = SEResNetConfig(se_reduction=reduction, se_bias=bias)
    plain = sum(p.numel() for p in SEResNet(SEResNetConfig(se_reduction=None)).parameters())
    model = SEResNet(cfg)
    extra = sum(p.numel() for p in model.parameters()) - plain
    # Hu et al. Eq. 5: (2/r) Σ_s N_s C_s² (+ biases), with C' = max(C // r, 1)
    widths = {c: max(c // reduction, 1) for c in (16, 32, 64)}
    expected = sum(3 * se_parameter_count(c, w, bias) for c, w in widths.items())
    assert extra == model.se_parameter_overhead() == expected
    if not bias and reduction <= 16:  # no clamping: exactly the paper's formula
        assert extra == 2 * sum(3 * c * c for c in (16, 32, 64)) // reduction
    assert list(model.squeeze_widths().values()) == [widths[c] for c in (16, 32, 64) for _ in "abc"]


def test_large_reduction_clamps_the_bottleneck():
    model = SEResNet(SEResNetConfig(se_reduction=32))
    assert model.squeeze_widths()["stage1.block1"] == 1  # 16 // 32 = 0, kept at 1
    assert model.squeeze_widths()["stage3.block1"] == 2
    _, exc = model(torch.randn(2, 1, 28, 28), return_excitations=True)
    assert list(exc) == model.block_names()
    assert [e.shape[1] for e in exc.values()] == [16] * 3 + [32] * 3 + [64] * 3
    assert all(bool(((e > 0) & (e < 1)).all()) for e in exc.values())


@pytest.mark.parametrize("shape", [(2, 3, 28, 28), (2, 1, 32, 32), (2, 28, 28), (1, 1, 28, 27)])
def test_wrong_image_shape(shape):
    model = SEResNet()
    with pytest.raises(ValueError, match=r"expected images of shape \(B, 1, 28, 28\), got"):
        model(torch.randn(*shape))


def test_wrong_dtype_and_type():
    model = SEResNet()
    with pytest.raises(TypeError, match="floating-point images"):
        model(torch.zeros(2, 1, 28, 28, dtype=torch.uint8))
    with pytest.raises(TypeError, match="expected images as a Tensor"):
        model([[0.0]])


def test_config_errors():
    with pytest.raises(ValueError, match="se_reduction"):
        SEResNetConfig(se_reduction=0)
    with pytest.raises(ValueError, match="shortcut"):
        SEResNetConfig(shortcut="c")
    with pytest.raises(ValueError, match="widths"):
        SEResNetConfig(widths=(16, 0))
    assert SEResNetConfig(in_channels=3, image_size=32).squeeze_width(64) == 4


def test_other_input_sizes_via_config():
    model = SEResNet(SEResNetConfig(in_channels=3, image_size=32, shortcut="b"))
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_tiny_learning():
    # Two separable classes of 28x28 images (a bright square left vs right); a few SGD steps
    # of the SE-ResNet must fit them.
    gen = torch.Generator().manual_seed(0)
    n = 32
    y = torch.randint(0, 2, (n,), generator=gen)
    x = 0.3 * torch.randn(n, 1, 28, 28, generator=gen)
    for i in range(n):
        col = 2 if y[i] == 0 else 18
        x[i, 0, 10:18, col : col + 8] += 2.0
    model = SEResNet(SEResNetConfig(num_classes=2, widths=(4, 8, 8), blocks_per_stage=1,
                                    se_reduction=2))  # fmt: skip
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(15):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        acc = float((model(x).argmax(1) == y).float().mean())
    assert acc > 0.95
