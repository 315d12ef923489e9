"""Reconstruction terms: how far the decoder's output is from the clean target.

Every term returns a per-sample value (B,) so the caller chooses the batch reduction, and
sums over pixels when ``reduction == "sum"`` (the per-sample negative log-likelihood of VAEs)
or averages over them when ``"mean"`` (reads as a per-pixel error).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..models import AEOutput


def _reduce_pixels(per_pixel: torch.Tensor, reduction: str) -> torch.Tensor:
    flat = per_pixel.flatten(1)
    return flat.sum(1) if reduction == "sum" else flat.mean(1)


def mse(out: AEOutput, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Squared error per sample, (B,)."""
    return _reduce_pixels((out.x_hat.float() - target) ** 2, reduction)


def bce(out: AEOutput, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Binary cross-entropy per sample, (B,), from logits (stable, and safe under autocast).

    Targets are intensities in [0, 1], not only {0, 1}: this is the Bernoulli likelihood used by
    the classic autoencoder examples; its minimum is the target's entropy, not 0.
    """
    per_pixel = F.binary_cross_entropy_with_logits(out.logits.float(), target, reduction="none")
    return _reduce_pixels(per_pixel, reduction)


RECONSTRUCTION_TERMS = {"mse": mse, "bce": bce}
