"""Interpolation between two images through the latent space, as a strip of decoded images.

``linear`` walks the straight line ``(1 − t)·z_a + t·z_b``. ``slerp`` walks the great circle
(White 2016, "Sampling Generative Networks"): under a Gaussian prior, points on the straight
line between two typical codes have a smaller norm than either, i.e. sit where the prior puts
little mass; the spherical path keeps the norm near that of the end points.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import AekitError
from ..model import Model

METHODS = ("linear", "slerp")


def interpolate_codes(z_a: torch.Tensor, z_b: torch.Tensor, steps: int, method: str = "linear") -> torch.Tensor:
    """``steps`` codes from ``z_a`` to ``z_b`` inclusive, (steps, k).

    Args:
        z_a, z_b: (k,) end points.
        steps: number of codes, ≥ 2 (both end points included).
        method: ``linear`` or ``slerp``; slerp falls back to linear for (anti)parallel codes.
    """
    if method not in METHODS:
        raise AekitError(f"expected an interpolation method in {', '.join(METHODS)}; got {method!r}")
    if int(steps) < 2:
        raise AekitError(f"expected at least 2 steps (the two end points); got {steps!r}")
    z_a, z_b = z_a.double().flatten(), z_b.double().flatten()
    t = torch.linspace(0.0, 1.0, int(steps), dtype=torch.float64)[:, None]
    if method == "slerp":
        cos = torch.dot(z_a, z_b) / (z_a.norm() * z_b.norm()).clamp_min(1e-12)
        omega = torch.arccos(cos.clamp(-1.0, 1.0))
        if float(torch.sin(omega)) > 1e-6:
            s = torch.sin(omega)
            return (torch.sin((1 - t) * omega) / s * z_a + torch.sin(t * omega) / s * z_b).float()
    return ((1 - t) * z_a + t * z_b).float()


def interpolate(model: Model, image_a: Any, image_b: Any, *, steps: int = 10, method: str = "linear",
                as_float: bool = False) -> np.ndarray:
    """Decoded images along the path between the codes of two images, (steps, H, W, C).

    The images are as users have them (uint8 or [0, 1] floats, one image each). The first
    and last outputs are the reconstructions of the two inputs.
    """
    codes = model.encode(np.stack([one_image(model, image_a), one_image(model, image_b)]))
    path = interpolate_codes(torch.as_tensor(codes[0]), torch.as_tensor(codes[1]), steps, method)
    return model.decode(path.numpy(), as_float=as_float)


def one_image(model: Model, image: Any) -> np.ndarray:
    a = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    c, h, w = model.input_shape
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0]
    if a.ndim == 3 and a.shape[0] == c and a.shape[-1] != c:  # CHW -> HWC
        a = np.moveaxis(a, 0, -1)
    if a.ndim == 2 and c == 1:
        a = a[..., None]
    if a.shape != (h, w, c):
        raise AekitError(f"expected one {h}x{w} image with {c} channel(s); got an array of shape {a.shape}")
    return a


# --------------------------------------------------------------------- report
def pick_pair(test: Any) -> tuple[int, int]:
    """Two test images of different classes (the first of the two smallest labels), else 0 and 1."""
    labels = getattr(test, "labels", None)
    if labels is not None and len(np.unique(labels)) >= 2:
        first, second = np.unique(labels)[:2]
        return int(np.flatnonzero(labels == first)[0]), int(np.flatnonzero(labels == second)[0])
    return 0, min(1, len(test) - 1)
