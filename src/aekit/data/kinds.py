"""Kinds of data and their preprocessing: images ``(C, H, W)``, vectors ``(D,)``, tables and series.

A model records the kind it was trained on with its preprocessing; everything that turns user
data into model space goes through the kind's preprocessing class. Architectures say which
kinds they take (:mod:`aekit.models.architectures`). A series is windowed: its samples are
windows ``(C, L)``, channels first (:mod:`aekit.data.series`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..config import DataConfig
from ..errors import AekitError
from .preprocess import Preprocessing
from .series import SeriesPreprocessing
from .tables import TablePreprocessing
from .vectors import VectorPreprocessing

# kind -> the preprocessing class that fits, saves and applies it. A table is vector-shaped in
# model space ((D',) after one-hot encoding), so no rank maps to it: it is chosen by its data.
KINDS: dict[str, Any] = {"image": Preprocessing, "vector": VectorPreprocessing, "table": TablePreprocessing,
                         "series": SeriesPreprocessing}

# The rank of one sample's shape tells its kind: (D,) vector, (C, L) series window, (C, H, W) image.
KIND_OF_RANK = {1: "vector", 2: "series", 3: "image"}


def kind_of_shape(shape: tuple[int, ...]) -> str:
    try:
        return KIND_OF_RANK[len(shape)]
    except KeyError:
        raise AekitError(f"expected a sample shape (D,) for vectors, (C, L) for series windows or (C, H, W) for "
                         f"images; got {shape}") from None


def preprocessing_from_dict(data: Any) -> Any:
    """The preprocessing a saved record describes (no ``kind`` key: images, as saved before kinds)."""
    if not isinstance(data, dict):
        raise AekitError(f"preprocessing: expected a JSON object; got {type(data).__name__}")
    kind = data.get("kind", "image")
    if kind not in KINDS:
        raise AekitError(f"preprocessing.kind: expected one of {', '.join(KINDS)}; got {kind!r}")
    return KINDS[kind].from_dict({k: v for k, v in data.items() if k != "kind" or kind != "image"})


def infer_kind(x: np.ndarray) -> str:
    """``vector`` for (N, D) rows, ``image`` for (N, H, W) or (N, H, W, C) with C = 1 or 3."""
    if x.ndim == 2:
        return "vector"
    if x.ndim == 3 or (x.ndim == 4 and x.shape[-1] in (1, 3)):
        return "image"
    raise AekitError(f"expected rows (N, D) or images (N, H, W[, C]) with C = 1 or 3; got shape {x.shape}")


def as_samples(x: Any, kind: str, what: str = "x") -> np.ndarray:
    """Data as users have it -> the array a kind's preprocessing fits on: (N, D) float32 rows, or
    (N, H, W, C) uint8 / float32-in-[0, 1] images; checked, with errors naming ``what``."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.dtype == object or not np.issubdtype(x.dtype, np.number):
        raise AekitError(f"{what}: expected numbers; got an array of dtype {x.dtype}")
    if len(x) < 1:
        raise AekitError(f"{what}: expected at least one sample; got none")
    if kind == "vector":
        if x.ndim != 2:
            raise AekitError(f"{what}: expected rows (N, D); got shape {x.shape}")
        return x.astype(np.float32)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise AekitError(f"{what}: expected images (N, H, W) or (N, H, W, C) with C = 1 or 3; got shape {x.shape}")
    if x.dtype == np.uint8:
        return x
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        raise AekitError(f"{what}: expected finite values; got NaN or Inf")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 or hi > 1:
        raise AekitError(f"{what}: expected uint8 pixels (0..255) or floats in [0, 1]; got values in "
                         f"[{lo:.4g}, {hi:.4g}]" + ("; divide by 255 first" if hi <= 255 and lo >= 0 else ""))
    return x


def fit_preprocessing(samples: Any, kind: str, data: DataConfig, *, everything: Any = None) -> Any:
    """Fit ``kind``'s preprocessing on the training samples, as the run's data settings say.
    ``everything`` (all rows of a table, held-out ones too) only widens categorical vocabularies."""
    if kind == "table":
        return TablePreprocessing.fit(samples, normalize=data.normalize, scaling=data.scaling, unseen=data.unseen,
                                      impute=None if data.impute == "none" else data.impute,
                                      fill_value=data.fill_value, categories_from=everything)
    if kind == "series":
        return SeriesPreprocessing.fit(samples, window=data.window, normalize=data.normalize, stride=data.stride,
                                       gaps=data.gaps, gap_factor=data.gap_factor)
    return KINDS[kind].fit(samples, normalize=data.normalize)
