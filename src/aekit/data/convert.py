"""Resize images and convert between grayscale and RGB.

Training data and inference inputs must go through the *same* resize and channel conversion, or a
model sees different pixels at inference than it was trained on. Both paths therefore call these
two functions.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from aekit.errors import AekitError


def parse_size(size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    """Normalise an ``image_size`` argument to ``(H, W)``.

    Args:
        size: ``None``, one int (square) or ``(H, W)``.
    """
    if size is None:
        return None
    pair = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
    if len(pair) != 2 or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 for v in pair
    ):
        raise AekitError(f"expected image_size as a positive int or (H, W), got {size!r}")
    return int(pair[0]), int(pair[1])


def check_channels(channels: int | None) -> int | None:
    """Validate a ``channels`` argument (``None``, 1 or 3)."""
    if channels not in (None, 1, 3) or isinstance(channels, bool):
        raise AekitError(
            f"expected channels to be 1 (grayscale), 3 (RGB) or None, got {channels!r}"
        )
    return channels


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize one ``(H, W)`` or ``(H, W, C)`` uint8/float32 image to ``size = (H, W)``.

    Lanczos when shrinking (it low-passes, so no aliasing); bicubic when enlarging (Lanczos'
    ringing shows on the sharp strokes of digit-like images).

    Args:
        image: The image; uint8 0..255 or float32 0..1.
        size: Target ``(H, W)``.
    """
    h, w = size
    if image.shape[:2] == (h, w):
        return image
    shrink = h * w < image.shape[0] * image.shape[1]
    resample = Image.Resampling.LANCZOS if shrink else Image.Resampling.BICUBIC
    if image.dtype == np.uint8 and (image.ndim == 2 or image.shape[2] in (1, 3)):
        squeezed = image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image
        out = np.asarray(Image.fromarray(squeezed).resize((w, h), resample))
        return out.reshape(h, w, *image.shape[2:])
    # Floats: resize each channel in PIL's 32-bit float mode, then clip the filter's overshoot.
    planes = image[..., None] if image.ndim == 2 else image
    out = np.stack(
        [np.asarray(Image.fromarray(np.ascontiguousarray(planes[..., c], dtype=np.float32))
                    .resize((w, h), resample)) for c in range(planes.shape[2])],
        axis=-1,
    )
    out = np.clip(out, 0.0, 1.0).astype(np.float32)
    return out[..., 0] if image.ndim == 2 else out


def resize_images(images: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """Resize a batch ``(N, H, W, C)`` to ``size``; a no-op when ``size`` is ``None`` or equal.

    Args:
        images: The batch.
        size: Target ``(H, W)`` or ``None``.
    """
    if size is None or images.shape[1:3] == tuple(size):
        return images
    return np.stack([resize_image(im, size) for im in images]) if len(images) else (
        np.zeros((0, *size, images.shape[3]), dtype=images.dtype)
    )


def to_channels(images: np.ndarray, channels: int | None) -> np.ndarray:
    """Convert ``(N, H, W, C)`` images to ``channels`` (1 or 3); a no-op for ``None`` or equal.

    RGB -> gray uses ITU-R 601-2 luma with Pillow's integer rounding, so a file converted here
    and one converted by ``Image.convert("L")`` agree exactly.

    Args:
        images: The batch, C = 1 or 3.
        channels: 1, 3 or ``None``.
    """
    c = images.shape[-1]
    if channels is None or channels == c:
        return images
    if channels == 3:
        return np.repeat(images, 3, axis=-1)
    if images.dtype == np.uint8:
        rgb = images.astype(np.uint32)
        luma = (rgb[..., 0] * 19595 + rgb[..., 1] * 38470 + rgb[..., 2] * 7471 + 0x8000) >> 16
        return luma.astype(np.uint8)[..., None]
    weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.clip(images @ weights, 0.0, 1.0)[..., None].astype(np.float32)
