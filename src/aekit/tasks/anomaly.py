"""Anomaly detection with an autoencoder, in scikit-learn style.

An autoencoder trained on normal data reconstructs normal inputs well and unusual ones badly, so
the reconstruction error is an anomaly score; for a VAE the negative ELBO (a bound on
−log p(x)) is the natural one. :class:`AnomalyDetector` wraps a trained model (or trains one
from a preset), sets a threshold on the scores of normal data and labels new inputs::

    det = AnomalyDetector("conv", contamination=0.01, epochs=10).fit(normal_images)
    det.predict(images)            # 1 = anomaly, 0 = normal
    det.score_samples(images)      # higher = more anomalous
    det.save("runs/detector")      # the model folder, threshold included
    det = AnomalyDetector.load("runs/detector")

Conventions follow PyOD rather than scikit-learn's outlier detectors: scores and
``decision_function`` grow with abnormality, ``predict`` returns 1 for an anomaly.
``decision_function`` is ``score - threshold_`` (positive = anomaly) and ``predict_proba``
squashes it through a logistic whose scale is the spread of the normal scores, so column 1
crosses 0.5 exactly at the threshold; it orders inputs, it is not a calibrated probability.

Scores (``score``):

- ``mse``: mean squared error per pixel, intensities in [0, 1];
- ``bce``: binary cross-entropy per pixel;
- ``ssim``: ``1 - SSIM`` (structure rather than intensity differences);
- ``elbo``: negative ELBO in nats per image, VAEs only (averaged over ``elbo_samples`` draws of
  a fixed-seed posterior sample, so scores are repeatable);
- ``auto``: ``elbo`` for a VAE, ``mse`` otherwise.

Every score has a per-pixel map (:meth:`AnomalyDetector.pixel_maps`): squared error, per-pixel
BCE, ``1 - local SSIM``, or the per-pixel negative log-likelihood of the decoder.

On rows of features ``(N, D)`` (a vector model, or ``AnomalyDetector("deep")`` trained on a
table) the scores are ``mse`` (mean squared error of the standardised features) and ``elbo``,
and the maps are per feature: the contribution of each column to a row's score.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data.tables import is_table
from ..errors import AekitError, NotFittedError
from ..fitted import component
from ..fitting import take
from ..metrics import bce_map, ssim, ssim_map
from ..model import Model, load_model
from ..models import AEOutput
from ..registry import LIKELIHOODS
from ..thresholds import SCORE_KINDS, AnomalyThreshold

SCORES = ("auto", *SCORE_KINDS)
VECTOR_SCORES = ("mse", "elbo")  # bce and ssim compare images
EPS = 1e-7


def _has_prior(model: Model) -> bool:
    """Whether the model's codes have a prior, so that the ELBO (and the ``elbo`` score) exists."""
    return model.module.latent.prior is not None


def resolve_score(model: Model, score: str) -> str:
    if score not in SCORES:
        raise AekitError(f"expected score in {', '.join(SCORES)}; got {score!r}")
    if score == "auto":
        return "elbo" if _has_prior(model) else "mse"
    if score == "elbo" and not _has_prior(model):
        raise AekitError(f"score 'elbo' needs a VAE (model.latent=gaussian); {model.config.preset!r} has a "
                         "deterministic latent; use mse, bce or ssim")
    return score


