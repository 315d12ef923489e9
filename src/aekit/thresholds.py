"""The anomaly threshold saved with a model: the fitted components ``"anomaly"`` and ``"code_neighbours"``.

:class:`~aekit.tasks.anomaly.AnomalyDetector` computes anomaly scores; what it learns from the
scores of normal data (the threshold, their spread, how the threshold was chosen and with which
score settings) is an :class:`AnomalyThreshold`, which ``AnomalyDetector.from_model`` rebuilds
the detector from. Its default on rows of a table adds a code-space term, the distances to
reference training codes (:class:`CodeNeighbours`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from . import fitted
from .errors import AekitError

SCORE_KINDS = ("mse", "bce", "ssim", "elbo")  # resolved scores (``auto`` is resolved before fitting)


@fitted.register_fitted
@dataclass(frozen=True)
class AnomalyThreshold(fitted.FittedComponent):
    """Scores above ``threshold`` are anomalies.

    Args:
        score: the score kind it was fitted for (``mse``, ``bce``, ``ssim`` or ``elbo``).
        threshold: the threshold on that score.
        scale: spread (standard deviation) of the normal scores, for ``predict_proba``.
        n_fit: normal images whose scores set it.
        contamination: the expected share of anomalies it was set for (the ``1 - contamination``
            quantile of the scores), or ``None`` when ``percentile`` set it.
        percentile: the percentile of the normal scores it is, or ``None`` with ``contamination``.
        elbo_samples: posterior samples per image of the ``elbo`` score.
        seed: seed of the ``elbo`` score's posterior samples.
    """

    key: ClassVar[str] = "anomaly"
    fit_hint: ClassVar[str] = "aekit detect RUN --fit NORMAL_IMAGES --save (or AnomalyDetector(model).fit(X))"

    score: str
    threshold: float
    scale: float
    n_fit: int
    contamination: float | None = None
    percentile: float | None = 99.0
    elbo_samples: int = 4
    seed: int = 0

    def __post_init__(self):
        if self.score not in SCORE_KINDS:
            raise AekitError(f"score: expected one of {', '.join(SCORE_KINDS)}; got {self.score!r}")
        if not np.isfinite(self.threshold):
            raise AekitError(f"threshold: expected a finite number; got {self.threshold!r}")
        if not (np.isfinite(self.scale) and self.scale > 0):
            raise AekitError(f"scale: expected a finite number > 0; got {self.scale!r}")
        if self.n_fit < 1:
            raise AekitError(f"n_fit: expected at least 1 normal image; got {self.n_fit}")
        if (self.contamination is None) == (self.percentile is None):
            raise AekitError(f"expected either a contamination or a percentile; got contamination="
                             f"{self.contamination!r}, percentile={self.percentile!r}")
        if self.contamination is not None and not 0.0 < self.contamination < 0.5:
            raise AekitError(f"contamination: expected a share in (0, 0.5); got {self.contamination!r}")
        if self.percentile is not None and not 0.0 < self.percentile < 100.0:
            raise AekitError(f"percentile: expected a number in (0, 100); got {self.percentile!r}")
        if self.elbo_samples < 1:
            raise AekitError(f"elbo_samples: expected at least 1; got {self.elbo_samples}")

    @classmethod
    def fit(cls, scores: np.ndarray, *, score: str, contamination: float | None = None, percentile: float | None = 99.0,
            elbo_samples: int = 4, seed: int = 0) -> AnomalyThreshold:
        """The threshold of normal ``scores``: their ``1 - contamination`` quantile, else ``percentile``."""
        scores = np.asarray(scores, dtype=np.float64)
        if scores.ndim != 1 or len(scores) == 0 or not np.isfinite(scores).all():
            raise AekitError(f"expected a non-empty vector of finite scores of normal images; got shape "
                             f"{scores.shape}" + ("" if np.isfinite(scores).all() else " with NaN or Inf"))
        if contamination is not None:
            threshold, percentile = float(np.quantile(scores, 1.0 - contamination)), None
        elif percentile is not None and 0.0 < percentile < 100.0:
            threshold = float(np.percentile(scores, percentile))
        else:
            raise AekitError(f"percentile: expected a number in (0, 100); got {percentile!r}")
        return cls(score, threshold, float(max(scores.std(), 1e-12)), int(len(scores)), contamination, percentile,
                   int(elbo_samples), int(seed))

    def to_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        return asdict(self), {}  # the fields, as AnomalyDetector has saved them since the format began

    @classmethod
    def from_state(cls, info: Mapping[str, Any], tensors: Mapping[str, torch.Tensor]) -> AnomalyThreshold:
        info = fitted.entry(info, "anomaly")
        return cls(
            score=fitted.choice(info, "score", SCORE_KINDS),
            threshold=fitted.number(info, "threshold"),
            scale=fitted.number(info, "scale"),
            n_fit=fitted.integer(info, "n_fit", minimum=1),
            contamination=fitted.number(info, "contamination", default=None, allow_none=True),
            percentile=fitted.number(info, "percentile", default=None, allow_none=True),
            elbo_samples=fitted.integer(info, "elbo_samples", default=4, minimum=1),
            seed=fitted.integer(info, "seed", default=0),
        )


@fitted.register_fitted
@dataclass(frozen=True, eq=False)
class CodeNeighbours(fitted.FittedComponent):
    """The code-space term of the default detector on rows: distances to training codes.

    The score of a row is ``(e - recon_center) / recon_scale + weight * (d - knn_center) /
    knn_scale``: its reconstruction score ``e`` and the mean distance ``d`` of its code to its
    ``k`` nearest reference codes, each put on a robust common scale (median and interquartile
    range over the training rows) so neither term's units dominate the sum.

    Args:
        codes: reference codes (M, latent_dim) of training rows.
        k: neighbours whose distances are averaged.
        weight: weight of the distance term.
        recon_center, recon_scale, knn_center, knn_scale: the robust centre and spread of each term.
    """

    key: ClassVar[str] = "code_neighbours"
    fit_hint: ClassVar[str] = "AnomalyDetector().fit(rows) (the default detector on rows of a table)"

    codes: torch.Tensor
    k: int
    weight: float
    recon_center: float
    recon_scale: float
    knn_center: float
    knn_scale: float

    def __post_init__(self):
        if not isinstance(self.codes, torch.Tensor) or self.codes.dim() != 2 or len(self.codes) < 1:
            shape = getattr(self.codes, "shape", self.codes)
            raise AekitError(f"codes: expected a (M, latent_dim) tensor; got {shape}")
        if not 1 <= self.k <= len(self.codes):
            raise AekitError(f"k: expected 1 to {len(self.codes)} (the reference codes); got {self.k}")
        for name in ("weight", "recon_center", "recon_scale", "knn_center", "knn_scale"):
            if not np.isfinite(getattr(self, name)):
                raise AekitError(f"{name}: expected a finite number; got {getattr(self, name)!r}")
        if self.recon_scale <= 0 or self.knn_scale <= 0:
            raise AekitError(f"expected positive scales; got recon_scale={self.recon_scale}, "
                             f"knn_scale={self.knn_scale}")

    @classmethod
    def fit(cls, codes: torch.Tensor, recon: np.ndarray, distances: np.ndarray, *, k: int,
            weight: float) -> CodeNeighbours:
        """From reference ``codes`` and the two terms of training rows (their scores and distances)."""

        def center_scale(values: np.ndarray) -> tuple[float, float]:
            q1, median, q3 = np.percentile(np.asarray(values, dtype=np.float64), [25, 50, 75])
            spread = q3 - q1 if q3 - q1 > 1e-12 else max(float(np.std(values)), 1e-12)
            return float(median), float(spread)

        (rc, rs), (kc, ks) = center_scale(recon), center_scale(distances)
        return cls(codes.detach().float().cpu().contiguous(), int(k), float(weight), rc, rs, kc, ks)

    def combine(self, recon: np.ndarray, distances: np.ndarray) -> np.ndarray:
        """The combined score of rows with reconstruction scores ``recon`` and code distances ``distances``."""
        return (np.asarray(recon, dtype=np.float64) - self.recon_center) / self.recon_scale \
            + self.weight * (np.asarray(distances, dtype=np.float64) - self.knn_center) / self.knn_scale

    def to_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        info = {"k": self.k, "weight": self.weight, "recon_center": self.recon_center,
                "recon_scale": self.recon_scale, "knn_center": self.knn_center, "knn_scale": self.knn_scale}
        return info, {"codes": self.codes}

    @classmethod
    def from_state(cls, info: Mapping[str, Any], tensors: Mapping[str, torch.Tensor]) -> CodeNeighbours:
        info = fitted.entry(info, "code_neighbours")
        return cls(codes=fitted.tensor(tensors, "codes", ndim=2).float(), k=fitted.integer(info, "k", minimum=1),
                   weight=fitted.number(info, "weight"), recon_center=fitted.number(info, "recon_center"),
                   recon_scale=fitted.number(info, "recon_scale"), knn_center=fitted.number(info, "knn_center"),
                   knn_scale=fitted.number(info, "knn_scale"))


SERIES_SCORES = ("mae", "mse")  # per-timestamp reconstruction errors of a series model
SERIES_METHODS = ("max", "percentile", "contamination", "fixed")
SERIES_FOLDS = ("min", "window", "step")  # how window errors become a sample's score (see aekit.tasks.series)


@fitted.register_fitted
@dataclass(frozen=True)
class SeriesThreshold(fitted.FittedComponent):
    """The threshold of a series model's per-timestamp scores, and how flagged samples become intervals.

    Args:
        score: ``mae`` or ``mse``: the reconstruction error of each sample, averaged over the
            windows covering it (see :mod:`aekit.tasks.series`).
        threshold: samples scoring above it are anomalous.
        method: how it was set from the normal series' scores: ``max`` (the largest score of a
            sample or a window, so nothing in the normal series is flagged; with ``fold="min"``
            this is the Keras example's rule), ``percentile``, ``contamination`` (the ``1 - level``
            quantile) or ``fixed`` (given as a number).
        level: the percentile or contamination, or ``None`` for ``max`` and ``fixed``.
        scale: spread (standard deviation) of the normal scores, for ``predict_proba``.
        n_fit: samples of the normal series whose scores set it.
        min_length: anomaly intervals shorter than this many samples are dropped.
        merge_gap: intervals at most this many samples apart are merged into one.
        fold: how window errors become a sample's score: ``min`` (the smallest error of the
            windows covering it), ``window`` (their mean error) or ``step`` (its own error in
            each window covering it).
    """

    key: ClassVar[str] = "series_anomaly"
    fit_hint: ClassVar[str] = ("aekit detect RUN SERIES --fit NORMAL_SERIES --save (or "
                               "SeriesDetector(model).fit(normal_series))")

    score: str
    threshold: float
    method: str
    level: float | None
    scale: float
    n_fit: int
    min_length: int = 1
    merge_gap: int = 0
    fold: str = "min"

    def __post_init__(self):
        if self.fold not in SERIES_FOLDS:
            raise AekitError(f"fold: expected one of {', '.join(SERIES_FOLDS)}; got {self.fold!r}")
        if self.score not in SERIES_SCORES:
            raise AekitError(f"score: expected one of {', '.join(SERIES_SCORES)}; got {self.score!r}")
        if self.method not in SERIES_METHODS:
            raise AekitError(f"method: expected one of {', '.join(SERIES_METHODS)}; got {self.method!r}")
        if not np.isfinite(self.threshold):
            raise AekitError(f"threshold: expected a finite number; got {self.threshold!r}")
        if not (np.isfinite(self.scale) and self.scale > 0):
            raise AekitError(f"scale: expected a finite number > 0; got {self.scale!r}")
        if self.n_fit < 1:
            raise AekitError(f"n_fit: expected at least 1 normal sample; got {self.n_fit}")
        if self.method == "percentile" and not (self.level is not None and 0 < self.level < 100):
            raise AekitError(f"percentile: expected a number in (0, 100); got {self.level!r}")
        if self.method == "contamination" and not (self.level is not None and 0 < self.level < 0.5):
            raise AekitError(f"contamination: expected a share in (0, 0.5); got {self.level!r}")
        if self.min_length < 1:
            raise AekitError(f"min_length: expected at least 1 sample; got {self.min_length}")
        if self.merge_gap < 0:
            raise AekitError(f"merge_gap: expected 0 or more samples; got {self.merge_gap}")

    @classmethod
    def fit(cls, scores: np.ndarray, *, score: str, method: str = "max", level: float | None = None,
            threshold: float | None = None, min_length: int = 1, merge_gap: int = 0,
            fold: str = "min", window_scores: np.ndarray | None = None) -> SeriesThreshold:
        """The threshold of a normal series' per-timestamp ``scores`` (NaN, for unscored samples,
        left out); ``window_scores`` (each window's mean error) raise ``max`` to the largest window's."""
        scores = np.asarray(scores, dtype=np.float64)
        scores = scores[np.isfinite(scores)]
        if scores.ndim != 1 or len(scores) == 0:
            raise AekitError("expected per-timestamp scores of a normal series; got none (is every segment "
                             "shorter than the window?)")
        if method == "max":
            # A sample's min- or mean-fold score never exceeds its windows' largest error, so the
            # largest window error is the bound under which nothing in the normal series is flagged.
            largest = np.asarray(window_scores if window_scores is not None else [], dtype=np.float64)
            value, level = float(max(scores.max(), largest.max(initial=-np.inf))), None
        elif method == "percentile":
            if level is None or not 0 < level < 100:
                raise AekitError(f"percentile: expected a number in (0, 100); got {level!r}")
            value = float(np.percentile(scores, level))
        elif method == "contamination":
            if level is None or not 0 < level < 0.5:
                raise AekitError(f"contamination: expected a share in (0, 0.5); got {level!r}")
            value = float(np.quantile(scores, 1.0 - level))
        elif method == "fixed":
            if threshold is None:
                raise AekitError("method fixed: expected a threshold value")
            value, level = float(threshold), None
        else:
            raise AekitError(f"method: expected one of {', '.join(SERIES_METHODS)}; got {method!r}")
        return cls(score, value, method, None if level is None else float(level), float(max(scores.std(), 1e-12)),
                   int(len(scores)), int(min_length), int(merge_gap), fold)

    def to_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        return asdict(self), {}

    @classmethod
    def from_state(cls, info: Mapping[str, Any], tensors: Mapping[str, torch.Tensor]) -> SeriesThreshold:
        info = fitted.entry(info, "series_anomaly")
        return cls(
            score=fitted.choice(info, "score", SERIES_SCORES),
            threshold=fitted.number(info, "threshold"),
            method=fitted.choice(info, "method", SERIES_METHODS),
            level=fitted.number(info, "level", default=None, allow_none=True),
            scale=fitted.number(info, "scale"),
            n_fit=fitted.integer(info, "n_fit", minimum=1),
            min_length=fitted.integer(info, "min_length", default=1, minimum=1),
            merge_gap=fitted.integer(info, "merge_gap", default=0, minimum=0),
            fold=fitted.choice(info, "fold", SERIES_FOLDS, default="window"),
        )
