"""The attention-inspection API renders every kind of attention to well-formed files."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
import torch

from seqattn.viz import AttentionView, attention_heatmap, attention_html, save_attention

KINDS = {
    "pooling": AttentionView(torch.softmax(torch.randn(6), 0), keys=list("abc<&f"), title="pool"),
    "alignment": AttentionView(torch.softmax(torch.randn(4, 6), -1), keys=list("abcdef"),
                               queries=["w", "x", "y", "z"], title="align"),
    "multihead": AttentionView(torch.softmax(torch.randn(3, 4, 6), -1), title="heads"),
}  # fmt: skip


def _parse_html(text: str) -> ET.Element:
    assert text.startswith("<!DOCTYPE html>\n")
    return ET.fromstring(text.split("\n", 1)[1])  # well-formed, or this raises


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_kind_renders_to_png_svg_html(kind, tmp_path):
    view = KINDS[kind]
    assert view.kind == kind
    files = save_attention(view, tmp_path, kind)
    png = files["png"].read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2_000
    svg = ET.parse(files["svg"]).getroot()
    assert svg.tag.endswith("svg")
    root = _parse_html(files["html"].read_text())
    views = [e for e in root.iter("div") if e.get("class") == "view"]
    assert len(views) == 1 and views[0].get("data-kind") == kind
    text = "".join(root.itertext())
    for label in view.keys:
        assert label in text  # escaped in the file, intact once parsed


def test_html_structure_per_kind():
    root = _parse_html(attention_html(list(KINDS.values()), title="All"))
    views = {v.get("data-kind"): v for v in root.iter("div") if v.get("class") == "view"}
    assert len(list(views["pooling"].iter("span"))) == 6
    assert len(list(views["alignment"].iter("tr"))) == 1 + 4
    heads = [d for d in views["multihead"].iter("div") if d.get("class", "").startswith("head")]
    assert len(heads) == 3 and len(list(views["multihead"].iter("button"))) == 3
    assert root.find("head/script") is not None  # self-contained: the tab script is inline
    assert all(not e.get("src") for e in root.iter("script"))


def test_shading_follows_weights():
    view = AttentionView([0.1, 0.6, 0.3], keys=["a", "b", "c"])
    root = _parse_html(attention_html(view))
    styles = {s.text: s.get("style") for s in root.iter("span")}
    assert "rgba(214,39,40,1.000)" in styles["b"]
    assert "rgba(214,39,40,0.167)" in styles["a"]


def test_bad_views():
    with pytest.raises(ValueError, match=r"expected 3 key labels, got 2"):
        AttentionView([0.2, 0.3, 0.5], keys=["a", "b"])
    with pytest.raises(ValueError, match="expected weights of shape"):
        AttentionView(torch.zeros(1, 2, 3, 4))
    with pytest.raises(ValueError, match="expected finite attention weights"):
        AttentionView([float("nan"), 1.0])
    with pytest.raises(ValueError, match="expected formats from"):
        save_attention(AttentionView([1.0]), "unused", "x", formats=("gif",))


def test_heatmap_direct(tmp_path):
    path = attention_heatmap(KINDS["alignment"], tmp_path / "sub" / "a.svg")
    assert ET.parse(path).getroot().tag.endswith("svg")


def test_plot_panels_keeps_one_colour_per_label_and_legends_differing_panels(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    from seqattn.viz import plot_panels

    captured = {}
    real_close = plt.close

    def keep(fig=None):
        captured["fig"] = fig
        return real_close(fig)

    plt.close = keep
    try:
        plot_panels({"A": {"x": ([0, 1], [0, 1]), "y": ([0, 1], [1, 0])},
                     "B": {"y": ([0, 1], [0, 1])}}, tmp_path / "p.png", xlabel="x",
                    ylabel="y")  # fmt: skip
    finally:
        plt.close = real_close
    fig = captured["fig"]
    a, b = fig.axes
    colour = {ln.get_label(): ln.get_color() for ln in a.get_lines()}
    assert b.get_lines()[0].get_color() == colour["y"]  # "y" is the same colour in both panels
    assert a.get_legend() is not None and b.get_legend() is not None
    assert (tmp_path / "p.png").exists()


def test_plot_panels_names_categorical_x_positions(tmp_path, monkeypatch):
    """The sentiment report's accuracy-by-length plot labels its x axis with the buckets."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    from seqattn.viz import plot_panels

    figures, real_close = [], plt.close
    monkeypatch.setattr(plt, "close", lambda fig=None: (figures.append(fig), real_close(fig)))
    names = ["1-100", "101-200", "201+"]
    plot_panels({"A": {"m": ([0, 1, 2], [0.9, 0.8, 0.7])}}, tmp_path / "p.png",
                xlabel="length", ylabel="acc", xticklabels=names)  # fmt: skip
    (ax,) = figures[0].axes
    assert [t.get_text() for t in ax.get_xticklabels()] == names
