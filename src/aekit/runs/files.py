"""Reconstruct image files through a saved model: images in, same-size same-mode images out."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..data import ImageSet, read_images, write_image
from ..errors import AekitError
from ..model import Model


def read_inputs(model: Model, paths: Sequence[str | os.PathLike]) -> ImageSet:
    """Read image files / folders / arrays and check they fit the model's recorded input.

    Raises:
        AekitError: wrong size or channel count, naming what the model expects.
    """
    images = read_images(list(paths))
    h, w, c = images.shape
    mc, mh, mw = model.input_shape
    if c == 1 and mc == 3:
        # Grayscale files (or RGB files whose channels are all equal) are valid RGB input.
        images = ImageSet(np.repeat(images.images, 3, axis=-1), images.labels, images.class_names, images.names)
        c = 3
    if (h, w) != (mh, mw) or c != mc:
        kind = {1: "grayscale", 3: "RGB"}
        raise AekitError(
            f"this model takes {mh}x{mw} {kind.get(mc, f'{mc}-channel')} images; got {h}x{w} "
            f"{kind.get(c, f'{c}-channel')} (e.g. {images.names[0] if images.names else paths[0]}); "
            "resize or convert the images first"
        )
    return images


def write_outputs(images: ImageSet, outputs, out_dir: str | os.PathLike, suffix: str = "") -> list[Path]:
    """Write one PNG per image, named after its input (``digit.png`` -> ``out/digit{suffix}.png``)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = images.names or tuple(f"image_{i:05d}" for i in range(len(images)))
    written = []
    for name, image in zip(names, outputs, strict=True):
        path = out_dir / f"{name}{suffix}.png"
        write_image(path, image)
        written.append(path)
    return written


def reconstruct_files(model: Model, paths: Sequence[str | os.PathLike], out_dir: str | os.PathLike) -> list[Path]:
    """Reconstruct every input image and write the results as PNGs into ``out_dir``."""
    images = read_inputs(model, paths)
    return write_outputs(images, model.reconstruct(images.images), out_dir)


def free_name(folder: Path, stem: str, taken: set[str]) -> Path:
    """``folder/stem.png``, numbered if an output already uses that name."""
    name, n = stem, 1
    while name in taken:
        name, n = f"{stem}_{n}", n + 1
    return folder / f"{name}.png"
