"""Image sources that stay on disk, for training data that does not fit in memory.

Two sources, read batch by batch by :class:`aekit.train.streaming.StreamingBatches`:

* :class:`NpyShards` — one or more ``.npy`` files of images ``(N, H, W[, C])``, memory-mapped:
  only the pages of the samples a batch reads are loaded, and the OS page cache shares them
  between processes (DDP ranks on one machine);
* :class:`ImageFiles` — image files decoded on demand (PNG, JPEG, ...).

Both expose ``len(source)``, ``source.image_shape`` ``(H, W, C)``, ``source.dtype``,
``source.nbytes`` (decoded size) and ``source.take(indices) -> (B, H, W, C)`` array.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import AekitError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


class NpyShards:
    """Images in ``.npy`` files, memory-mapped; indexed as one array of ``(N, H, W, C)``.

    Args:
        paths: ``.npy`` files (uint8 0..255 or float32 in [0, 1]), each ``(n, H, W)`` or
            ``(n, H, W, C)`` with C = 1 or 3; all with the same image shape and dtype.
    """

    def __init__(self, paths: Sequence[str | os.PathLike]):
        if not paths:
            raise AekitError("expected one or more .npy shards; got none")
        self.paths = [Path(p) for p in paths]
        self.arrays = []
        for path in self.paths:
            try:
                a = np.load(path, mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError) as err:
                raise AekitError(f"cannot memory-map {path} as a .npy array ({err}); expected an uncompressed "
                                 ".npy file (np.save), not .npz") from None
            if a.ndim == 3:
                a = a[..., None]
            if a.ndim != 4 or a.shape[-1] not in (1, 3):
                raise AekitError(f"expected images (N, H, W) or (N, H, W, 1|3) in {path}; got shape {a.shape}")
            if a.dtype not in (np.uint8, np.float32):
                raise AekitError(f"expected uint8 or float32 pixels in {path}; got {a.dtype}; "
                                 "convert with a.astype(np.uint8) or a.astype(np.float32)")
            self.arrays.append(a)
        first = self.arrays[0]
        for path, a in zip(self.paths, self.arrays, strict=True):
            if a.shape[1:] != first.shape[1:] or a.dtype != first.dtype:
                raise AekitError(f"expected every shard to hold {first.dtype} images of {first.shape[1:]} like "
                                 f"{self.paths[0].name}; {path.name} holds {a.dtype} {a.shape[1:]}")
        self.offsets = np.cumsum([0] + [len(a) for a in self.arrays])

    @classmethod
    def from_path(cls, path: str | os.PathLike) -> NpyShards:
        """A ``.npy`` file, or a folder whose ``*.npy`` files (sorted by name) are the shards."""
        path = Path(path)
        if path.is_dir():
            return cls(sorted(path.glob("*.npy")))
        if path.suffix == ".npy" and path.is_file():
            return cls([path])
        raise AekitError(f"expected a .npy file or a folder of .npy shards; got {path}")

    def __len__(self) -> int:
        return int(self.offsets[-1])

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.arrays[0].shape[1:])  # type: ignore[return-value]

    @property
    def dtype(self) -> np.dtype:
        return self.arrays[0].dtype

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.arrays)

    def take(self, indices: np.ndarray) -> np.ndarray:
        """Images at global ``indices``, in that order, as a fresh ``(B, H, W, C)`` array."""
        indices = np.asarray(indices, dtype=np.int64)
        out = np.empty((len(indices), *self.image_shape), dtype=self.arrays[0].dtype)
        shard = np.searchsorted(self.offsets, indices, side="right") - 1
        for s in np.unique(shard):
            where = np.nonzero(shard == s)[0]
            local = indices[where] - self.offsets[s]
            sort = np.argsort(local, kind="stable")  # read each shard front to back
            out[where[sort]] = self.arrays[s][local[sort]]
        return out

    def head(self, n: int) -> np.ndarray:
        return self.take(np.arange(min(n, len(self))))


class ImageFiles:
    """Image files decoded when a batch needs them; all must share one size (or give ``size``).

    Args:
        paths: the files.
        channels: 1 (grayscale) or 3 (RGB).
        size: resize every image to ``(H, W)``; ``None`` keeps the first file's size and
            rejects files of another size.
    """

    def __init__(self, paths: Sequence[str | os.PathLike], *, channels: int = 1,
                 size: tuple[int, int] | None = None):
        if not paths:
            raise AekitError("expected one or more image files; got none")
        if channels not in (1, 3):
            raise AekitError(f"channels: expected 1 or 3; got {channels!r}")
        self.paths = [str(p) for p in paths]
        self.channels = channels
        self.resize = size is not None
        self.size = tuple(size) if size is not None else self._read(self.paths[0], None).shape[:2]

    @classmethod
    def from_folder(cls, folder: str | os.PathLike, **kwargs) -> ImageFiles:
        folder = Path(folder)
        if not folder.is_dir():
            raise AekitError(f"expected a folder of images; got {folder}")
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise AekitError(f"expected image files ({', '.join(IMAGE_SUFFIXES)}) in {folder}; found none")
        return cls(files, **kwargs)

    def _read(self, path: str, size) -> np.ndarray:
        from PIL import Image

        try:
            with Image.open(path) as im:
                im = im.convert("L" if self.channels == 1 else "RGB")
                if size is not None and im.size != (size[1], size[0]):
                    im = im.resize((size[1], size[0]), Image.BILINEAR)
                a = np.asarray(im, dtype=np.uint8)
        except OSError as err:
            raise AekitError(f"cannot read image {path} ({err})") from None
        return a[..., None] if a.ndim == 2 else a

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (int(self.size[0]), int(self.size[1]), self.channels)

    dtype = np.dtype(np.uint8)

    @property
    def nbytes(self) -> int:
        return len(self) * int(np.prod(self.image_shape))

    def take(self, indices: np.ndarray) -> np.ndarray:
        out = np.empty((len(indices), *self.image_shape), dtype=np.uint8)
        for row, i in enumerate(np.asarray(indices)):
            a = self._read(self.paths[int(i)], self.size if self.resize else None)
            if a.shape != out.shape[1:]:
                raise AekitError(f"expected {out.shape[1:]} images; {self.paths[int(i)]} is {a.shape} "
                                 "(pass size= to resize)")
            out[row] = a
        return out

    def head(self, n: int) -> np.ndarray:
        return self.take(np.arange(min(n, len(self))))
