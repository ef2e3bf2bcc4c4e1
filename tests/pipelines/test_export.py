"""Export to TorchScript and ONNX: the same probabilities as PyTorch on ragged batches of
lengths and batch sizes never seen at export time."""

from __future__ import annotations

import json

import pytest
import torch

from seqattn.data import Vocab, WordTokenizer
from seqattn.models import ClassifierConfig, SequenceClassifier
from seqattn.nn import GRU, LSTM, RNN, MinGRU, MinLSTM
from seqattn.pipelines import ClassifierBundle, ExportableClassifier, export_classifier
from seqattn.pipelines import export as export_module
from seqattn.pipelines.export import ExportMinRecurrent, ExportRecurrent

# torch 2.13 deprecates TorchScript in favour of torch.export; loading it is what users do
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")

VOCAB = Vocab(["<pad>", "<unk>"] + [f"w{i}" for i in range(40)], bos=None, eos=None)
CASES = [
    ("lstm", "attention"),
    ("transformer", "mean"),
    ("bigru", "max"),
    ("tcn", "last"),
    ("bilstm", "concat"),
    ("mingru", "attention"),
    ("bimingru", "last"),
    ("minlstm", "mean"),
]


def make_dir(tmp_path, encoder, head, num_layers=2):
    cfg = ClassifierConfig(len(VOCAB), 3, embed_dim=8, hidden_size=8, encoder=encoder, head=head,
                           num_layers=num_layers, max_length=16, dropout=0.1)  # fmt: skip
    torch.manual_seed(1)
    bundle = ClassifierBundle(SequenceClassifier(cfg), WordTokenizer(), VOCAB, ["a", "b", "c"])
    return bundle, bundle.save(tmp_path / f"{encoder}-{head}")


def ragged(lengths, seed=5):
    gen = torch.Generator().manual_seed(seed)
    steps = max(lengths)
    mask = torch.arange(steps)[None, :] < torch.tensor(lengths)[:, None]
    tokens = torch.randint(2, len(VOCAB), (len(lengths), steps), generator=gen)
    return tokens.masked_fill(~mask, 0), mask


# T = 13 and B = 6 were never seen: the export traces (2, 5), its check runs (4, 9)
LENGTHS = [13, 1, 7, 13, 4, 10]


def reference(bundle, tokens, mask):
    with torch.no_grad():
        return bundle.model(tokens, mask.sum(1)).logits.softmax(-1)


@pytest.mark.parametrize(("encoder", "head"), CASES)
def test_torchscript_matches_pytorch_on_unseen_lengths(tmp_path, encoder, head):
    bundle, model_dir = make_dir(tmp_path, encoder, head)
    path = export_classifier(model_dir, "torchscript")
    assert path == model_dir / "model.torchscript.pt"
    extra = {"seqattn.json": ""}
    program = torch.jit.load(str(path), _extra_files=extra)
    assert json.loads(extra["seqattn.json"])["labels"] == ["a", "b", "c"]
    tokens, mask = ragged(LENGTHS)
    with torch.no_grad():
        got = program(tokens, mask)
    torch.testing.assert_close(got, reference(bundle, tokens, mask), atol=1e-5, rtol=0)
    # padding content is ignored, as in PyTorch
    with torch.no_grad():
        noisy = program(tokens.masked_fill(~mask, 7), mask)
    torch.testing.assert_close(noisy, got, atol=1e-6, rtol=0)


@pytest.mark.parametrize(("encoder", "head"), CASES)
def test_onnxruntime_matches_pytorch_on_unseen_lengths(tmp_path, encoder, head):
    onnx = pytest.importorskip("onnx", reason="pip install 'seqattn[export]' for ONNX export")
    ort = pytest.importorskip("onnxruntime", reason="pip install 'seqattn[export]'")
    bundle, model_dir = make_dir(tmp_path, encoder, head)
    path = export_classifier(model_dir, "onnx", tmp_path / "out" / "clf.onnx")
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert json.loads(meta["labels"]) == ["a", "b", "c"]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["tokens", "mask"]
    for lengths in (LENGTHS, [3], [16, 16, 2]):
        tokens, mask = ragged(lengths)
        (probs,) = session.run(None, {"tokens": tokens.numpy(), "mask": mask.numpy()})
        expected = reference(bundle, tokens, mask)
        torch.testing.assert_close(torch.from_numpy(probs), expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("layer", [LSTM, GRU, RNN])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_export_recurrent_equals_the_seqattn_layer(layer, bidirectional):
    rnn = layer(5, 6, num_layers=2, batch_first=True, bidirectional=bidirectional).eval()
    x, lengths = torch.randn(4, 9, 5, dtype=torch.float64), torch.tensor([9, 1, 5, 8])
    rnn, adapter = rnn.double(), ExportRecurrent(rnn.double()).double()
    out, state = rnn(x, lengths=lengths)
    got, got_state = adapter(x, lengths=lengths)
    h = state[0] if isinstance(state, tuple) else state
    got_h = got_state[0] if isinstance(got_state, tuple) else got_state
    torch.testing.assert_close(got, out)
    torch.testing.assert_close(got_h, h)


@pytest.mark.parametrize("layer", [MinGRU, MinLSTM])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_export_min_recurrent_equals_the_seqattn_layer(layer, bidirectional):
    rnn = layer(5, 6, num_layers=2, bidirectional=bidirectional, mode="sequential").double()
    x, lengths = torch.randn(4, 9, 5, dtype=torch.float64), torch.tensor([9, 1, 5, 8])
    out, h = rnn.eval()(x, lengths=lengths)
    got, got_h = ExportMinRecurrent(rnn)(x, lengths=lengths)
    torch.testing.assert_close(got, out)
    torch.testing.assert_close(got_h, h)
    with pytest.raises(TypeError, match="MinGRU or MinLSTM"):
        ExportMinRecurrent(GRU(5, 6))


def test_wrapper_truncates_to_max_length_like_predict(tmp_path):
    bundle, _ = make_dir(tmp_path, "gru", "mean", num_layers=1)
    tokens, mask = ragged([20, 3])  # longer than max_length = 16
    wrapper = ExportableClassifier(bundle.model)
    expected = reference(bundle, tokens[:, :16], mask[:, :16])
    torch.testing.assert_close(wrapper(tokens, mask), expected, atol=1e-6, rtol=0)


def test_a_frozen_trace_is_caught_and_nothing_is_written(tmp_path, monkeypatch):
    """Without the adapter the Python time loop is unrolled at the example's length: the check
    on a batch of another length must refuse the export."""
    _, model_dir = make_dir(tmp_path, "bilstm", "attention", num_layers=1)
    monkeypatch.setattr(export_module, "ExportRecurrent", lambda layer: layer)
    with pytest.raises(ValueError, match=r"torchscript export .* nothing was written .*'bilstm'"):
        export_classifier(model_dir, "torchscript")
    assert not (model_dir / "model.torchscript.pt").exists()
    assert not list(model_dir.glob(".*"))


def test_bad_requests(tmp_path):
    _, model_dir = make_dir(tmp_path, "gru", "last", num_layers=1)
    with pytest.raises(ValueError, match=r"expected format in \('onnx', 'torchscript'\), got 'tf'"):
        export_classifier(model_dir, "tf")
    with pytest.raises(FileNotFoundError, match="no directory"):
        export_classifier(tmp_path / "missing", "onnx")
