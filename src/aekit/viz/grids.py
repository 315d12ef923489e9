"""Image grids: many small images tiled into one crisp uint8 picture, and PNG writing.

Small images (28x28 MNIST, 8x8 digits) are enlarged by an *integer* nearest-neighbour factor, so
every source pixel becomes a sharp square block instead of the blur a browser or an image viewer
adds when it scales a tiny PNG. Cells are separated by light grey lines.
"""

from __future__ import annotations

import io
import math
import os
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..data.pixels import as_uint8
from ..fileio import atomic_write_bytes

__all__ = ["comparison_grid", "encode_png", "image_grid", "save_png", "to_uint8"]

SEPARATOR = 224  # light grey: visible against both black MNIST and white backgrounds
LABEL_BACKGROUND = 255
LABEL_INK = 32
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def to_uint8(array: Any) -> np.ndarray:
    """Convert an image array to uint8 in [0, 255].

    uint8 passes through unchanged; bool maps to 0/255; floats are read as [0, 1], clipped
    (decoders without a sigmoid overshoot slightly) and rounded half to even
    (:func:`aekit.data.pixels.as_uint8`); other integer types must already lie in [0, 255].
    Torch tensors are accepted and copied to the CPU.

    Args:
        array: Any array-like of images.

    Returns:
        A uint8 ndarray of the same shape.
    """
    if hasattr(array, "detach"):  # a torch.Tensor, possibly on a GPU or requiring grad
        array = array.detach().cpu().numpy()
    a = np.asarray(array)
    if a.dtype == np.uint8:
        return a
    if a.dtype == np.bool_:
        return a.astype(np.uint8) * 255
    if np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise ValueError("expected finite image values in [0, 1], got NaN or inf")
        return as_uint8(a)
    if np.issubdtype(a.dtype, np.integer):
        if a.size and (a.min() < 0 or a.max() > 255):
            raise ValueError(
                f"expected integer image values in [0, 255], got range [{a.min()}, {a.max()}]"
            )
        return a.astype(np.uint8)
    raise ValueError(f"expected uint8, bool, integer or float images, got dtype {a.dtype}")


def _as_nhwc(images: Any) -> np.ndarray:
    """Images as a uint8 (N, H, W, C) array with C in {1, 3}."""
    if isinstance(images, (list, tuple)):
        images = np.stack([to_uint8(im) for im in images])
    a = to_uint8(images)
    if a.ndim == 3:
        a = a[..., None]
    if a.ndim != 4 or a.shape[-1] not in (1, 3):
        hint = ""
        if a.ndim == 4 and a.shape[1] in (1, 3):
            hint = "; this looks like (N, C, H, W): transpose it to (N, H, W, C)"
        raise ValueError(
            f"expected images of shape (N, H, W) or (N, H, W, C) with C 1 or 3, "
            f"got {tuple(a.shape)}{hint}"
        )
    if a.shape[0] == 0 or a.shape[1] == 0 or a.shape[2] == 0:
        raise ValueError(f"expected at least one non-empty image, got shape {tuple(a.shape)}")
    return a


def _scale_for(h: int, w: int, min_cell: int) -> int:
    if min_cell < 1:
        raise ValueError(f"expected min_cell >= 1, got {min_cell}")
    return max(1, math.ceil(min_cell / min(h, w)))


def image_grid(
    images: Any, ncols: int | None = None, pad: int = 2, min_cell: int = 56
) -> np.ndarray:
    """Tile images into one grid, enlarging small ones so each cell is at least ``min_cell`` px.

    Each image is enlarged by the integer factor ``ceil(min_cell / min(H, W))`` (1 for images
    already that large) with nearest-neighbour repetition, so pixels stay crisp squares.

    Args:
        images: (N, H, W) or (N, H, W, C) with C 1 or 3, uint8 or float in [0, 1] (a list of
            equal-shaped images works too).
        ncols: Images per row; default ``ceil(sqrt(N))``, a near-square grid.
        pad: Width in px of the light separator lines, around the border too.
        min_cell: Minimum cell side in px after enlarging.

    Returns:
        A uint8 array (H', W', C), C = 1 for grey input and 3 for colour. Unused cells at the end
        of the last row are separator-coloured.
    """
    a = _as_nhwc(images)
    n, h, w, c = a.shape
    if pad < 0:
        raise ValueError(f"expected pad >= 0, got {pad}")
    if ncols is None:
        ncols = math.ceil(math.sqrt(n))
    if ncols < 1:
        raise ValueError(f"expected ncols >= 1, got {ncols}")
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)

    s = _scale_for(h, w, min_cell)
    a = a.repeat(s, axis=1).repeat(s, axis=2)  # (N, h*s, w*s, C)
    ch, cw = h * s, w * s

    # Each cell carries its separator on the right and bottom; the top/left border is added
    # once at the end. Tiling by reshape avoids a Python loop over images.
    cells = np.full((nrows * ncols, ch + pad, cw + pad, c), SEPARATOR, dtype=np.uint8)
    cells[:n, :ch, :cw] = a
    grid = cells.reshape(nrows, ncols, ch + pad, cw + pad, c).transpose(0, 2, 1, 3, 4)
    grid = grid.reshape(nrows * (ch + pad), ncols * (cw + pad), c)
    return np.pad(grid, ((pad, 0), (pad, 0), (0, 0)), constant_values=SEPARATOR)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)  # scalable font, Pillow >= 10.1 with FreeType
    except (TypeError, OSError, ImportError):
        return ImageFont.load_default()


