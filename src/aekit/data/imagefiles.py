"""Inputs and outputs of the inference verbs: read images as users have them, write images safely.

``read_images`` is what ``aekit denoise RUN in/*.png`` and friends call: any mix of image files,
folders and ``.npy``/``.npz`` arrays becomes one :class:`ImageSet`. Resizing and channel
conversion use the same functions as training data (:mod:`aekit.data.convert`), so a model is fed
the pixels it was trained on.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from aekit.data.arrays import load_array_file
from aekit.data.convert import check_channels, parse_size, resize_images, to_channels
from aekit.data.folders import (
    check_same_size,
    decode_many,
    is_image_file,
    scan_folder,
    stack_images,
    unique_names,
)
from aekit.data.imageset import ImageSet, concat_image_sets
from aekit.data.pixels import as_uint8
from aekit.errors import AekitError

_WRITE_FORMATS = {
    ".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP",
    ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF",
}


def read_images(
    paths: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    size: int | tuple[int, int] | None = None,
    channels: int | None = None,
) -> ImageSet:
    """Read image files, folders and array files into one image set.

    Args:
        paths: Image files (PNG, JPEG, BMP, ...), ``.npy``/``.npz`` arrays, or folders (their image
            files, sorted; class sub-folders give labels).
        size: Resize everything to this ``(H, W)`` (or square int); required if sizes differ.
        channels: Force 1 or 3 channels; default 3 if any input is colour, else 1.

    Returns:
        Images in input order; ``names`` are file stems (``stem_0000``... for arrays), made
        unique; labels only when every input carries labels over the same classes.
    """
    size, channels = parse_size(size), check_channels(channels)
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if not paths:
        raise AekitError("expected at least one image file, folder or array file, got none")
    # ("files", (paths, labels, class_names)) for image files, ("set", (path, ImageSet)) for arrays
    parts: list[tuple[str, tuple]] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            parts.append(("files", scan_folder(p)))
        elif p.suffix.lower() in (".npy", ".npz"):
            sets = load_array_file(p)
            if "all" not in sets:
                raise AekitError(
                    f"expected one image array (x or images) in {p}, got split arrays "
                    f"{', '.join('x_' + k for k in sets)}; save the images to use as x"
                )
            parts.append(("set", (p, sets["all"])))
        elif is_image_file(p) or (p.is_file() and p.suffix.lower() not in (".npy", ".npz")):
            parts.append(("files", ([p], None, None)))
        else:
            raise AekitError(
                f"expected an image file, a folder or a .npy/.npz file, got {p} (no such path)"
            )
    decoded = [decode_many(value[0]) if kind == "files" else None for kind, value in parts]
    if channels is None:
        colour = any(a.ndim == 3 for d in decoded if d for a in d) or any(
            value[1].images.shape[-1] == 3 for kind, value in parts if kind == "set"
        )
        channels = 3 if colour else 1
    if size is None:
        sizes, where = [], []
        for (kind, value), d in zip(parts, decoded, strict=True):
            if kind == "files":
                sizes += [a.shape[:2] for a in d]
                where += [str(f) for f in value[0]]
            else:
                sizes.append(value[1].shape[:2])
                where.append(str(value[0]))
        check_same_size(sizes, where)
    sets = []
    for (kind, value), d in zip(parts, decoded, strict=True):
        if kind == "files":
            files, labels, class_names = value
            x = stack_images(d, files, size=size, channels=channels)
            sets.append(ImageSet(x, labels, class_names, tuple(f.stem for f in files)))
        else:
            s = value[1]
            x = resize_images(to_channels(s.images, channels), size)
            sets.append(ImageSet(x, s.labels, s.class_names, s.names))
    out = concat_image_sets(sets)
    return ImageSet(out.images, out.labels, out.class_names, unique_names(out.names))


def write_image(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write one image atomically (temp file in the same folder, then ``os.replace``).

    Args:
        path: Destination; the suffix picks the format (``.png``, ``.jpg``/``.jpeg``, ``.bmp``,
            ``.webp``, ``.tif``). Missing parent folders are created.
        image: ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)``; uint8 0..255, or float in [0, 1]
            (rounded to uint8).
    """
    path = Path(path)
    fmt = _WRITE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise AekitError(
            f"expected an image file name ending in {', '.join(_WRITE_FORMATS)}, got {path.name!r}"
        )
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[-1] != 3) or 0 in a.shape:
        raise AekitError(f"expected an (H, W), (H, W, 1) or (H, W, 3) image, got shape {a.shape}")
    if np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all() or a.min() < 0 or a.max() > 1:
            raise AekitError(
                "expected float pixels in [0, 1], got values outside it (or NaN); clip first"
            )
        a = as_uint8(a)
    elif a.dtype != np.uint8:
        raise AekitError(f"expected a uint8 or float [0, 1] image, got dtype {a.dtype}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            options = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
            Image.fromarray(np.ascontiguousarray(a)).save(f, format=fmt, **options)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
