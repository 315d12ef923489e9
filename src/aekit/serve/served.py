"""What the server holds per model: the model, and the test images and slider ranges the viewer uses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data.pixels import as_uint8
from ..errors import AekitError
from ..model import Model


@dataclass
class Served:
    """A model as the server holds it, with the test images the viewer steps through."""

    name: str
    model: Model
    test_images: np.ndarray | None = None  # (N, H, W, C) uint8
    test_labels: np.ndarray | None = None
    test_note: str = ""
    latent_range: list[list[float]] | None = None


def load_test_images(model: Model, count: int, data_dir: str | None = None) -> tuple[Any, Any, str]:
    """The first ``count`` test images of the model's dataset, as uint8, or ``None`` and why not."""
    if count <= 0:
        return None, None, "test images turned off"
    from ..data import load_split

    data = model.config.data
    size = None if data.image_size is None else tuple(data.image_size) * (2 if len(data.image_size) == 1 else 1)
    try:
        test = load_split(data.dataset, "test", data_dir=data_dir or data.data_dir, seed=model.config.train.seed,
                          val_fraction=data.val_fraction, test_fraction=data.test_fraction, image_size=size,
                          channels=data.image_channels, download=False, progress=False)
    except (AekitError, OSError) as err:
        return None, None, f"no test images of {data.dataset!r}: {err}"
    images = as_uint8(test.images[:count])
    c, h, w = model.input_shape
    if images.shape[1:] != (h, w, c):
        return None, None, f"the test images are {images.shape[1:]}, the model takes {(h, w, c)}"
    labels = None if test.labels is None else np.asarray(test.labels[:count])
    return images, labels, f"{len(images)} test images of {data.dataset}"


def latent_range(model: Model, images: np.ndarray | None, max_dim: int = 64) -> list[list[float]] | None:
    """Slider ranges per latent dimension: ±3 for a VAE, else the test codes' 1-99% range, widened."""
    if model.latent_dim > max_dim:
        return None
    if model.module.latent.prior is not None:
        return [[-3.0, 3.0]] * model.latent_dim
    if images is None or len(images) < 10:
        return None
    codes = np.asarray(model.encode(images))
    low, high = np.percentile(codes, 1, axis=0), np.percentile(codes, 99, axis=0)
    pad = 0.15 * np.maximum(high - low, 1e-3)
    return [[float(a), float(b)] for a, b in zip(low - pad, high + pad, strict=True)]
