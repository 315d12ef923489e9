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

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data import ImageSet
from ..errors import AekitError
from ..fileio import atomic_write_json
from ..io import Model
from ..metrics import mse_per_sample, psnr_from_mse, ssim
from ..objectives.corruptions import corrupt_images, parse_corruptions
from ..viz import comparison_grid, save_png
from .evaluate import reconstruct_unit, to_unit
from .reconstruct import read_inputs, write_outputs


def denoise(model: Model, images: Any, *, batch_size: int = 1024) -> Any:
    """Clean ``images`` (as users have them: uint8 or [0, 1] floats, any layout); same space back."""
    return model.reconstruct(images, batch_size=batch_size)


def quality(clean: torch.Tensor, images: torch.Tensor) -> dict[str, Any]:
    """PSNR (of the mean MSE, and mean per image), SSIM and MSE of ``images`` against ``clean``.

    Both are (N, C, H, W) floats in [0, 1]. Per-image values come back as lists too.
    """
    mse = mse_per_sample(clean, images).double()
    structural = torch.cat([ssim(clean[i:i + 2048], images[i:i + 2048]) for i in range(0, len(clean), 2048)])
    per_image_psnr = psnr_from_mse(mse.clamp_min(1e-12))
    return {
        "mse": float(mse.mean()),
        "psnr": float(psnr_from_mse(float(mse.mean()))),
        "psnr_mean_per_image": float(per_image_psnr.mean()),
        "ssim": float(structural.double().mean()),
        "per_image": {"psnr": per_image_psnr.tolist(), "ssim": structural.double().tolist()},
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


def free_name(folder: Path, stem: str, taken: set[str]) -> Path:
    """``folder/stem.png``, numbered if an output already uses that name."""
    name, n = stem, 1
    while name in taken:
        name, n = f"{stem}_{n}", n + 1
    return folder / f"{name}.png"


def denoise_files(
    model: Model, paths: Sequence[str | os.PathLike], out_dir: str | os.PathLike, *,
    noise: str | Sequence[str] | None = None, reference: Sequence[str | os.PathLike] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Denoise image files and write ``out_dir/<name>.png`` (and ``<name>_noisy.png`` with ``noise``).

    Args:
        model: a trained model (best: one trained with a corruption).
        paths: image files, folders or ``.npy``/``.npz`` arrays.
        out_dir: where the PNGs and ``metrics.json`` go.
        noise: corrupt the inputs first (they are then the clean reference), e.g. ``"gaussian:0.5"``.
        reference: clean versions of the inputs, in the same order, to score against.
        seed: seeds the noise.

    Returns:
        ``{"written": [...], "comparison": path, "metrics": {...}}``. The comparison picture shows
        the first 16 images (clean, noisy, denoised; or input, denoised). Metrics (PSNR / SSIM of
        the input and of the output against the clean images, overall and per image) only when
        a reference exists.
    """
    if noise and reference:
        raise AekitError("give either --noise (the inputs are clean and get corrupted) or --reference "
                         "(clean versions of noisy inputs), not both")
    images = read_inputs(model, paths)
    clean = None
    if noise:
        clean = to_unit(images.images)
        noisy_images = corrupt_images(images.images, noise, seed=seed)
        images = ImageSet(noisy_images, images.labels, images.class_names, images.names)
    elif reference:
        clean = to_unit(read_inputs(model, reference).images)
        if len(clean) != len(images):
            raise AekitError(f"expected one reference image per input ({len(images)}); got {len(clean)}")
    outputs = model.reconstruct(images.images)
    written = write_outputs(images, outputs, out_dir)
    if noise:
        written += write_outputs(images, images.images, out_dir, suffix="_noisy")
    rows = [images.images[:16], outputs[:16]]
    labels = ["noisy" if clean is not None else "input", "denoised"]
    if clean is not None:
        rows.insert(0, clean[:16].permute(0, 2, 3, 1).numpy())
        labels.insert(0, "clean")
    picture = free_name(Path(out_dir), "comparison", {Path(p).stem for p in written})
    save_png(picture, comparison_grid(rows, labels))
    result: dict[str, Any] = {"written": [str(p) for p in written], "comparison": str(picture)}
    if clean is not None:
        before, after = quality(clean, to_unit(images.images)), quality(clean, to_unit(outputs))
        names = images.names or tuple(f"image_{i:05d}" for i in range(len(images)))
        result["metrics"] = {
            "noise": list(parse_corruptions(noise).specs) if noise else None,
            "input": {k: v for k, v in before.items() if k != "per_image"},
            "output": {k: v for k, v in after.items() if k != "per_image"},
            "per_image": [
                {"name": n, "input_psnr": bp, "output_psnr": ap, "input_ssim": bs, "output_ssim": as_}
                for n, bp, ap, bs, as_ in zip(names, before["per_image"]["psnr"], after["per_image"]["psnr"],
                                              before["per_image"]["ssim"], after["per_image"]["ssim"], strict=True)
            ],
        }
        atomic_write_json(Path(out_dir) / "metrics.json", result["metrics"])
    return result