def comparison_grid(
    rows: Sequence[Any],
    labels: Sequence[str] | None = None,
    *,
    pad: int = 2,
    min_cell: int = 56,
) -> np.ndarray:
    """Stack aligned rows of images (e.g. original / corrupted / reconstruction) into one picture.

    Args:
        rows: Image batches, each (N, H, W) or (N, H, W, C), with the same N and image size; the
            i-th image of every row lines up in the i-th column.
        labels: One label per row, drawn to the left of it; ``None`` for no label column.
        pad: Separator width in px.
        min_cell: Minimum cell side in px after enlarging.

    Returns:
        A uint8 array (H', W', C): C = 3 if any row is colour (grey rows are repeated to RGB),
        else 1.
    """
    if len(rows) == 0:
        raise ValueError("expected at least one row of images, got none")
    batches = [_as_nhwc(r) for r in rows]
    n, h, w = batches[0].shape[:3]
    for i, b in enumerate(batches[1:], start=1):
        if b.shape[:3] != (n, h, w):
            raise ValueError(
                f"expected every row to hold {n} images of {h}x{w} like row 0, "
                f"got {b.shape[0]} images of {b.shape[1]}x{b.shape[2]} in row {i}"
            )
    if labels is not None and len(labels) != len(batches):
        raise ValueError(f"expected {len(batches)} labels (one per row), got {len(labels)}")
    c = max(b.shape[-1] for b in batches)
    batches = [np.repeat(b, c // b.shape[-1], axis=-1) for b in batches]

    grids = [image_grid(b, ncols=n, pad=pad, min_cell=min_cell) for b in batches]
    # Drop each later grid's top border so rows are separated by one line, not two.
    out = np.concatenate([grids[0]] + [g[pad:] for g in grids[1:]], axis=0)
    if labels is None:
        return out

    cell_h = h * _scale_for(h, w, min_cell)
    font = _font(max(11, min(18, cell_h // 4)))
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    boxes = [probe.textbbox((0, 0), str(t), font=font) for t in labels]
    margin = 6
    width = max(b[2] - b[0] for b in boxes) + 2 * margin
    mode = "RGB" if c == 3 else "L"
    ink = (LABEL_INK,) * 3 if c == 3 else LABEL_INK
    panel = Image.new(mode, (width, out.shape[0]), (LABEL_BACKGROUND,) * 3 if c == 3 else 255)
    draw = ImageDraw.Draw(panel)
    for i, (text, box) in enumerate(zip(labels, boxes, strict=True)):
        centre = pad + i * (cell_h + pad) + cell_h / 2
        draw.text((margin - box[0], centre - (box[1] + box[3]) / 2), str(text), fill=ink, font=font)
    panel_arr = np.asarray(panel, dtype=np.uint8).reshape(out.shape[0], width, c)
    return np.concatenate([panel_arr, out], axis=1)


def encode_png(array: Any, *, quick: bool = False) -> bytes:
    """Encode an image array as PNG bytes.

    Args:
        array: (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); uint8 or float in [0, 1].
        quick: Write the PNG directly (unfiltered rows, zlib level 1) instead of through PIL.
            For the small images the server sends, PIL's encoder setup costs several times the
            compression itself; without PNG's row filters, photos come out larger, so files
            and reports keep PIL's smaller output.

    Returns:
        The PNG file contents.
    """
    a = to_uint8(array)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[-1] in (3, 4))):
        raise ValueError(f"expected an image of shape (H, W) or (H, W, 1|3|4), got {a.shape}")
    a = np.ascontiguousarray(a)
    if quick:
        return _quick_png(a)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _quick_png(a: np.ndarray) -> bytes:
    """(H, W) / (H, W, 3|4) uint8 -> an 8-bit grey / RGB / RGBA PNG, filter byte 0 on every row."""
    h, w = a.shape[:2]
    channels = 1 if a.ndim == 2 else a.shape[2]
    colour = {1: 0, 3: 2, 4: 6}[channels]
    rows = np.zeros((h, 1 + w * channels), np.uint8)  # each row: filter byte 0, then the pixels
    rows[:, 1:] = a.reshape(h, w * channels)
    header = struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0)
    return (PNG_SIGNATURE + _png_chunk(b"IHDR", header)
            + _png_chunk(b"IDAT", zlib.compress(rows.tobytes(), 1)) + _png_chunk(b"IEND", b""))


def save_png(path: str | os.PathLike[str], array: Any) -> Path:
    """Write an image array to a PNG file atomically (temp file, then ``os.replace``).

    Args:
        path: Destination; missing parent folders are created.
        array: (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); uint8 or float in [0, 1].

    Returns:
        The destination path.
    """
    atomic_write_bytes(path, encode_png(array))
    return Path(path)
