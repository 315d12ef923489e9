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

The default on rows, ``AnomalyDetector().fit(X)``, is a recipe chosen on 10 ADBench sets and
measured on all 30 against PyOD (``bench/adbench.py``, ``bench/results/adbench.md``):

- the ``denoising`` MLP (Gaussian noise 0.5 on the standardised features), a code of a quarter
  of the columns (2 to 32), hidden sizes chosen automatically, batch 256, Adam at 1e-3;
- a bounded number of optimisation steps: 40 passes over the training rows, within 30 to 500
  steps, drawn as ``ROW_EPOCHS`` passes over a subsample (or repeats) of the rows. A 600,000-row
  table costs what a 13,000-row one does, and an unsupervised fit (outliers among the rows) has
  too few steps to learn to reconstruct its outliers;
- the score adds a code-space term to the reconstruction error: the mean distance of a row's
  code to its 20 nearest codes among 2,000 training rows (:class:`~aekit.thresholds.CodeNeighbours`,
  saved with the model). Both terms are put on a robust common scale (median, interquartile
  range over training rows) and summed, so a row is anomalous when it is badly reconstructed,
  or when it lands far from the training rows in code space, or both.

``pixel_maps`` still gives each column's contribution to the reconstruction term (they average
to it); the code-space term has no per-column split. ``neighbours=0`` turns it off and
``steps`` / ``epochs`` / ``latent_dim`` ... override the recipe.
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
from ..model import Model, load_model, saved_component
from ..models import AEOutput
from ..presets import ROW_BATCH, ROW_EPOCHS, ROW_LR, ROW_PRESET, ROW_PRESETS, row_steps
from ..registry import LIKELIHOODS
from ..thresholds import SCORE_KINDS, AnomalyThreshold, CodeNeighbours

SCORES = ("auto", *SCORE_KINDS)
VECTOR_SCORES = ("mse", "elbo")  # bce and ssim compare images
EPS = 1e-7

# The recipe on rows of a table (aekit.presets: ROW_PRESET, the step budget), and its score:
ROW_NEIGHBOURS = 20  # k of the code-space term
ROW_REFERENCE = 2000  # training rows whose codes the code-space term measures distances to
ROW_WEIGHT = 1.0  # weight of the code-space term against the reconstruction term


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


