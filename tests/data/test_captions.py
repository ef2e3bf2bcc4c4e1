"""Captions files (Flickr8k token form and Kaggle CSV form) and the images they name."""

from __future__ import annotations

import matplotlib.image
import numpy as np
import pytest

from seqattn.data.datasets.captions import load_caption_images, read_captions_file, read_image


def _png(path, h=16, w=24, value=0.5, grey=False):
    arr = np.full((h, w), value) if grey else np.full((h, w, 3), value)
    arr[0, 0] = 1.0  # not constant: some PNG writers shortcut flat images
    if grey:
        matplotlib.image.imsave(path, arr, cmap="gray", vmin=0, vmax=1)
    else:
        matplotlib.image.imsave(path, arr)
    return path


def test_token_and_csv_forms_read_the_same(tmp_path):
    tok = tmp_path / "Flickr8k.token.txt"
    tok.write_text("a.png#0\tA dog runs .\n\na.png#1\tA brown dog, running .\nb.png#0\tTwo cats\n")
    csv = tmp_path / "captions.txt"
    csv.write_text('image,caption\na.png,A dog runs .\na.png,"A brown dog, running ."\n'
                   "b.png,Two cats\n")  # fmt: skip
    a, b = read_captions_file(tok), read_captions_file(csv)
    assert [(r.image, r.caption) for r in a] == [(r.image, r.caption) for r in b] == [
        ("a.png", "A dog runs ."), ("a.png", "A brown dog, running ."), ("b.png", "Two cats"),
    ]  # fmt: skip
    assert a[1].where == f"{tok}:3" and b[2].where == f"{csv}:4"
    # the Kaggle file leaves commas in captions unquoted at times
    csv.write_text("image,caption\na.png,A dog, a ball .\n")
    assert read_captions_file(csv)[0].caption == "A dog, a ball ."


@pytest.mark.parametrize(
    "text, message",
    [
        ("a.png#0\tA dog\nb.png#0\t   \n", r"captions.txt:2: expected a non-empty caption"),
        ("image,caption\na.png,\n", r"captions.txt:2: expected a non-empty caption"),
        ("a.png#0\tA dog\nb.png A cat\n", r"captions.txt:2: expected 'image.jpg#0<TAB>caption'"),
        ("image,caption\na.png\n", r"captions.txt:2: expected 'image,caption'"),
        ("\n\n", "got an empty file"),
    ],
)
def test_bad_captions_files(tmp_path, text, message):
    path = tmp_path / "captions.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        read_captions_file(path)


def test_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "captions.txt"
    path.write_bytes(b"a.png#0\tA dog\nb.png#0\tA caf\xe9\n")
    with pytest.raises(ValueError, match="captions.txt:2: expected UTF-8"):
        read_captions_file(path)


def test_loads_images_once_with_all_their_captions(tmp_path):
    _png(tmp_path / "a.png", value=0.2)
    _png(tmp_path / "b.png", value=0.8)
    cap = tmp_path / "captions.txt"
    cap.write_text("a.png#0\tA dog\nb.png#0\tA cat\na.png#1\tThe dog\n")
    data = load_caption_images(tmp_path, cap)
    assert data.images.shape == (2, 3, 16, 24) and data.names == ["a.png", "b.png"]
    assert data.captions == [["A dog", "The dog"], ["A cat"]]
    assert data.pairs == [(0, "A dog"), (1, "A cat"), (0, "The dog")]
    assert abs(float(data.images[0, 0, 5, 5]) - 0.2) < 0.01  # RGBA PNG: alpha dropped
    assert abs(float(data.images[1, 2, 5, 5]) - 0.8) < 0.01


def test_missing_image_names_file_and_line(tmp_path):
    _png(tmp_path / "a.png")
    cap = tmp_path / "captions.txt"
    cap.write_text("image,caption\na.png,A dog\nmissing.png,A cat\n")
    with pytest.raises(FileNotFoundError, match=r"captions.txt:3: expected the image missing.png"):
        load_caption_images(tmp_path, cap)


def test_wrong_size_and_channels(tmp_path):
    _png(tmp_path / "a.png")
    _png(tmp_path / "big.png", h=20)
    cap = tmp_path / "captions.txt"
    cap.write_text("a.png#0\tA dog\nbig.png#0\tA cat\n")
    with pytest.raises(ValueError, match=r"big.png \(named at .*txt:2\): expected a 16x24"):
        load_caption_images(tmp_path, cap)
    # resizing makes them fit
    data = load_caption_images(tmp_path, cap, size=(8, 12), resize=True)
    assert data.images.shape == (2, 3, 8, 12)
    with pytest.raises(ValueError, match=r"a.png \(named at .*:1\): expected 1 channel\(s\)"):
        load_caption_images(tmp_path, cap, channels=1)
    with pytest.raises(ValueError, match=r"expected 3 channel\(s\), got 1"):
        from PIL import Image

        Image.fromarray(np.zeros((16, 24), dtype=np.uint8), mode="L").save(tmp_path / "g.png")
        cap.write_text("a.png#0\tA dog\ng.png#0\tA cat\n")
        load_caption_images(tmp_path, cap)


def test_read_image_grey_and_garbage(tmp_path):
    from PIL import Image

    Image.fromarray(np.full((4, 6), 255, dtype=np.uint8), mode="L").save(tmp_path / "g.png")
    arr = read_image(tmp_path / "g.png")
    assert arr.shape == (4, 6, 1) and arr.max() == 1.0
    (tmp_path / "x.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match="x.jpg: expected an image file"):
        read_image(tmp_path / "x.jpg")


def test_without_pillow_png_works_and_jpeg_says_why(tmp_path, monkeypatch):
    from seqattn.data.datasets import captions

    _png(tmp_path / "a.png", value=0.4)
    monkeypatch.setattr(captions, "_pillow", lambda: None)
    arr = read_image(tmp_path / "a.png")
    assert arr.shape == (16, 24, 3) and abs(float(arr[5, 5, 0]) - 0.4) < 0.01
    with pytest.raises(ValueError, match=r"needs Pillow \(pip install pillow\)"):
        read_image(tmp_path / "a.jpg")
