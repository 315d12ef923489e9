"""``aekit compress`` / ``aekit decompress`` on files: images <-> ``.aek`` files."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..codec import SUFFIX, Codec, read_step
from ..data import write_image
from ..errors import AekitError
from ..fileio import atomic_write_bytes
from ..model import Model
from .files import read_inputs


def compress_files(model: Model, paths: Sequence[str | os.PathLike], out: str | os.PathLike, *,
                   step: float = 1.0, archive: bool = False) -> dict[str, Any]:
    """One ``.aek`` per image in folder ``out`` (named after the inputs), or one archive file ``out``."""
    codec = Codec(model, step)
    images = read_inputs(model, paths)
    out = Path(out)
    pixels = int(np.prod(images.shape[:2]))
    written: list[str] = []
    sizes: list[int] = []
    if archive:
        if out.suffix != SUFFIX:
            out = out.with_suffix(SUFFIX)
        data = codec.compress(images.images)
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(out, data)
        written, sizes = [str(out)], [len(data)]
    else:
        out.mkdir(parents=True, exist_ok=True)
        names = images.names or tuple(f"image_{i:05d}" for i in range(len(images)))
        for name, image in zip(names, images.images, strict=True):
            data = codec.compress(image[None])
            atomic_write_bytes(out / f"{name}{SUFFIX}", data)
            written.append(str(out / f"{name}{SUFFIX}"))
            sizes.append(len(data))
    total = sum(sizes)
    return {"written": written, "images": len(images), "bytes": total, "step": codec.step,
            "bits_per_pixel": 8.0 * total / (pixels * len(images))}


def decompress_files(model: Model, paths: Sequence[str | os.PathLike], out_dir: str | os.PathLike) -> dict[str, Any]:
    """Every ``.aek`` file (or folder of them) -> PNGs in ``out_dir`` (``stem.png``; ``stem_0000.png`` for archives)."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(p.glob(f"*{SUFFIX}"))
        elif p.is_file():
            files.append(p)
        else:
            raise AekitError(f"no such file or folder: {p}")
    if not files:
        raise AekitError(f"expected .aek files; found none in {', '.join(map(str, paths))}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    codecs: dict[float, Codec] = {}
    written = []
    for f in files:
        data = f.read_bytes()
        step = read_step(data, str(f))
        codec = codecs.setdefault(step, Codec(model, step))
        codes = codec.decompress_codes(data, str(f))
        images = model.decode(codes)
        if len(images) == 1:
            targets = [out_dir / f"{f.stem}.png"]
        else:
            width = max(4, len(str(len(images) - 1)))
            targets = [out_dir / f"{f.stem}_{i:0{width}d}.png" for i in range(len(images))]
        for target, image in zip(targets, images, strict=True):
            write_image(target, image)
            written.append(str(target))
    return {"written": written, "files": len(files)}
