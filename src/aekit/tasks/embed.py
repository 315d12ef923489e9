"""Embeddings: autoencoder codes as features, in scikit-learn style, and how good they are.

:class:`AutoencoderTransformer` is a scikit-learn transformer over any preset (or a trained
model), so an autoencoder drops into a ``Pipeline`` where ``PCA`` would::

    from sklearn.pipeline import make_pipeline
    from sklearn.neighbors import KNeighborsClassifier
    clf = make_pipeline(AutoencoderTransformer("conv", latent_dim=32, epochs=10), KNeighborsClassifier(5))
    clf.fit(X_train, y_train).score(X_test, y_test)

With ``kind="image"`` (the default) rows of ``X`` are flattened images (``(N, C*H*W)``, uint8 or
floats in [0, 1]; the image shape is inferred for square images or given as ``image_shape``), or
image arrays ``(N, H, W[, C])``. With ``kind="vector"`` rows are feature vectors (any finite
numbers, standardised per feature with statistics saved in the model), as for ``PCA``.

:func:`evaluate_codes` scores codes the usual three ways: kNN accuracy (k = 5, fitted on the
training codes, scored on the test codes), the accuracy of a linear probe (logistic regression on
standardised codes), and trustworthiness (Venna & Kaski 2001; scikit-learn's, 5 neighbours) of
test codes with respect to the test images; :func:`compare_with_pca` does that for a model and
for PCA with as many components.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import validate_data

from ..data.tables import table_features
from ..errors import AekitError, NotFittedError
from ..fitting import fit
from ..model import Model, load_model

TRUSTWORTHINESS_POINTS = 2000  # O(n²) memory and time: a seeded subset of the test set


def infer_image_shape(n_features: int, channels: int | None = None) -> tuple[int, int, int]:
    """(C, H, W) of a flattened square image: 784 -> (1, 28, 28), 3072 -> (3, 32, 32)."""
    for c in ((channels,) if channels else (1, 3)):
        side = math.isqrt(n_features // c) if n_features % c == 0 else 0
        if side and c * side * side == n_features:
            return (c, side, side)
    raise AekitError(f"cannot tell the image shape of rows of {n_features} values (not a square image); "
                     "pass image_shape=(C, H, W)")


def train_on_samples(preset: str, samples: np.ndarray, *, out: str | os.PathLike | None = None,
                     **kwargs: Any) -> Model:
    """Train ``preset`` in memory (:func:`aekit.fit`) on (N, H, W, C) images or (N, D) rows;
    saved to ``out`` if given."""
    return fit(samples, preset, save_to=out, **kwargs)


class AutoencoderTransformer(TransformerMixin, BaseEstimator):
    """Autoencoder codes as a scikit-learn transformer.

    Args:
        model: a preset name (trained by :meth:`fit`), a trained :class:`~aekit.Model`, or the
            path of a saved one (then :meth:`fit` only checks the data against it).
        kind: ``"image"`` (rows are flattened images), ``"vector"`` (rows are numeric features) or
            ``"table"`` (a DataFrame of named numeric and categorical columns; ``inverse_transform``
            gives a DataFrame back).
        latent_dim: code size when training a preset.
        epochs: training epochs for a preset.
        image_shape: ``(C, H, W)`` of a row of ``X``; inferred for square images.
        train_kwargs: further :func:`aekit.fit` options (``{"lr": 1e-3}``).
        out: also save the trained model to this folder (default: nothing is written).
        device: where the model runs.

    Attributes:
        model_: the trained :class:`~aekit.Model`.
        n_features_in_: values per row of ``X``.
        image_shape_: ``(C, H, W)`` of one row (``None`` for vectors).
    """

    def __init__(self, model: Any = "deep", *, kind: str = "image", latent_dim: int = 32, epochs: int = 10,
                 image_shape: tuple[int, int, int] | None = None, train_kwargs: dict | None = None,
                 out: str | None = None, device: str = "cpu"):
        self.model = model
        self.kind = kind
        self.latent_dim = latent_dim
        self.epochs = epochs
        self.image_shape = image_shape
        self.train_kwargs = train_kwargs
        self.out = out
        self.device = device

    # ------------------------------------------------------------------ helpers
    def _samples(self, X: Any, *, fitting: bool) -> np.ndarray:
        """``X`` checked and shaped for the model: images (N, H, W, C), or rows (N, D) for vectors."""
        if self.kind == "image":
            return self._images(X, fitting=fitting)
        if self.kind == "table":
            return table_features(X, "X")  # the recorded preprocessing checks the columns
        if self.kind != "vector":
            raise AekitError(f"kind: expected 'image', 'vector' or 'table'; got {self.kind!r}")
        # scikit-learn's own checks: sparse, complex, object, empty, 1-D, NaN and a changed feature
        # count all get the errors scikit-learn users know.
        return validate_data(self, X, reset=fitting, dtype=[np.float32, np.float64]).astype(np.float32)

    def _images(self, X: Any, *, fitting: bool) -> np.ndarray:
        """Rows or image arrays -> (N, H, W, C) uint8 / float32 in [0, 1], checked."""
        X = np.asarray(X)
        if X.ndim == 2:
            shape = tuple(self.image_shape) if self.image_shape is not None else (
                self.image_shape_ if not fitting else infer_image_shape(X.shape[1]))
            if int(np.prod(shape)) != X.shape[1]:
                raise AekitError(f"expected rows of {int(np.prod(shape))} values (images {shape}); got {X.shape[1]}")
            c, h, w = shape
            X = X.reshape(len(X), c, h, w).transpose(0, 2, 3, 1)
        elif X.ndim == 3:
            X = X[..., None]
        elif X.ndim != 4:
            raise AekitError(f"expected X as (N, features) rows or (N, H, W[, C]) images; got shape {X.shape}")
        if X.dtype != np.uint8:
            X = X.astype(np.float32)
            if X.size and (X.min() < 0 or X.max() > 1):
                raise AekitError(f"expected uint8 pixels or floats in [0, 1]; got values in [{X.min():g}, "
                                 f"{X.max():g}]; scale them first (e.g. MinMaxScaler, or X / 255)")
        return np.ascontiguousarray(X)

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(X) first")

    # ------------------------------------------------------------------ API
    def fit(self, X: Any, y: Any = None) -> AutoencoderTransformer:
        samples = self._samples(X, fitting=True)
        if isinstance(self.model, Model):
            model = self.model
        elif isinstance(self.model, str) and not Path(self.model).exists():
            model = train_on_samples(self.model, samples, out=self.out, kind=self.kind, latent_dim=self.latent_dim,
                                     epochs=self.epochs, device=self.device, **(self.train_kwargs or {}))
        else:
            model = load_model(self.model)
        self.model_ = model.to(self.device)
        if self.kind == "table":
            self.model_.preprocessing.encode(samples.iloc[:1])  # the columns fit the model, or a clear error
            self.image_shape_, self.n_features_in_, self.input_dtype_ = None, samples.shape[1], "table"
            self.feature_names_in_ = np.array(samples.columns, dtype=object)
            return self
        shape = samples.shape[1:] if self.kind == "vector" else (samples.shape[3], *samples.shape[1:3])
        if tuple(self.model_.input_shape) != tuple(shape):
            what = "rows" if self.kind == "vector" else "images (C, H, W)"
            raise AekitError(f"the model takes {what} {self.model_.input_shape}; X holds {tuple(shape)}")
        self.image_shape_ = tuple(shape) if self.kind == "image" else None
        self.n_features_in_ = int(np.prod(shape))  # (validate_data sets it too, for vectors)
        self.input_dtype_ = str(samples.dtype)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """(N, k) float32 codes (posterior means for a VAE)."""
        self._check_fitted()
        return np.asarray(self.model_.encode(self._samples(X, fitting=False)), dtype=np.float32)

    def inverse_transform(self, Z: Any) -> np.ndarray:
        """Codes -> reconstructed rows (N, n_features): for images flattened, in the dtype ``fit``
        saw (uint8 or floats in [0, 1]); for vectors in the features' own units; for tables a DataFrame."""
        self._check_fitted()
        if self.kind == "table":
            return self.model_.decode(np.asarray(Z, dtype=np.float32))  # a DataFrame with the recorded columns
        if self.kind == "vector":
            return np.asarray(self.model_.decode(np.asarray(Z, dtype=np.float32)))
        as_float = self.input_dtype_ != "uint8"
        images = self.model_.decode(np.asarray(Z, dtype=np.float32), as_float=as_float)
        return np.ascontiguousarray(np.asarray(images).transpose(0, 3, 1, 2)).reshape(len(images), -1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]  # codes are float32 whatever comes in
        return tags

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        self._check_fitted()
        return np.array([f"z{i}" for i in range(self.model_.latent_dim)], dtype=object)


