"""Pixels: uint8 0..255 <-> float intensities in [0, 1], with one rounding rule for the toolkit.

``as_unit`` divides uint8 pixels by 255 in float32; ``as_uint8`` clips floats to [0, 1],
multiplies by 255 in their own precision and rounds half to even (``np.round`` and
``torch.round`` both do: 127.5 -> 128, 2.5 -> 2). Every place that turns one space into the
other (files, the server, pictures, evaluation) calls these two, so an image written to disk,
sent by the server or drawn in a report has the same pixels as ``Model.reconstruct``'s uint8
output.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from aekit.errors import AekitError

__all__ = ["as_uint8", "as_unit"]

_UINT8_MAX = 255


def as_unit(pixels: Any) -> Any:
    """uint8 0..255 -> float32 in [0, 1]; float input comes back as float32 unchanged.

    Args:
        pixels: A NumPy array (or array-like) or a torch tensor, any shape.

    Returns:
        The same kind (tensor in, tensor out) in float32. A float32 input is returned as is
        (no copy).
    """
    if isinstance(pixels, torch.Tensor):
        return pixels.float().div_(_UINT8_MAX) if pixels.dtype == torch.uint8 else pixels.float()
    a = np.asarray(pixels)
    if a.dtype == np.uint8:
        return a.astype(np.float32) / np.float32(_UINT8_MAX)
    return a.astype(np.float32, copy=False)


def as_uint8(unit: Any) -> Any:
    """Floats in [0, 1] -> uint8 0..255 (clipped, rounded half to even); uint8 passes through.

    Args:
        unit: A NumPy array (or array-like) or a torch tensor of floats, or uint8 pixels.

    Returns:
        The same kind (tensor in, tensor out) as uint8.

    Raises:
        AekitError: neither floats nor uint8 (other integers are ambiguous: 0..1 or 0..255?).
    """
    if isinstance(unit, torch.Tensor):
        if unit.dtype == torch.uint8:
            return unit
        if not unit.is_floating_point():
            raise AekitError(f"expected float intensities in [0, 1] or uint8 pixels, got dtype {unit.dtype}")
        return unit.clamp(0, 1).mul(_UINT8_MAX).round_().to(torch.uint8)
    a = np.asarray(unit)
    if a.dtype == np.uint8:
        return a
    if not np.issubdtype(a.dtype, np.floating):
        raise AekitError(f"expected float intensities in [0, 1] or uint8 pixels, got dtype {a.dtype}")
    return np.round(np.clip(a, 0, 1) * _UINT8_MAX).astype(np.uint8)