@torch.inference_mode()
def pixel_errors(model: Model, images: Any, score: str = "mse", *, batch_size: int = 512,
                 elbo_samples: int = 4, seed: int = 0, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Per-image scores (N,) and per-pixel maps (N, H, W) of ``images`` (as users have them).

    Maps are averaged over channels; for ``mse`` and ``bce`` the score is the mean of the map,
    for ``elbo`` the map is the decoder's −log p(x|z) per pixel (the score adds the KL term).
    """
    x_all, _ = model.preprocessing.to_model(images, device=model.device)
    return model_space_errors(model, x_all, score, batch_size=batch_size, elbo_samples=elbo_samples, seed=seed,
                              progress=progress)


@torch.inference_mode()
def model_space_errors(model: Model, x_all: torch.Tensor, score: str = "mse", *, batch_size: int = 512,
                       elbo_samples: int = 4, seed: int = 0, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """:func:`pixel_errors` of a batch already in model space (``preprocessing.to_model``'s output)."""
    score = resolve_score(model, score)
    x_all = x_all.to(model.device)
    prep, module = model.preprocessing, model.module
    module.eval()
    generator = torch.Generator(device=model.device).manual_seed(seed)
    scores, maps = [], []
    starts = range(0, x_all.shape[0], batch_size)
    images = prep.kind == "image"
    if not images and score not in VECTOR_SCORES:
        raise AekitError(f"score {score!r} compares images; for {prep.describe_input()} use "
                         f"{' or '.join(VECTOR_SCORES)}")
    for start in tqdm(starts, desc=f"scoring ({score})", unit="batch", disable=not progress, leave=False):
        xb = x_all[start:start + batch_size]
        if score == "elbo":
            s, m = _elbo_maps(model, xb, elbo_samples, generator)
        elif not images:
            # Feature vectors: squared error per feature in model space, i.e. in standard
            # deviations of each (standardised) feature, so no column dominates by its units.
            m = (xb.float() - module(xb).x_hat.float()).pow(2)
            s = m.mean(1)
        else:
            x_unit = prep.model_to_unit(xb.float())
            x_hat = prep.model_to_unit(module(xb).x_hat.float())
            if score == "mse":
                m = (x_unit - x_hat).pow(2).mean(1)
                s = m.flatten(1).mean(1)
            elif score == "bce":
                m = bce_map(x_unit, x_hat, EPS).mean(1)
                s = m.flatten(1).mean(1)
            else:
                m = (1 - ssim_map(x_unit, x_hat)).mean(1)
                s = 1 - ssim(x_unit, x_hat)
        scores.append(s.double().cpu())
        maps.append(m.float().cpu())
    return torch.cat(scores).numpy(), torch.cat(maps).numpy()


def _elbo_maps(model: Model, xb: torch.Tensor, samples: int, generator: torch.Generator):
    """Negative ELBO per image (nats) and −log p(x|z) per pixel, averaged over posterior samples."""
    module, config = model.module, model.config.objective
    q = module.posterior(xb)
    target = xb
    if LIKELIHOODS.get(config.reconstruction).needs_unit_outputs or config.binarize != "none":
        target = xb.clamp(0, 1)
    images = model.preprocessing.kind == "image"  # maps are per pixel (channels summed) or per feature
    maps = torch.zeros(xb.shape[0], *xb.shape[2 if images else 1:], device=xb.device, dtype=torch.float64)
    pixel_nll = LIKELIHOODS.get(config.reconstruction).pixel_nll
    for _ in range(samples):
        z = q.sample(generator=generator)
        out = AEOutput(module.decode_logits(z).float(), z, q, module.log_sigma, module.output_activation)
        nll = pixel_nll(out, target, config.sigma)
        maps += (nll.sum(1) if images else nll).double() / samples
    score = maps.flatten(1).sum(1) + q.kl().double()
    return score, maps / xb.shape[1] if images else maps


def roc_curve_auc(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """False- and true-positive rates and the AUROC of ``scores`` for binary ``labels`` (1 = anomaly)."""
    from sklearn.metrics import roc_auc_score, roc_curve

    labels = np.asarray(labels).astype(int).ravel()
    if set(np.unique(labels)) != {0, 1}:
        raise AekitError(f"expected labels of both kinds, 0 (normal) and 1 (anomaly); got values "
                         f"{sorted(set(np.unique(labels).tolist()))}")
    fpr, tpr, _ = roc_curve(labels, scores)
    return fpr, tpr, float(roc_auc_score(labels, scores))


class AnomalyDetector:
    """Reconstruction-based anomaly detector over a trained model or a preset.

    Args:
        model: a trained :class:`~aekit.Model`, a path to a saved model or run, or a preset name
            (then :meth:`fit` trains it on ``X``); ``"auto"`` trains ``conv`` on images and ``deep``
            on rows of features ``(N, D)``.
        score: ``auto``, ``mse``, ``bce``, ``ssim`` or ``elbo`` (see the module docstring).
        contamination: expected share of anomalies in the data given to :meth:`fit`; the
            threshold is then that upper quantile of its scores. ``None`` (unknown): the
            threshold is the ``percentile``-th percentile of the scores of held-out normal data
            (a validation share of ``X`` when training, all of ``X`` for a trained model).
        percentile: see ``contamination``.
        val_fraction: share of ``X`` held out for the threshold when a preset is trained.
        elbo_samples: posterior samples per image for the ``elbo`` score.
        out: run folder for training a preset (default: a temporary folder).
        seed: seed of the validation split and of the ELBO samples.
        **train_kwargs: passed to :func:`aekit.train` (``epochs=10``, ``latent_dim=32`` ...).

    Attributes:
        model_: the trained :class:`~aekit.Model`.
        threshold_: scores above it are anomalies.
        score_: the resolved score kind.
        scale_: spread (standard deviation) of the normal scores, for :meth:`predict_proba`.

    ``fit`` also keeps these as the model's fitted component ``model_.fitted["anomaly"]`` (an
    :class:`~aekit.thresholds.AnomalyThreshold`), which :meth:`save` writes with the model and
    :meth:`from_model` reads back.
    """

    def __init__(self, model: Model | str | os.PathLike = "auto", *, score: str = "auto",
                 contamination: float | None = None, percentile: float = 99.0, val_fraction: float = 0.1,
                 elbo_samples: int = 4, out: str | os.PathLike | None = None, seed: int = 0, **train_kwargs: Any):
        if contamination is not None and not 0.0 < contamination < 0.5:
            raise AekitError(f"contamination: expected a share in (0, 0.5); got {contamination!r}")
        if not 0.0 < percentile < 100.0:
            raise AekitError(f"percentile: expected a number in (0, 100); got {percentile!r}")
        if not 0.0 < val_fraction < 1.0:
            raise AekitError(f"val_fraction: expected a share in (0, 1); got {val_fraction!r}")
        if score not in SCORES:
            raise AekitError(f"score: expected one of {', '.join(SCORES)}; got {score!r}")
        self.model = model
        self.score = score
        self.contamination = contamination
        self.percentile = percentile
        self.val_fraction = val_fraction
        self.elbo_samples = elbo_samples
        self.out = out
        self.seed = seed
        self.train_kwargs = train_kwargs

    # ------------------------------------------------------------------ fitting
    def _trained(self, X: np.ndarray) -> tuple[Model, np.ndarray]:
        """The model to use and the images whose scores set the threshold."""
        from ..presets import PRESETS

        if isinstance(self.model, Model):
            return self.model, X
        preset = self.model
        if preset == "auto":  # a conv net for images, an MLP for rows of features
            preset = "deep" if np.ndim(X) == 2 else "conv"
        if isinstance(preset, str) and preset in PRESETS:
            from .embed import train_on_samples

            rng = np.random.default_rng(self.seed)
            order = rng.permutation(len(X))
            n_val = max(1, int(round(len(X) * self.val_fraction)))
            held, train = np.sort(order[:n_val]), np.sort(order[n_val:])
            if self.contamination is not None:
                held = np.arange(len(X))  # the contamination quantile is over all of X
            return train_on_samples(preset, take(X, train), out=self.out, **self.train_kwargs), take(X, held)
        return load_model(self.model), X

    def fit(self, X: Any, y: Any = None) -> AnomalyDetector:
        """Train (for a preset) or take the model, and set ``threshold_`` from normal data ``X``."""
        X = _as_images(X)
        model, held = self._trained(X)
        self.model_ = model
        self.score_ = resolve_score(model, self.score)
        fitted = AnomalyThreshold.fit(self._scores(held), score=self.score_, contamination=self.contamination,
                                      percentile=self.percentile, elbo_samples=self.elbo_samples, seed=self.seed)
        self._set_fitted(fitted)
        self.model_.fitted[AnomalyThreshold.key] = fitted
        return self

    def _set_fitted(self, fitted: AnomalyThreshold) -> None:
        self.threshold_ = fitted.threshold
        self.scale_ = fitted.scale
        self.n_fit_ = fitted.n_fit

    def _check_fitted(self) -> None:
        if not hasattr(self, "threshold_"):
            raise NotFittedError("this AnomalyDetector is not fitted yet; call fit(normal_images) first "
                                 "(or AnomalyDetector.load(path) for a saved one)")

    def _scores(self, X: Any) -> np.ndarray:
        x_model, _ = self.model_.preprocessing.to_model(X, device=self.model_.device)
        return self.model_space_scores(x_model)

    def model_space_scores(self, x_model: torch.Tensor) -> np.ndarray:
        """:meth:`score_samples` of a batch already in model space (the server's checked batch)."""
        if not hasattr(self, "score_"):  # fit sets model_ and score_ before it scores its held-out data
            self._check_fitted()
        scores, _ = model_space_errors(self.model_, x_model, self.score_, elbo_samples=self.elbo_samples,
                                       seed=self.seed)
        return scores

    # ------------------------------------------------------------------ inference
    def score_samples(self, X: Any) -> np.ndarray:
        """Anomaly score of each input, (N,); higher = more anomalous."""
        self._check_fitted()
        return self._scores(_as_images(X))

    def decision_function(self, X: Any) -> np.ndarray:
        """``score - threshold_``: positive for anomalies."""
        return self.score_samples(X) - self.threshold_

    def predict(self, X: Any) -> np.ndarray:
        """1 for an anomaly (score above the threshold), 0 for normal, (N,) int64."""
        return (self.decision_function(X) > 0).astype(np.int64)

    def predict_proba(self, X: Any) -> np.ndarray:
        """(N, 2): columns P(normal), P(anomaly) from a logistic of ``decision_function / scale_``."""
        d = self.decision_function(X) / self.scale_
        p = 1.0 / (1.0 + np.exp(-np.clip(d, -500, 500)))
        return np.stack([1.0 - p, p], axis=1)

    def fit_predict(self, X: Any, y: Any = None) -> np.ndarray:
        return self.fit(X).predict(X)

    def pixel_maps(self, X: Any) -> np.ndarray:
        """Per-pixel anomaly maps (N, H, W) of the detector's score (see :func:`pixel_errors`); for
        rows of features, each feature's share (N, D): which columns made a row anomalous."""
        self._check_fitted()
        _, maps = pixel_errors(self.model_, _as_images(X), self.score_, elbo_samples=self.elbo_samples,
                               seed=self.seed)
        return maps

    def contributions(self, X: Any) -> np.ndarray:
        """Each column's share of each row's score, (N, columns): for a table, a categorical
        column's one-hot slots are added up; for ``mse`` the shares sum to the score."""
        maps = self.pixel_maps(X)
        if maps.ndim != 2:
            raise AekitError("contributions are per column of rows; for images use pixel_maps")
        prep = self.model_.preprocessing
        per_column = prep.column_totals(maps) if hasattr(prep, "column_totals") else maps
        return per_column / maps.shape[1] if self.score_ == "mse" else per_column

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> Path:
        """Save the model folder with the threshold in its fitted state."""
        self._check_fitted()
        return self.model_.save(path)

    @classmethod
    def from_model(cls, model: Model | str | os.PathLike) -> AnomalyDetector:
        """The detector saved with ``model`` (a :class:`~aekit.Model` or a path)."""
        if not isinstance(model, Model):
            model = load_model(model)
        fitted = component(model.fitted, AnomalyThreshold)
        if fitted is None:
            raise NotFittedError(f"{model.path or 'this model'} has no anomaly threshold saved with it; fit one: "
                                 f"{AnomalyThreshold.fit_hint}")
        det = cls(model, score=fitted.score, contamination=fitted.contamination,
                  percentile=fitted.percentile or 99.0, elbo_samples=fitted.elbo_samples, seed=fitted.seed)
        try:
            det.score_ = resolve_score(model, fitted.score)
        except AekitError as err:
            raise AekitError(f"the saved anomaly threshold of {model.path or 'this model'} does not fit the model "
                             f"({err}); refit it with {AnomalyThreshold.fit_hint}") from None
        det.model_ = model
        det._set_fitted(fitted)
        return det

    load = from_model

    def __repr__(self) -> str:
        fitted = f", threshold_={self.threshold_:.6g}" if hasattr(self, "threshold_") else ""
        name = self.model if isinstance(self.model, str) else type(self.model).__name__
        return f"AnomalyDetector({name!r}, score={self.score!r}{fitted})"


def fit_threshold_after_training(model: Model, splits: Any, percentile: float = 99.0) -> AnomalyThreshold:
    """Called by the trainer for tables: the ``percentile``-th percentile of the validation rows'
    scores (the training rows' when there is no validation split) becomes the saved threshold."""
    held = splits.val if len(splits.val) else splits.train
    score = resolve_score(model, "auto")
    x_model, _ = model.preprocessing.to_model(held.samples, device=model.device)
    scores, _ = model_space_errors(model, x_model, score)
    fitted = AnomalyThreshold.fit(scores, score=score, percentile=percentile)
    model.fitted[AnomalyThreshold.key] = fitted
    return fitted


def _as_images(X: Any) -> Any:
    if isinstance(X, torch.Tensor) or is_table(X):
        return X
    X = np.asarray(X)
    if X.ndim == 3:  # (N, H, W) grayscale
        X = X[..., None]
    return X