# --------------------------------------------------------------------- evaluation
def trustworthiness_subset(high: np.ndarray, low: np.ndarray, n_neighbors: int = 5,
                           points: int = TRUSTWORTHINESS_POINTS, seed: int = 0) -> float:
    from sklearn.manifold import trustworthiness

    idx = np.arange(len(high))
    if len(idx) > points:
        idx = np.sort(np.random.default_rng(seed).choice(len(high), points, replace=False))
    return float(trustworthiness(high[idx].reshape(len(idx), -1), low[idx], n_neighbors=n_neighbors))


def evaluate_codes(train_codes: np.ndarray, train_labels: np.ndarray, test_codes: np.ndarray,
                   test_labels: np.ndarray, test_inputs: np.ndarray | None = None, *, k: int = 5,
                   seed: int = 0) -> dict[str, float]:
    """kNN (k) and linear-probe accuracy of test codes, and trustworthiness w.r.t. ``test_inputs``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    knn = KNeighborsClassifier(n_neighbors=k).fit(train_codes, train_labels)
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    probe.fit(train_codes, train_labels)
    result = {
        "knn_accuracy": float(knn.score(test_codes, test_labels)),
        "linear_probe_accuracy": float(probe.score(test_codes, test_labels)),
    }
    if test_inputs is not None:
        result["trustworthiness"] = trustworthiness_subset(test_inputs, test_codes, n_neighbors=k, seed=seed)
    return result


def compare_with_pca(model: Model, train: Any, test: Any, *, k: int = 5, seed: int = 0) -> dict[str, Any]:
    """:func:`evaluate_codes` for ``model``'s codes and for PCA with as many components.

    ``train`` and ``test`` are labelled :class:`~aekit.data.ImageSet` s; PCA is fitted on the
    training images in [0, 1].
    """
    from sklearn.decomposition import PCA

    if train.labels is None or test.labels is None:
        raise AekitError("code evaluation needs labelled train and test images")
    flat_train = _unit_rows(train.images)
    flat_test = _unit_rows(test.images)
    ae = evaluate_codes(np.asarray(model.encode(train.images)), train.labels, np.asarray(model.encode(test.images)),
                        test.labels, flat_test, k=k, seed=seed)
    pca = PCA(n_components=model.latent_dim, random_state=seed).fit(flat_train)
    base = evaluate_codes(pca.transform(flat_train), train.labels, pca.transform(flat_test), test.labels, flat_test,
                          k=k, seed=seed)
    return {"latent_dim": model.latent_dim, "k": k, "model": ae, "pca": base}


def _unit_rows(images: np.ndarray) -> np.ndarray:
    flat = images.reshape(len(images), -1)
    return flat.astype(np.float32) / 255.0 if flat.dtype == np.uint8 else flat.astype(np.float32)
