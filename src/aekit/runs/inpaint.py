"""``aekit inpaint``: image files and a region (box or mask file) in, filled PNGs and scores out."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..data import read_images
from ..errors import AekitError
from ..fileio import atomic_write_json
from ..model import Model
from ..tasks.evaluate import to_unit
from ..tasks.inpaint import box_mask, inpaint_unit, mask_tensor, masked_quality, parse_box
from ..viz import comparison_grid, save_png
from .files import free_name, read_inputs, write_outputs


def read_mask(path: str | os.PathLike, height: int, width: int) -> np.ndarray:
    """A mask image (white / non-zero = missing; colour is averaged) as an (H, W) boolean array."""
    images = read_images([path], channels=1)
    if len(images) != 1:
        raise AekitError(f"expected one mask image in {path}; got {len(images)}")
    m = images.images[0, ..., 0]
    if m.shape != (height, width):
        raise AekitError(f"the mask {path} is {m.shape[1]}x{m.shape[0]}; expected {width}x{height} like the images")
    return m > (127 if m.dtype == np.uint8 else 0.5)


def inpaint_files(
    model: Model, paths: Sequence[str | os.PathLike], out_dir: str | os.PathLike, *,
    mask: str | os.PathLike | None = None, box: str | tuple[int, int, int, int] | None = None,
    reference: Sequence[str | os.PathLike] | None = None, iterations: int = 1,
) -> dict[str, Any]:
    """Inpaint image files; writes ``<name>.png`` (filled), ``<name>_masked.png`` (the input with the
    hole) and ``comparison.png`` (intact / masked / inpainted, first 16 images).

    Metrics on the masked pixels compare the fill with what the inputs held there, or with the
    ``reference`` images when given (the inputs' masked pixels may then be anything).
    """
    if (mask is None) == (box is None):
        raise AekitError("give exactly one of --mask MASK.png or --box x,y,w,h")
    images = read_inputs(model, paths)
    h, w, _ = images.shape
    m = read_mask(mask, h, w) if mask is not None else box_mask(h, w, box)  # type: ignore[arg-type]
    mt = mask_tensor(m, len(images), h, w)
    x = to_unit(images.images)
    clean = to_unit(read_inputs(model, reference).images) if reference else x
    if clean.shape != x.shape:
        raise AekitError(f"expected one reference image per input ({len(images)}); got {len(clean)}")
    filled = inpaint_unit(model, x, mt, iterations=iterations)
    as_images = lambda t: t.permute(0, 2, 3, 1).numpy()  # noqa: E731
    written = write_outputs(images, as_images(filled), out_dir)
    written += write_outputs(images, as_images(x.masked_fill(mt, 0.0)), out_dir, suffix="_masked")
    names = images.names or tuple(f"image_{i:05d}" for i in range(len(images)))
    picture = free_name(Path(out_dir), "comparison", {Path(p).stem for p in written})
    save_png(picture, comparison_grid([as_images(clean[:16]), as_images(x.masked_fill(mt, 0.0)[:16]),
                                       as_images(filled[:16])], ["intact", "masked", "inpainted"]))
    metrics = {
        "mask": str(mask) if mask is not None else None,
        "box": list(parse_box(box) if isinstance(box, str) else box) if box is not None else None,
        "iterations": iterations,
        "reference": "reference images" if reference else "the inputs' own pixels under the mask",
        **masked_quality(clean, filled, mt),
        "per_image": [{"name": n, **masked_quality(clean[i:i + 1], filled[i:i + 1], mt[i:i + 1])}
                      for i, n in enumerate(names)],
    }
    atomic_write_json(Path(out_dir) / "metrics.json", metrics)
    return {"written": [str(p) for p in written], "comparison": str(picture), "metrics": metrics}
