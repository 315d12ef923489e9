"""In-memory image collections: :class:`ImageSet` (one split) and :class:`Splits` (train/val/test).

Every source in :mod:`aekit.data` (IDX files, the CIFAR-10 binary archive, image folders, arrays)
ends up as an ``ImageSet``: one channel-last array ``(N, H, W, C)`` plus optional labels and names.
Holding the whole split as a single array is what lets the trainer put it on the device as one
tensor and batch by index, with no per-sample Python (see DESIGN.md, "Fast by construction").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from aekit.data.pixels import as_unit
from aekit.errors import AekitError


@dataclass(eq=False)  # array fields make the generated __eq__ ambiguous, so identity it is
class ImageSet:
    """A batch of images with optional labels, class names and per-sample names.

    Args:
        images: ``(N, H, W, C)`` array, either ``uint8`` in 0..255 or ``float32`` in [0, 1];
            ``C`` is 1 (grayscale) or 3 (RGB). Always 4-D and channel-last.
        labels: ``(N,)`` ``int64`` class indices, or ``None`` when the source has no labels.
        class_names: Name of each class index, or ``None``.
        names: One name per sample (the file stem for image files), or ``None``.
    """

    images: np.ndarray
    labels: np.ndarray | None = None
    class_names: tuple[str, ...] | None = None
    names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        x = self.images
        if not isinstance(x, np.ndarray) or x.ndim != 4 or x.shape[-1] not in (1, 3):
            got = getattr(x, "shape", type(x).__name__)
            raise AekitError(
                f"expected images as an (N, H, W, C) array with C = 1 or 3, got {got}; "
                "convert single images with x[None] and channel-first arrays with "
                "np.moveaxis(x, 1, -1)"
            )
        if x.dtype not in (np.uint8, np.float32):
            raise AekitError(
                f"expected uint8 (0..255) or float32 (0..1) images, got dtype {x.dtype}; "
                "convert with x.astype(np.uint8) or x.astype(np.float32) / 255"
            )
        if self.labels is not None:
            self.labels = np.asarray(self.labels)
            if self.labels.shape != (len(x),) or self.labels.dtype != np.int64:
                raise AekitError(
                    f"expected labels as an int64 array of shape ({len(x)},), got "
                    f"{self.labels.dtype} {self.labels.shape}; one integer label per image"
                )
        if self.class_names is not None:
            self.class_names = tuple(str(c) for c in self.class_names)
        if self.names is not None:
            self.names = tuple(str(n) for n in self.names)
            if len(self.names) != len(x):
                raise AekitError(
                    f"expected one name per image ({len(x)}), got {len(self.names)} names"
                )

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def samples(self) -> np.ndarray:
        """The images, under the name every kind of split shares (a table's is its frame)."""
        return self.images

    @property
    def shape(self) -> tuple[int, int, int]:
        """The shape of one image, ``(H, W, C)``."""
        _, h, w, c = self.images.shape
        return int(h), int(w), int(c)

    def subset(self, index: slice | Sequence[int] | np.ndarray) -> ImageSet:
        """Return the images selected by ``index`` (a slice, integer indices or a boolean mask).

        Args:
            index: Anything numpy accepts as a first-axis index except a bare integer.
        """
        if isinstance(index, (int, np.integer)):
            index = [int(index)]  # keep the batch axis: a subset is always an ImageSet
        if not isinstance(index, slice):
            index = np.asarray(index)
            if index.dtype != bool:
                index = index.astype(np.int64, copy=False)
        names = None
        if self.names is not None:
            names = tuple(np.asarray(self.names, dtype=object)[index].tolist())
        return ImageSet(
            images=self.images[index],
            labels=None if self.labels is None else self.labels[index],
            class_names=self.class_names,
            names=names,
        )

    def __repr__(self) -> str:
        # The dataclass repr would print every pixel; a summary is what anyone wants to see.
        labels = "none" if self.labels is None else f"{len(np.unique(self.labels))} classes"
        return (
            f"ImageSet(n={len(self)}, shape={self.shape}, dtype={self.images.dtype}, "
            f"labels={labels})"
        )


@dataclass(eq=False)
class Splits:
    """The three splits of one dataset plus a JSON-able description for the run record.

    Args:
        name: The dataset name (``"mnist"``, ``"digits"``) or the path the user gave.
        train: Training images.
        val: Validation images, carved from the training data by a seeded permutation.
        test: Test images (the dataset's own test split when it has one).
        info: Source folder or ``"sklearn"``, files with the checksums verified, split sizes,
            seed and fractions.
    """

    name: str
    train: ImageSet
    val: ImageSet
    test: ImageSet
    info: dict = field(default_factory=dict)
    kind = "image"


def concat_image_sets(parts: Sequence[ImageSet]) -> ImageSet:
    """Concatenate image sets that share one image shape and dtype.

    Labels survive only when every part has labels over the same class names, because a label
    index means nothing without its class list.

    Args:
        parts: At least one image set.
    """
    if not parts:
        raise AekitError("expected at least one image, got none; pass image files or folders")
    shapes = {p.shape for p in parts}
    if len(shapes) > 1:
        a, b = sorted(shapes)[:2]
        raise AekitError(
            f"expected images of one size, got {a[0]}x{a[1]}x{a[2]} and {b[0]}x{b[1]}x{b[2]}; "
            "pass a size (--image-size) and channels to convert them"
        )
    if len({p.images.dtype for p in parts}) > 1:
        # Mixed uint8 and float inputs: float [0, 1] is the one space both map to losslessly.
        parts = [_as_float(p) for p in parts]
    keep_labels = all(p.labels is not None for p in parts) and (
        len({p.class_names for p in parts}) == 1
    )
    names = None
    if all(p.names is not None for p in parts):
        names = tuple(n for p in parts for n in p.names)
    return ImageSet(
        images=np.concatenate([p.images for p in parts]),
        labels=np.concatenate([p.labels for p in parts]) if keep_labels else None,
        class_names=parts[0].class_names if keep_labels else None,
        names=names,
    )


def _as_float(s: ImageSet) -> ImageSet:
    if s.images.dtype == np.float32:
        return s
    return ImageSet(as_unit(s.images), s.labels, s.class_names, s.names)


def images_to_tensor(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, C) array -> contiguous (N, C, H, W) tensor of the same dtype."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous()
