"""Images from NumPy arrays and ``.npy`` / ``.npz`` files (always ``allow_pickle=False``).

Accepted pixel values are ``uint8`` 0..255 or floats in [0, 1]. Anything else (NaN, Inf, negative
or >1 floats, other integer types, the wrong number of dimensions) is an error rather than a guess,
because a wrong guess ("0..255 floats, divide by 255?") silently trains a different model.

``.npz`` keys:

* one set: images under ``x`` / ``images`` / ``X`` / ``data`` / ``arr_0``, labels under
  ``y`` / ``labels`` / ``Y`` / ``targets``; optionally ``split`` (0 = train, 1 = test, 2 = val);
* explicit splits: ``x_train``, ``x_test`` (and ``x_val``) with optional ``y_*``;
* optionally ``class_names`` (an array of strings).
"""

from __future__ import annotations

import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from aekit.data.imageset import ImageSet
from aekit.errors import AekitError

IMAGE_KEYS = ("x", "images", "X", "data", "arr_0")
LABEL_KEYS = ("y", "labels", "Y", "targets")
SPLIT_CODES = {0: "train", 1: "test", 2: "val"}


def as_images(array: np.ndarray, source: str = "array") -> np.ndarray:
    """Validate an image array and return it as ``(N, H, W, C)`` uint8 or float32.

    Shapes: ``(H, W)`` is one grayscale image; ``(H, W, 1|3)`` one image; other 3-D arrays are
    ``(N, H, W)``; 4-D arrays must be channel-last ``(N, H, W, 1|3)``.

    Args:
        array: The pixels.
        source: Where they came from, for error messages.
    """
    x = np.asarray(array)
    if x.ndim == 2:
        x = x[None, ..., None]
    elif x.ndim == 3:
        x = x[None] if x.shape[-1] in (1, 3) else x[..., None]
    elif x.ndim == 4 and x.shape[-1] not in (1, 3):
        hint = (
            "it looks channel-first: save it with np.moveaxis(x, 1, -1)"
            if x.shape[1] in (1, 3) else "use 1 (grayscale) or 3 (RGB) channels, e.g. x[..., :3]"
        )
        raise AekitError(
            f"expected channel-last images (N, H, W, C) with C = 1 or 3, got shape "
            f"{x.shape} in {source}; {hint}"
        )
    elif x.ndim != 4:
        raise AekitError(
            f"expected an image array of shape (H, W), (N, H, W) or (N, H, W, C), got "
            f"{x.ndim}-D shape {x.shape} in {source}"
        )
    if x.shape[0] == 0 or 0 in x.shape[1:3]:
        raise AekitError(f"expected at least one non-empty image, got shape {x.shape} in {source}")
    if x.dtype == np.uint8:
        return x
    if np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32, copy=False)
        bad = int(np.count_nonzero(~np.isfinite(x)))
        if bad:
            raise AekitError(
                f"expected finite pixel values, got {bad} NaN/Inf values in {source}; "
                "clean the array (e.g. np.nan_to_num) before using it"
            )
        lo, hi = float(x.min()), float(x.max())
        if lo < 0 or hi > 1:
            hint = "divide by 255" if hi <= 255 and lo >= 0 else "rescale it to [0, 1]"
            raise AekitError(
                f"expected float pixels in [0, 1], got values in [{lo:g}, {hi:g}] in {source}; "
                f"{hint} (or save uint8 0..255)"
            )
        return x
    raise AekitError(
        f"expected uint8 (0..255) or float (0..1) pixels, got dtype {x.dtype} in {source}; "
        "convert with x.astype(np.uint8) if the values are 0..255"
    )


def as_labels(array: np.ndarray, n: int, source: str = "array") -> np.ndarray:
    """Validate labels: ``n`` non-negative integers, returned as ``int64``.

    Args:
        array: The labels.
        n: Number of images they belong to.
        source: Where they came from, for error messages.
    """
    y = np.asarray(array)
    if y.ndim != 1 or len(y) != n:
        raise AekitError(
            f"expected one label per image, shape ({n},), got shape {y.shape} in {source}; "
            "the images and labels do not match"
        )
    if not (np.issubdtype(y.dtype, np.integer) or y.dtype == bool):
        raise AekitError(f"expected integer class labels, got dtype {y.dtype} in {source}")
    y = y.astype(np.int64)
    if n and y.min() < 0:
        raise AekitError(f"expected non-negative class labels, got {int(y.min())} in {source}")
    return y