@torch.inference_mode()
def code_distances(model: Model, x_model: torch.Tensor, reference: torch.Tensor, k: int, *,
                   batch_size: int = 4096) -> np.ndarray:
    """Mean Euclidean distance (N,) from the code of each row of ``x_model`` (model space) to its
    ``k`` nearest ``reference`` codes (M, latent_dim); the posterior mean for a VAE."""
    from sklearn.neighbors import NearestNeighbors

    module = model.module.eval()
    # A tree over the codes: half the time of brute-force distances + top-k on small codes.
    index = NearestNeighbors(n_neighbors=k).fit(reference.detach().float().cpu().numpy())
    out = []
    for start in range(0, x_model.shape[0], batch_size):
        z = module.encode(x_model[start:start + batch_size].to(model.device)).float()  # (B, latent_dim)
        out.append(index.kneighbors(z.cpu().numpy())[0].mean(1))
    return np.concatenate(out).astype(np.float64)


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
            (then :meth:`fit` trains it on ``X``); ``"auto"`` trains ``conv`` on images and, on rows
            of features ``(N, D)``, ``denoising`` with the table recipe of the module docstring
            (every MLP preset given rows gets that recipe; options given here win over it).
        score: ``auto``, ``mse``, ``bce``, ``ssim`` or ``elbo`` (see the module docstring).
        contamination: expected share of anomalies in the data given to :meth:`fit`; the
            threshold is then that upper quantile of its scores. ``None`` (unknown): the
            threshold is the ``percentile``-th percentile of the scores of held-out normal data
            (a validation share of ``X`` when training, all of ``X`` for a trained model).
        percentile: see ``contamination``.
        val_fraction: share of ``X`` held out for the threshold when a preset is trained.
        elbo_samples: posterior samples per image for the ``elbo`` score.
        neighbours: ``"auto"`` (20 on rows, 0 on images) or k: add the code-space term, the mean
            distance to the k nearest codes of training rows (0: off).
        steps: optimisation steps of the table recipe (default: 40 passes over the training
            rows, 30 to 500); ignored when ``epochs`` is given.
        out: run folder for training a preset (default: a temporary folder).
        seed: seed of the validation split and of the ELBO samples.
        **train_kwargs: passed to :func:`aekit.train` (``epochs=10``, ``latent_dim=32`` ...).

    Attributes:
        model_: the trained :class:`~aekit.Model`.
        threshold_: scores above it are anomalies.
        score_: the resolved score kind.
        scale_: spread (standard deviation) of the normal scores, for :meth:`predict_proba`.
        neighbours_: the fitted code-space term (:class:`~aekit.thresholds.CodeNeighbours`), or ``None``.

    ``fit`` also keeps these as the model's fitted component ``model_.fitted["anomaly"]`` (an
    :class:`~aekit.thresholds.AnomalyThreshold`), which :meth:`save` writes with the model and
    :meth:`from_model` reads back.
    """

    def __init__(self, model: Model | str | os.PathLike = "auto", *, score: str = "auto",
                 contamination: float | None = None, percentile: float = 99.0, val_fraction: float = 0.1,
                 elbo_samples: int = 4, neighbours: int | str = "auto", steps: int | None = None,
                 out: str | os.PathLike | None = None, seed: int = 0, **train_kwargs: Any):
        if contamination is not None and not 0.0 < contamination < 0.5:
            raise AekitError(f"contamination: expected a share in (0, 0.5); got {contamination!r}")
        if not 0.0 < percentile < 100.0:
            raise AekitError(f"percentile: expected a number in (0, 100); got {percentile!r}")
        if not 0.0 < val_fraction < 1.0:
            raise AekitError(f"val_fraction: expected a share in (0, 1); got {val_fraction!r}")
        if score not in SCORES:
            raise AekitError(f"score: expected one of {', '.join(SCORES)}; got {score!r}")
        if neighbours != "auto" and not (isinstance(neighbours, int) and neighbours >= 0):
            raise AekitError(f"neighbours: expected 'auto' or a count >= 0 (0: off); got {neighbours!r}")
        if steps is not None and not (isinstance(steps, int) and steps >= 1):
            raise AekitError(f"steps: expected a positive number of optimisation steps; got {steps!r}")
        self.model = model
        self.score = score
        self.contamination = contamination
        self.percentile = percentile
        self.val_fraction = val_fraction
        self.elbo_samples = elbo_samples
        self.neighbours = neighbours
        self.steps = steps
        self.out = out
        self.seed = seed
        self.train_kwargs = train_kwargs

    # ------------------------------------------------------------------ fitting
    def _trained(self, X: np.ndarray) -> tuple[Model, np.ndarray, np.ndarray]:
        """The model to use, the inputs whose scores set the threshold, and the training inputs."""
        from ..presets import PRESETS

        if isinstance(self.model, Model):
            return self.model, X, X
        preset = self.model
        rows = np.ndim(X) == 2
        if preset == "auto":  # a conv net for images, a denoising MLP for rows of features
            preset = ROW_PRESET if rows else "conv"
        if isinstance(preset, str) and preset in PRESETS:
            rng = np.random.default_rng(self.seed)
            order = rng.permutation(len(X))
            n_val = max(1, int(round(len(X) * self.val_fraction)))
            held, train = np.sort(order[:n_val]), np.sort(order[n_val:])
            if self.contamination is not None:
                held = np.arange(len(X))  # the contamination quantile is over all of X
            if rows and preset in ROW_PRESETS:
                return self._train_rows(preset, X, train, held, rng), take(X, held), take(X, train)
            from .embed import train_on_samples

            model = train_on_samples(preset, take(X, train), out=self.out, **self.train_kwargs)
            return model, take(X, held), take(X, train)
        model = load_model(self.model)
        return model, X, X

    def _train_rows(self, preset: str, X: np.ndarray, train: np.ndarray, held: np.ndarray,
                    rng: np.random.Generator) -> Model:
        """Train ``preset`` on rows with the table recipe: ``steps`` optimisation steps whatever the
        number of rows (``ROW_EPOCHS`` passes over ``steps * batch / ROW_EPOCHS`` rows drawn from
        ``train``, repeated when there are fewer), a code of a quarter of the columns. Options
        given to the detector (``epochs``, ``latent_dim``, ``batch_size`` ...) win over the recipe;
        with ``epochs`` given, all of ``train`` is used for that many epochs."""
        from ..fitting import fit

        # latent_dim 0: a quarter of the model-space features (config.auto_latent_dim)
        options: dict[str, Any] = {"latent_dim": 0, "batch_size": ROW_BATCH, "lr": ROW_LR, "seed": self.seed}
        if preset in ("deep", "denoising", "vae"):
            options["hidden"] = "auto"  # the vae preset's 512-256 is sized for images
        options.update(self.train_kwargs)
        fit_rows = train
        if "epochs" not in self.train_kwargs:
            batch = int(options["batch_size"])
            steps = self.steps or row_steps(len(train), batch)
            per_epoch = max(1, steps * batch // ROW_EPOCHS)
            repeats = -(-per_epoch // len(train))
            fit_rows = np.concatenate([rng.permutation(train) for _ in range(repeats)])[:per_epoch]
            options["epochs"] = ROW_EPOCHS
        val = rng.choice(held, size=min(len(held), 2048), replace=False)
        kind = "table" if is_table(X) else "vector"
        return fit(take(X, fit_rows), preset, validation=take(X, np.sort(val)), kind=kind, save_to=self.out,
                   **options)

    def fit(self, X: Any, y: Any = None) -> AnomalyDetector:
        """Train (for a preset) or take the model, and set ``threshold_`` from normal data ``X``."""
        X = _as_images(X)
        model, held, train = self._trained(X)
        return self.fit_scoring(model, train, held)

    def fit_scoring(self, model: Model, train: Any, held: Any) -> AnomalyDetector:
        """Take the trained ``model``: fit the code-space term on the codes of ``train`` (rows) and
        set ``threshold_`` from the scores of ``held``."""
        self.model_ = model
        self.score_ = resolve_score(model, self.score)
        self.neighbours_ = None
        model.fitted.pop(CodeNeighbours.key, None)
        k = self._neighbour_count(model)
        if k:
            self.neighbours_ = self._fit_neighbours(train, k)
            model.fitted[CodeNeighbours.key] = self.neighbours_
        fitted = AnomalyThreshold.fit(self._scores(held), score=self.score_, contamination=self.contamination,
                                      percentile=self.percentile, elbo_samples=self.elbo_samples, seed=self.seed)
        self._set_fitted(fitted)
        self.model_.fitted[AnomalyThreshold.key] = fitted
        return self

    def _neighbour_count(self, model: Model) -> int:
        if self.neighbours == "auto":
            return ROW_NEIGHBOURS if model.preprocessing.kind in ("vector", "table") else 0
        return int(self.neighbours)

    def _fit_neighbours(self, train: Any, k: int) -> CodeNeighbours:
        """Reference codes of up to ``ROW_REFERENCE`` training rows, and the spread of both terms over them."""
        pick = np.sort(np.random.default_rng(self.seed + 1).permutation(len(train))[:ROW_REFERENCE])
        rows = train.iloc[pick] if hasattr(train, "iloc") else train[pick]
        x_ref, _ = self.model_.preprocessing.to_model(rows, device=self.model_.device)
        with torch.inference_mode():
            codes = torch.cat([self.model_.module.eval().encode(x_ref[i:i + 4096]).float()
                               for i in range(0, len(x_ref), 4096)])
        k = min(k, len(codes))
        recon, _ = model_space_errors(self.model_, x_ref, self.score_, elbo_samples=self.elbo_samples, seed=self.seed)
        return CodeNeighbours.fit(codes, recon, code_distances(self.model_, x_ref, codes, k), k=k, weight=ROW_WEIGHT)

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
        return self._model_space_scores_and_maps(x_model)[0]

    def _model_space_scores_and_maps(self, x_model: torch.Tensor, progress: bool = False):
        if not hasattr(self, "score_"):  # fit sets model_ and score_ before it scores its held-out data
            self._check_fitted()
        scores, maps = model_space_errors(self.model_, x_model, self.score_, elbo_samples=self.elbo_samples,
                                          seed=self.seed, progress=progress)
        nb = getattr(self, "neighbours_", None)
        if nb is not None:
            scores = nb.combine(scores, code_distances(self.model_, x_model, nb.codes, nb.k))
        return scores, maps

    def scores_and_maps(self, X: Any, *, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`score_samples` and :meth:`pixel_maps` of ``X`` in one pass."""
        self._check_fitted()
        x_model, _ = self.model_.preprocessing.to_model(_as_images(X), device=self.model_.device)
        return self._model_space_scores_and_maps(x_model, progress)

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
        """Each column's share of each row's reconstruction error, (N, columns): for a table, a
        categorical column's one-hot slots are added up; for ``mse`` the shares sum to the error
        (the score itself also has the code-space term when ``neighbours_`` is set)."""
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
        model, fitted = saved_component(model, AnomalyThreshold, "anomaly threshold")
        det = cls(model, score=fitted.score, contamination=fitted.contamination,
                  percentile=fitted.percentile or 99.0, elbo_samples=fitted.elbo_samples, seed=fitted.seed)
        try:
            det.score_ = resolve_score(model, fitted.score)
        except AekitError as err:
            raise AekitError(f"the saved anomaly threshold of {model.path or 'this model'} does not fit the model "
                             f"({err}); refit it with {AnomalyThreshold.fit_hint}") from None
        det.model_ = model
        det.neighbours_ = component(model.fitted, CodeNeighbours)
        det._set_fitted(fitted)
        return det

    load = from_model

    def __repr__(self) -> str:
        fitted = f", threshold_={self.threshold_:.6g}" if hasattr(self, "threshold_") else ""
        name = self.model if isinstance(self.model, str) else type(self.model).__name__
        return f"AnomalyDetector({name!r}, score={self.score!r}{fitted})"


def fit_threshold_after_training(model: Model, splits: Any, percentile: float = 99.0) -> AnomalyThreshold:
    """Called by the trainer for tables: the detector's score, as :class:`AnomalyDetector` fits
    it (the code-space term from the training rows' codes), and the ``percentile``-th percentile
    of the validation rows' scores (the training rows' when there is no validation split) as the
    saved threshold, so a table run scores rows the way ``AnomalyDetector()`` does."""
    held = splits.val if len(splits.val) else splits.train
    det = AnomalyDetector(model, percentile=percentile, seed=model.config.train.seed)
    det.fit_scoring(model, splits.train.samples, held.samples)
    return model.fitted[AnomalyThreshold.key]


def _as_images(X: Any) -> Any:
    if isinstance(X, torch.Tensor) or is_table(X):
        return X
    X = np.asarray(X)
    if X.ndim == 3:  # (N, H, W) grayscale
        X = X[..., None]
    return X
