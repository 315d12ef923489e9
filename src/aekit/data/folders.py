"""Image files: decode them and turn a folder (optionally one sub-folder per class) into images.

Layouts accepted by :func:`load_folder`:

* ``folder/*.png``: unlabelled images;
* ``folder/<class>/**/*.png``: one sub-folder per class, sorted names -> labels 0, 1, ...

Hidden files and folders are skipped, as are files that are not images (a README next to the
images is fine). A file with an image suffix that does not decode is an error naming the file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from aekit.data.convert import resize_image, to_channels
from aekit.data.imageset import ImageSet
from aekit.errors import AekitError

IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm"}
)
_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N", "I")


def is_image_file(path: Path) -> bool:
    """Whether ``path`` is a non-hidden file with an image suffix."""
    suffix_ok = path.suffix.lower() in IMAGE_SUFFIXES
    return suffix_ok and not path.name.startswith(".") and path.is_file()


def decode_image(path: str | os.PathLike) -> np.ndarray:
    """Decode one image file to uint8 ``(H, W)`` (grayscale) or ``(H, W, 3)`` (colour).

    Palette and RGBA images become RGB (alpha is dropped); 16-bit images are scaled to 8 bits.
    An RGB file whose three channels are identical counts as grayscale, so MNIST digits saved
    as RGB PNGs still load as one channel.

    Args:
        path: The image file.

    Raises:
        AekitError: The file is missing, truncated or not an image.
    """
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in _SIXTEEN_BIT:
                wide = np.asarray(im).astype(np.int64)
                a = ((np.clip(wide, 0, 65535) * 255 + 32767) // 65535).astype(np.uint8)
            elif im.mode in ("1", "L", "LA", "F"):
                a = np.asarray(im.convert("L"))
            else:
                a = np.asarray(im.convert("RGB"))
    except FileNotFoundError as e:
        raise AekitError(f"expected an image file at {path}, got no such file") from e
    except Exception as e:  # noqa: BLE001 - Pillow raises many types on corrupt data; one message
        raise AekitError(
            f"expected a readable image (PNG, JPEG, BMP, ...) at {path}, got a corrupt or "
            f"unsupported file ({type(e).__name__}: {e}); re-export it or remove it"
        ) from e
    if a.ndim == 3 and (a[..., 0] == a[..., 1]).all() and (a[..., 1] == a[..., 2]).all():
        a = a[..., 0]
    return np.ascontiguousarray(a)


def decode_many(paths: Sequence[Path]) -> list[np.ndarray]:
    """Decode files in parallel threads (Pillow releases the GIL while decoding), in order."""
    if len(paths) < 64:
        return [decode_image(p) for p in paths]
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        return list(pool.map(decode_image, paths))


def stack_images(
    decoded: Sequence[np.ndarray],
    paths: Sequence[Path],
    *,
    size: tuple[int, int] | None = None,
    channels: int | None = None,
) -> np.ndarray:
    """Stack decoded images into ``(N, H, W, C)`` uint8, converting channels and size.

    Args:
        decoded: Outputs of :func:`decode_image`.
        paths: The file of each image, for error messages.
        size: Target ``(H, W)``; required when the images differ in size.
        channels: 1 or 3; ``None`` means 3 if any image is colour, else 1.
    """
    if channels is None:
        channels = 3 if any(a.ndim == 3 for a in decoded) else 1
    if size is None:
        check_same_size([a.shape[:2] for a in decoded], [str(p) for p in paths])
    out = []
    for a in decoded:
        a = to_channels(a.reshape(1, *a.shape[:2], -1), channels)[0]
        out.append(a if size is None else resize_image(a, size))
    return np.stack(out)


def check_same_size(sizes: Sequence[tuple[int, int]], where: Sequence[str]) -> None:
    """Raise a clear error naming two inputs whose ``(H, W)`` differ."""
    first = sizes[0]
    for hw, name in zip(sizes, where, strict=True):
        if tuple(hw) != tuple(first):
            raise AekitError(
                f"expected images of one size, got {first[0]}x{first[1]} ({where[0]}) and "
                f"{hw[0]}x{hw[1]} ({name}); pass image_size (--image-size H or H,W) to resize "
                "them all"
            )


def scan_folder(folder: Path) -> tuple[list[Path], np.ndarray | None, tuple[str, ...] | None]:
    """List a folder's image files and, for the class-folder layout, their labels.

    Args:
        folder: The folder.

    Returns:
        ``(files, labels, class_names)``; labels and class names are ``None`` for a flat folder.
    """
    if not folder.is_dir():
        what = "a file" if folder.exists() else "no such folder"
        raise AekitError(f"expected a folder of images at {folder}, got {what}")
    entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    files = [p for p in entries if is_image_file(p)]
    classes = {}
    for d in (p for p in entries if p.is_dir()):
        inside = sorted(
            p for p in d.rglob("*")
            if is_image_file(p) and not any(part.startswith(".") for part in p.relative_to(d).parts)
        )
        if inside:
            classes[d.name] = inside
    if files and classes:
        raise AekitError(
            f"expected either image files or one sub-folder per class in {folder}, got both "
            f"({len(files)} files such as {files[0].name}, and sub-folders {', '.join(classes)}); "
            "move the loose files into a class folder or elsewhere"
        )
    if classes:
        names = tuple(classes)
        paths = [p for c in names for p in classes[c]]
        labels = np.repeat(np.arange(len(names), dtype=np.int64), [len(classes[c]) for c in names])
        return paths, labels, names
    if not files:
        others = [p.name for p in entries if p.is_file()]
        extra = f" (it holds {len(others)} other files, e.g. {others[0]})" if others else ""
        raise AekitError(
            f"expected image files ({', '.join(sorted(IMAGE_SUFFIXES))}) or one sub-folder of "
            f"images per class in {folder}, got none{extra}"
        )
    return files, None, None


def load_folder(
    folder: str | os.PathLike, *, size: tuple[int, int] | None = None, channels: int | None = None
) -> ImageSet:
    """Read every image in a folder (see the module docstring for the layouts).

    Args:
        folder: The folder.
        size: Target ``(H, W)``; required when the images differ in size.
        channels: 1 or 3; ``None`` means 3 if any image is colour, else 1.
    """
    paths, labels, class_names = scan_folder(Path(folder))
    images = stack_images(decode_many(paths), paths, size=size, channels=channels)
    return ImageSet(images, labels, class_names, unique_names([p.stem for p in paths]))


def unique_names(names: Sequence[str]) -> tuple[str, ...]:
    """Make names unique by suffixing repeats with ``-2``, ``-3``... (first one unchanged)."""
    used: set[str] = set()
    out = []
    for n in names:
        candidate, k = n, 1
        while candidate in used:
            k += 1
            candidate = f"{n}-{k}"
        used.add(candidate)
        out.append(candidate)
    return tuple(out)