def load_array_file(path: str | os.PathLike) -> dict[str, ImageSet]:
    """Read a ``.npy`` or ``.npz`` file into image sets keyed by split.

    Args:
        path: The file.

    Returns:
        ``{"all": ...}`` for one set, or ``{"train": ..., "test": ..., ["val": ...]}``.
    """
    path = Path(path)
    loaded = read_arrays(path)
    if isinstance(loaded, np.ndarray):
        x = as_images(loaded, str(path))
        return {"all": ImageSet(x, names=_names(path.stem, len(x)))}
    return arrays_to_sets(loaded, str(path))


def read_arrays(path: str | os.PathLike) -> np.ndarray | dict[str, np.ndarray]:
    """Load a ``.npy`` (one array) or ``.npz`` (key -> array) file without unpickling anything.

    Args:
        path: The file.
    """
    path = Path(path)
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            return loaded
        with loaded as npz:
            return {k: npz[k] for k in npz.files}
    except FileNotFoundError as e:
        raise AekitError(f"expected an array file at {path}, got no such file") from e
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise AekitError(
            f"expected a valid .npy/.npz file without pickled objects at {path}, got an "
            f"unreadable one ({e}); re-save it with np.save / np.savez"
        ) from e


def arrays_to_sets(arrays: dict[str, np.ndarray], source: str) -> dict[str, ImageSet]:
    """Turn the arrays of an ``.npz`` into image sets (see the module docstring for the keys).

    Args:
        arrays: Key -> array.
        source: Where they came from, for messages and per-sample names.
    """
    class_names = None
    if "class_names" in arrays:
        if arrays["class_names"].dtype.kind != "U":
            raise AekitError(f"expected class_names as an array of strings in {source}")
        class_names = tuple(str(c) for c in arrays["class_names"].tolist())
    stem = Path(source).stem

    def make(x_key: str, y_key: str | None) -> ImageSet:
        x = as_images(arrays[x_key], f"{source}[{x_key}]")
        y = None if y_key is None else as_labels(arrays[y_key], len(x), f"{source}[{y_key}]")
        return ImageSet(x, y, class_names if y is not None else None, _names(stem, len(x), x_key))

    if "x_train" in arrays or "x_test" in arrays:
        missing = [k for k in ("x_train", "x_test") if k not in arrays]
        if missing:
            raise AekitError(f"expected both x_train and x_test in {source}, got no {missing[0]}")
        return {
            s: make(f"x_{s}", f"y_{s}" if f"y_{s}" in arrays else None)
            for s in ("train", "val", "test") if f"x_{s}" in arrays
        }
    x_key = next((k for k in IMAGE_KEYS if k in arrays), None)
    if x_key is None:
        raise AekitError(
            f"expected an image array under one of {', '.join(IMAGE_KEYS)} (or x_train/x_test) "
            f"in {source}, got keys {sorted(arrays)}; re-save with "
            "np.savez(path, x=images, y=labels)"
        )
    y_key = next((k for k in LABEL_KEYS if k in arrays), None)
    full = make(x_key, y_key)
    if "split" not in arrays:
        return {"all": full}
    split = np.asarray(arrays["split"])
    if split.shape != (len(full),) or not np.isin(split, list(SPLIT_CODES)).all():
        raise AekitError(
            f"expected split as ({len(full)},) codes 0 = train, 1 = test, 2 = val, got "
            f"{split.dtype} {split.shape} with values {np.unique(split)[:5].tolist()} in {source}"
        )
    out = {name: full.subset(np.flatnonzero(split == code)) for code, name in SPLIT_CODES.items()}
    if len(out["train"]) == 0 or len(out["test"]) == 0:
        raise AekitError(
            f"expected both train (0) and test (1) rows in the split array of {source}, got "
            f"{len(out['train'])} train and {len(out['test'])} test rows"
        )
    return {k: v for k, v in out.items() if k != "val" or len(v)}


def _names(stem: str, n: int, key: str | None = None) -> tuple[str, ...]:
    """Per-sample names ``stem_0000`` (``stem_x_train_0000`` for split arrays)."""
    if key and key.startswith("x_"):
        stem = f"{stem}_{key}"
    width = max(4, len(str(n - 1)))
    return tuple(f"{stem}_{i:0{width}d}" for i in range(n))
