"""Image grids, plots and the HTML report: shapes, crispness, files that open, escaping."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
from PIL import Image

from aekit.viz import (
    Report,
    comparison_grid,
    encode_png,
    image_grid,
    plot_bars,
    plot_histogram,
    plot_history,
    plot_scatter,
    save_png,
)
from aekit.viz.grids import SEPARATOR


def test_image_grid_shape_scale_and_crisp_pixels():
    rng = np.random.default_rng(0)
    digits = rng.random((10, 8, 8))  # float [0, 1], like scikit-learn's 8x8 digits
    g = image_grid(digits, ncols=5, pad=2, min_cell=56)
    # 8 px scaled by ceil(56 / 8) = 7 -> 56 px cells; 5 x 2 cells with 2 px lines around.
    assert g.dtype == np.uint8
    assert g.shape == (2 * 56 + 3 * 2, 5 * 56 + 6 * 2, 1)
    # Nearest-neighbour: each source pixel is a uniform 7x7 block (no interpolation blur).
    cell = g[2 : 2 + 56, 2 : 2 + 56, 0]
    blocks = cell.reshape(8, 7, 8, 7)
    assert (blocks == blocks[:, :1, :, :1]).all()
    np.testing.assert_array_equal(blocks[:, 0, :, 0], np.rint(digits[0] * 255).astype(np.uint8))
    # Separator lines are the light grey, and the second cell holds image 1.
    assert (g[:2] == SEPARATOR).all() and (g[:, 58:60] == SEPARATOR).all()
    np.testing.assert_array_equal(g[2:58:7, 60:116:7, 0], np.rint(digits[1] * 255))


def test_image_grid_defaults_colour_and_large_images():
    mnist = np.random.default_rng(1).integers(0, 256, (7, 28, 28), dtype=np.uint8)
    g = image_grid(mnist)  # ncols = ceil(sqrt(7)) = 3 -> 3 rows; 28 * 2 = 56 px cells
    assert g.shape == (3 * 56 + 4 * 2, 3 * 56 + 4 * 2, 1)
    # The 2 unused cells at the end are filled with the separator colour.
    assert (g[-58:, -116:] == SEPARATOR).all()
    rgb = np.random.default_rng(2).random((4, 64, 60, 3))
    g = image_grid(rgb, ncols=4, pad=0)
    assert g.shape == (64, 4 * 60, 3)  # already >= 56 px: no upscaling
    np.testing.assert_array_equal(g[:, 60:120], np.rint(rgb[1] * 255).astype(np.uint8))
    # A 48 px side is below min_cell, so the factor is ceil(56 / 48) = 2 on both axes.
    assert image_grid(rgb[:, :, :48], ncols=4, pad=0).shape == (128, 4 * 96, 3)


@pytest.mark.parametrize(
    ("images", "match"),
    [
        (np.zeros((4, 3, 8, 8)), r"looks like \(N, C, H, W\)"),
        (np.zeros((0, 8, 8)), "at least one"),
        (np.full((2, 8, 8), np.nan), "finite"),
        (np.full((2, 8, 8), 300, dtype=np.int64), r"\[0, 255\]"),
    ],
)
def test_image_grid_bad_input(images, match):
    with pytest.raises(ValueError, match=match):
        image_grid(images)


def test_comparison_grid_rows_and_labels():
    rng = np.random.default_rng(3)
    clean = rng.random((6, 28, 28))
    noisy = rng.random((6, 28, 28))
    recon = rng.random((6, 28, 28, 3))  # one colour row promotes the picture to RGB
    plain = comparison_grid([clean, noisy, recon])
    # 3 rows of 56 px cells, single separators between rows.
    assert plain.shape == (3 * 56 + 4 * 2, 6 * 56 + 7 * 2, 3)
    np.testing.assert_array_equal(plain[60 : 60 + 56 : 2, 2:58:2, 0], np.rint(noisy[0] * 255))

    labelled = comparison_grid([clean, noisy, recon], ["original", "noisy", "<recon>"])
    assert labelled.shape[0] == plain.shape[0]
    extra = labelled.shape[1] - plain.shape[1]
    assert extra > 20  # a label column was added on the left...
    np.testing.assert_array_equal(labelled[:, extra:], plain)  # ...and the grid is unchanged
    panel = labelled[:, :extra]
    assert (panel < 128).any()  # dark text was drawn
    # Each label sits beside its row: ink in every row band.
    for r in range(3):
        band = panel[2 + r * 58 : 2 + r * 58 + 56]
        assert (band < 128).any()

    with pytest.raises(ValueError, match="expected 3 labels"):
        comparison_grid([clean, noisy, recon], ["a", "b"])
    with pytest.raises(ValueError, match="row 1"):
        comparison_grid([clean, noisy[:5]])


def test_save_png_roundtrip_and_atomic(tmp_path):
    arr = image_grid(np.random.default_rng(4).random((3, 8, 8)))
    out = save_png(tmp_path / "sub" / "grid.png", arr)
    assert out.exists()
    with Image.open(out) as im:
        assert im.mode == "L" and im.size == (arr.shape[1], arr.shape[0])
        np.testing.assert_array_equal(np.asarray(im), arr[..., 0])
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["grid.png"]


@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 1), (6, 4, 3), (3, 9, 4)])
def test_encode_png_quick_and_pil_decode_to_the_same_pixels(shape):
    image = np.random.default_rng(5).integers(0, 256, shape, dtype=np.uint8)
    decoded = []
    for quick in (False, True):
        data = encode_png(image, quick=quick)
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            decoded.append(np.asarray(im))
    np.testing.assert_array_equal(decoded[0], decoded[1])
    np.testing.assert_array_equal(decoded[1], image.reshape(decoded[1].shape))
    with pytest.raises(ValueError, match=r"\(H, W\) or \(H, W, 1\|3\|4\)"):
        encode_png(np.zeros((4, 4, 2), np.uint8), quick=True)


def _records():
    recs = []
    for e in range(1, 21):
        recs.append(
            {
                "epoch": e,
                "step": 210 * e,
                "train/loss": 1.0 / e**2,
                "train/recon": 0.9 / e**2,
                "train/kl": 0.1 + 0.01 * e,
                "val/loss": 1.1 / e**2,
                "val/recon": float("nan") if e == 3 else 1.0 / e**2,
                "lr": 0.001,
                "time": 1.5 * e,
                "samples_per_s": 5000,
            }
        )
    return recs


def test_plot_history_writes_png(tmp_path):
    out = plot_history(_records(), tmp_path / "curves.png", title="conv on digits")
    assert out.stat().st_size > 5000
    with Image.open(out) as im:
        im.verify()
    with Image.open(out) as im:
        # 3 panels (loss, recon, kl) in one row at ~110 dpi: wider than tall.
        assert im.format == "PNG" and im.size[0] > 2 * im.size[1]
    assert [p.name for p in tmp_path.iterdir()] == ["curves.png"]


def test_plot_history_without_terms_is_an_error(tmp_path):
    with pytest.raises(ValueError, match=r"'train/\*' or 'val/\*'"):
        plot_history([{"epoch": 1, "lr": 0.1}], tmp_path / "x.png")
    assert not any(tmp_path.iterdir())


def test_small_plot_helpers(tmp_path):
    rng = np.random.default_rng(5)
    paths = [
        plot_bars({"aekit": 0.41, "png": 1.2, "jpeg": 0.9}, tmp_path / "bars.png", ylabel="bpp"),
        plot_histogram(
            {"normal": rng.normal(0, 1, 500), "anomalous": rng.normal(3, 1, 50)},
            tmp_path / "hist.png",
            vlines={"threshold": 2.0},
        ),
        plot_scatter(
            rng.normal(size=(300, 2)), tmp_path / "map.png", labels=rng.integers(0, 10, 300)
        ),
    ]
    for p in paths:
        with Image.open(p) as im:
            assert im.format == "PNG" and im.size[0] > 200
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        plot_scatter(rng.normal(size=(10, 3)), tmp_path / "bad.png")


def test_report_escapes_embeds_and_writes_atomically(tmp_path):
    grid = image_grid(np.random.default_rng(6).random((4, 8, 8)))
    png_file = save_png(tmp_path / "g.png", grid)
    rep = (
        Report("Run <1> & friends")
        .heading("Metrics <test>")
        .text("SSIM is **higher** with `sigma=1.5` <b>not bold</b>\n\n- one\n- two & three")
        .table(
            [
                {"model": "<script>alert(1)</script>", "mse": 0.0123456, "n": 10000},
                {"model": "pca", "psnr": np.float32(20.5)},
            ],
            caption="test & eval",
        )
        .table({"bpp": 0.5})
        .image(grid, caption="grid from array")
        .image(png_file, caption="grid from file", width=300, pixelated=False)
        .code("if a < b:\n    return {'x': 1}")
    )
    path = rep.write(tmp_path / "report.html")
    html_text = path.read_text(encoding="utf-8")

    assert "<title>Run &lt;1&gt; &amp; friends</title>" in html_text
    assert "<h2>Metrics &lt;test&gt;</h2>" in html_text
    assert "<strong>higher</strong>" in html_text and "<code>sigma=1.5</code>" in html_text
    assert "&lt;b&gt;not bold&lt;/b&gt;" in html_text and "<b>" not in html_text
    assert "<li>two &amp; three</li>" in html_text
    assert "<script>" not in html_text and "&lt;script&gt;alert(1)&lt;/script&gt;" in html_text
    assert ">0.01235<" in html_text and ">10000<" in html_text and ">20.5<" in html_text
    assert "<caption>test &amp; eval</caption>" in html_text
    assert "<td>bpp</td>" in html_text and ">0.5<" in html_text
    assert "if a &lt; b:\n    return {&#x27;x&#x27;: 1}" in html_text
    assert "image-rendering: pixelated" in html_text and 'style="width:300px"' in html_text
    assert "http" not in html_text.replace('content="width=device-width', "")  # no external assets

    # Both images are embedded and decode back to the grid.
    uris = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html_text)
    assert len(uris) == 2
    for u in uris:
        with Image.open(io.BytesIO(base64.b64decode(u))) as im:
            np.testing.assert_array_equal(np.asarray(im), grid[..., 0])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.png", "report.html"]


def test_report_rejects_bad_input(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    rep = Report("r")
    with pytest.raises(ValueError, match="PNG, JPEG or GIF"):
        rep.image(tmp_path / "notes.txt")
    with pytest.raises(ValueError, match="at least one table row"):
        rep.table([])
    with pytest.raises(ValueError, match="heading level"):
        rep.heading("x", level=1)
