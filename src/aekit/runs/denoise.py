"""``aekit denoise``: image files in, cleaned PNGs, a comparison picture and PSNR/SSIM out."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..data import ImageSet
from ..errors import AekitError
from ..fileio import atomic_write_json
from ..model import Model
from ..objectives.corruptions import corrupt_images, parse_corruptions
from ..tasks.denoise import quality
from ..tasks.evaluate import to_unit
from ..viz import comparison_grid, save_png
from .files import free_name, read_inputs, write_outputs


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
