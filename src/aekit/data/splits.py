"""Seeded train / val / test splits.

The rules, in order:

1. A dataset with its own test split (MNIST, CIFAR-10, an ``.npz`` with ``x_test``) keeps it.
   Otherwise ``test_fraction`` of the images are drawn as the test split.
2. ``val_fraction`` of what remains is drawn as the validation split (unless the source gives one).
3. ``limit`` keeps the first ``limit`` of the remaining training images in the shuffled order,
   so the validation and test splits do not change when ``limit`` does.

Draws are stratified by label when labels exist (each class contributes its share, rounded by
largest remainder), so a small validation split still covers every class. Every split keeps the
source's order, which makes "train image 0" mean the same thing in a file and in aekit. The same
seed gives the same splits.
"""

from __future__ import annotations

import numpy as np

from aekit.data.imageset import ImageSet
from aekit.errors import AekitError


def check_fraction(name: str, value: float) -> float:
    """Validate a split fraction (``0 <= value < 1``).

    Args:
        name: Parameter name, for the message.
        value: The fraction.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise AekitError(f"expected {name} to be a number in [0, 1), got {value!r}")
    return float(value)


def split_off(
    indices: np.ndarray, fraction: float, rng: np.random.Generator, labels: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``round(len(indices) * fraction)`` of ``indices``, stratified by ``labels``.

    Args:
        indices: The candidate indices.
        fraction: Share to draw, in [0, 1).
        rng: Random generator (consumed, so the caller's next draw differs).
        labels: Label of each candidate (same length as ``indices``), or ``None``.

    Returns:
        ``(rest, drawn)``: both in shuffled order.
    """
    n = len(indices)
    k = int(np.floor(n * fraction + 0.5))
    perm = rng.permutation(n)
    if labels is None or k == 0:
        return indices[perm[k:]], indices[perm[:k]]
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    exact = counts * (k / n)
    quota = np.floor(exact).astype(np.int64)
    # Largest remainder: the classes closest to their next whole sample get the leftovers.
    leftovers = np.argsort(-(exact - quota), kind="stable")[: k - int(quota.sum())]
    quota[leftovers] += 1
    # Rank of each shuffled position within its class; the first `quota` of each class are drawn.
    cls = inverse[perm]
    order = np.argsort(cls, kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - np.repeat(np.cumsum(counts) - counts, counts)
    drawn = rank < quota[cls]
    return indices[perm[~drawn]], indices[perm[drawn]]


def make_splits(
    pool: ImageSet,
    *,
    test: ImageSet | None = None,
    val: ImageSet | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    seed: int = 0,
    limit: int | None = None,
) -> tuple[ImageSet, ImageSet, ImageSet]:
    """Split ``pool`` into train / val / test by the rules in the module docstring.

    Args:
        pool: The training images (when ``test`` is given) or all images.
        test: The source's own test split, or ``None`` to draw one from ``pool``.
        val: The source's own validation split, or ``None`` to draw one.
        val_fraction: Share of the non-test images used for validation.
        test_fraction: Share of ``pool`` drawn as test when ``test`` is ``None``.
        seed: Seed of the permutation.
        limit: Keep at most this many training images.

    Returns:
        ``(train, val, test)``.
    """
    val_fraction = check_fraction("val_fraction", val_fraction)
    test_fraction = check_fraction("test_fraction", test_fraction)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise AekitError(f"expected limit to be a positive integer or None, got {limit!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise AekitError(f"expected seed to be a non-negative integer, got {seed!r}")
    rng = np.random.default_rng(seed)
    rest = np.arange(len(pool))
    if test is None:
        rest, test_idx = split_off(rest, test_fraction, rng, pool.labels)
        test = pool.subset(np.sort(test_idx))
    if val is None:
        labels = None if pool.labels is None else pool.labels[rest]
        rest, val_idx = split_off(rest, val_fraction, rng, labels)
        val = pool.subset(np.sort(val_idx))
    if limit is not None:
        rest = rest[:limit]
    if len(rest) == 0:
        raise AekitError(
            f"expected at least one training image, got none from {len(pool)} images with "
            f"val_fraction={val_fraction} and test_fraction={test_fraction}; add images or "
            "lower the fractions"
        )
    return pool.subset(np.sort(rest)), val, test
