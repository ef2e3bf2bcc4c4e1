"""The modern recurrent layers exported through their step form: the ONNX / TorchScript step
graph run over ragged batches equals the layer's forward (outputs and final states)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import seqattn.nn as snn

pytest.importorskip("onnxruntime", reason="needs onnxruntime (the export extra)")

from seqattn.pipelines import export_layers as ex  # noqa: E402

LAYERS = {
    "Mamba": lambda: snn.Mamba(8),
    "MLSTM": lambda: snn.MLSTM(8, num_heads=2),
    "SLSTM": lambda: snn.SLSTM(8, 8, num_heads=2),
    "DeltaNet": lambda: snn.DeltaNet(8, num_heads=2),
    "GatedLinearAttention": lambda: snn.GatedLinearAttention(8, num_heads=2),
    "CausalLinearAttention": lambda: snn.CausalLinearAttention(8, num_heads=2),
    "SSD": lambda: snn.SSD(8),
}


@pytest.mark.parametrize("name", list(LAYERS))
def test_onnx_steps_equal_the_layer_on_a_ragged_batch(name, tmp_path):
    torch.manual_seed(0)
    layer = LAYERS[name]().eval()
    path = ex.export_step(layer, tmp_path / f"{name}.onnx")  # checked when written, too
    x = torch.randn(4, 9, 8)
    lengths = [9, 1, 5, 0]  # an empty row keeps the initial state
    with torch.no_grad():
        want_y, want_state = layer(x, None, lengths=torch.tensor(lengths))
    got_y, got_state = ex.run_steps(path, x.numpy(), lengths)
    np.testing.assert_allclose(got_y, want_y.numpy(), atol=1e-5, rtol=1e-4)
    assert not got_y[1, 1:].any() and not got_y[3].any()  # zero past each length
    for got, want in zip(got_state, ex._flat(want_state), strict=True):
        np.testing.assert_allclose(got, want.numpy(), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", ["Mamba", "MLSTM"])
def test_torchscript_step_is_checked_and_written(name, tmp_path):
    torch.manual_seed(1)
    path = ex.export_step(LAYERS[name]().eval(), tmp_path / f"{name}.pt", "torchscript")
    assert path.is_file() and path.stat().st_size > 0


def test_a_step_that_disagrees_is_refused_and_nothing_written(tmp_path, monkeypatch):
    layer = LAYERS["DeltaNet"]().eval()
    real = ex.run_steps

    def off_by_one(*args, **kwargs):
        y, state = real(*args, **kwargs)
        return y + 1.0, state

    monkeypatch.setattr(ex, "run_steps", off_by_one)
    with pytest.raises(ValueError, match="match the layer within 1e-4, got a difference of 1"):
        ex.export_step(layer, tmp_path / "d.onnx")
    assert not (tmp_path / "d.onnx").exists()


def test_bad_input_is_named(tmp_path):
    with pytest.raises(TypeError, match="init_state"):
        ex.export_step(torch.nn.Linear(3, 3), tmp_path / "l.onnx")
    with pytest.raises(ValueError, match="format"):
        ex.export_step(LAYERS["SSD"]().eval(), tmp_path / "s.x", "tflite")
    path = ex.export_step(LAYERS["SSD"]().eval(), tmp_path / "s.onnx")
    with pytest.raises(ValueError, match=r"lengths of shape \(2,\) in \[0, 3\]"):
        ex.run_steps(path, np.zeros((2, 3, 8), np.float32), [4, 1])
