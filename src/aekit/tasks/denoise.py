"""Denoising with a trained autoencoder: noisy images in, cleaned images out, and how much better.

A denoiser here is any saved model, best one trained with a corruption (the ``denoising`` and
``conv-denoising`` presets): denoising is one pass through it, with the recorded preprocessing.
For demos and measurements, clean images can be corrupted first (:func:`corrupt_images`
specs such as ``gaussian:0.5``); then the clean images are the reference and PSNR / SSIM of
the noisy input and of the output say what the model bought.

Metrics follow :mod:`aekit.metrics`: intensities in [0, 1], PSNR of the mean MSE over the set
(plus the mean of per-image PSNRs), SSIM with an 11x11 Gaussian window.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..metrics import per_sample_scores, psnr_from_mse, summarize_scores
from ..model import Model
from ..objectives.corruptions import parse_corruptions
from .evaluate import MIN_MSE, reconstruct_unit, to_unit


def denoise(model: Model, images: Any, *, batch_size: int = 1024) -> Any:
    """Clean ``images`` (as users have them: uint8 or [0, 1] floats, any layout); same space back."""
    return model.reconstruct(images, batch_size=batch_size)


def quality(clean: torch.Tensor, images: torch.Tensor) -> dict[str, Any]:
    """PSNR (of the mean MSE, and mean per image), SSIM and MSE of ``images`` against ``clean``.

    Both are (N, C, H, W) floats in [0, 1]. Per-image values come back as lists too.
    """
    scores = per_sample_scores(clean, images, chunk_size=2048)
    means = summarize_scores(scores, min_mse=MIN_MSE)
    return {
        **{k: means[k] for k in ("mse", "psnr", "psnr_mean_per_image", "ssim")},
        "per_image": {"psnr": psnr_from_mse(scores["mse"].clamp_min(MIN_MSE)).tolist(),
                      "ssim": scores["ssim"].tolist()},
    }


@torch.no_grad()
def evaluate_denoising(model: Model, clean: Any, noise: str | Sequence[str], *, seed: int = 0,
                       batch_size: int = 1024) -> dict[str, Any]:
    """Corrupt ``clean`` images with ``noise``, denoise them, and score both against ``clean``.

    Noise is added to float intensities (no rounding to uint8) and clipped to [0, 1].

    Returns:
        ``{"noise", "n", "noisy": {mse, psnr, ssim, ...}, "model": {...}}`` (no per-image lists).
    """
    x = clean if isinstance(clean, torch.Tensor) else to_unit(np.asarray(clean))
    chain = parse_corruptions(noise)
    generator = torch.Generator().manual_seed(seed)
    noisy = torch.cat([chain(x[i:i + batch_size], generator) for i in range(0, len(x), batch_size)])
    out = reconstruct_unit(model, noisy, batch_size)
    strip = lambda q: {k: v for k, v in q.items() if k != "per_image"}  # noqa: E731
    return {"noise": list(chain.specs), "n": int(len(x)), "noisy": strip(quality(x, noisy)),
            "model": strip(quality(x, out))}
