"""Inpainting with a trained autoencoder: fill a masked region, keep every known pixel.

The masked pixels are erased (set to 0, as the ``blocks`` corruption does in training), the
image goes through the model, and the output replaces only the masked pixels; the known pixels
come back exactly as they were. With ``iterations > 1`` the filled image is fed back in, so the
model refines its own guess (useful for models not trained on occlusions).

A mask is a boolean ``(H, W)`` array (True = missing), one per image or shared; from the CLI it
is a PNG (white / non-zero = missing) or a box ``x,y,w,h`` in pixels. Quality is measured on
the masked pixels only: the known ones are copied, so counting them would flatter every method.
The baseline to beat is filling the hole with the mean training image.

Models trained with ``--noise blocks:6-14`` (random square holes, ``conv-denoising`` or
``denoising`` preset) are the ones to use.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import AekitError
from ..metrics import psnr_from_mse
from ..model import Model
from ..objectives.corruptions import parse_corruption
from .evaluate import reconstruct_unit


def parse_box(text: str) -> tuple[int, int, int, int]:
    """``"x,y,w,h"`` (pixels, top-left corner and size) -> a tuple of four ints."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 4 or values[2] < 1 or values[3] < 1 or values[0] < 0 or values[1] < 0:
        raise AekitError(f"expected a box as x,y,w,h in pixels (x, y ≥ 0; w, h ≥ 1), e.g. 9,9,10,10; got {text!r}")
    return values  # type: ignore[return-value]


def box_mask(height: int, width: int, box: tuple[int, int, int, int] | str) -> np.ndarray:
    """(H, W) boolean mask, True inside ``box = (x, y, w, h)``; the box must overlap the image."""
    x, y, w, h = parse_box(box) if isinstance(box, str) else box
    if x >= width or y >= height:
        raise AekitError(f"box {x},{y},{w},{h} starts outside the {width}x{height} image")
    mask = np.zeros((height, width), dtype=bool)
    mask[y:y + h, x:x + w] = True
    return mask


def mask_tensor(mask: Any, n: int, height: int, width: int) -> torch.Tensor:
    m = torch.as_tensor(np.asarray(mask)).bool()
    if m.ndim == 2:
        m = m.expand(n, height, width)
    if m.shape != (n, height, width):
        raise AekitError(f"expected a mask of shape ({height}, {width}) or ({n}, {height}, {width}); "
                         f"got {tuple(m.shape)}")
    if not bool(m.any()):
        raise AekitError("the mask marks no pixel as missing; nothing to inpaint")
    return m[:, None]  # (N, 1, H, W): whole pixels, every channel


@torch.no_grad()
def inpaint_unit(model: Model, x_unit: torch.Tensor, mask: torch.Tensor, *, iterations: int = 1,
                 batch_size: int = 1024) -> torch.Tensor:
    """Fill ``mask`` (N, 1, H, W) in ``x_unit`` (N, C, H, W, in [0, 1]); known pixels kept exactly."""
    if iterations < 1:
        raise AekitError(f"expected iterations ≥ 1; got {iterations}")
    known = x_unit.masked_fill(mask, 0.0)
    filled = known
    for _ in range(iterations):
        out = reconstruct_unit(model, filled, batch_size)
        filled = torch.where(mask, out, x_unit)
    return filled


def inpaint(model: Model, images: Any, mask: Any, *, iterations: int = 1) -> Any:
    """Fill the masked pixels of ``images`` (as users have them: uint8 or [0, 1] floats, any layout).

    Args:
        model: a trained model.
        images: one image or a batch; the values under the mask are ignored.
        mask: (H, W) or (N, H, W) booleans, True where pixels are missing.
        iterations: passes through the model, each refining the fill.

    Returns:
        Images in the input's dtype, layout and array type; unmasked pixels unchanged.
    """
    prep = model.preprocessing
    x_model, space = prep.to_model(images)
    x = prep.model_to_unit(x_model)
    n, _, h, w = x.shape
    filled = inpaint_unit(model, x, mask_tensor(mask, n, h, w), iterations=iterations)
    return prep.from_model(prep.batch_to_model(filled), space)


def masked_quality(clean: torch.Tensor, filled: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
    """MSE and PSNR over the masked pixels only (all channels), pooled over the set."""
    m = mask.expand_as(clean)
    err = (clean - filled).pow(2)[m].double()
    mse = float(err.mean())
    return {"masked_mse": mse, "masked_psnr": float(psnr_from_mse(mse)), "masked_pixels": int(m.sum())}


def mean_image_fill(train_unit_mean: torch.Tensor, x_unit: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The baseline: masked pixels take the mean training image's values."""
    return torch.where(mask, train_unit_mean.expand_as(x_unit), x_unit)


def random_block_masks(n: int, height: int, width: int, size: int | str = 10, seed: int = 0) -> torch.Tensor:
    """(N, 1, H, W) masks of one random ``size x size`` block per image (``size`` may be ``"6-14"``)."""
    generator = torch.Generator().manual_seed(seed)
    return parse_corruption(f"blocks:{size}").block_mask((n, 1, height, width), generator)


__all__ = ["box_mask", "inpaint", "inpaint_unit", "mask_tensor", "masked_quality",
           "mean_image_fill", "parse_box", "random_block_masks"]
