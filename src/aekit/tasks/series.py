"""Anomalies in a time series: per-timestamp scores, a threshold and anomaly intervals.

A model trained on windows of normal behaviour reconstructs normal windows well. Every window of
the series (stride 1, inside its gap-free segments) is reconstructed, each window's error is
averaged over its steps, and the errors are folded back onto the timestamps. With ``fold="min"``
(the default) a sample's score is the smallest error among the windows covering it: it scores
high only when every window that holds it does, which is the Keras example's rule and keeps an
interval to the samples the anomaly actually touches instead of widening it by a window on each
side. ``fold="window"`` takes their mean instead (smoother, wider), and ``fold="step"`` the mean
of the sample's own error in each window covering it (sharper for a short event, noisier). Scores
are kept per channel (``channel_scores``, each channel's contribution) and averaged over channels
(``scores``). Samples scoring above the threshold are anomalous; contiguous runs of them
are the anomaly intervals, runs at most ``merge_gap`` samples apart are merged and runs shorter
than ``min_length`` dropped::

    det = SeriesDetector("conv1d", window=288, epochs=30).fit("art_daily_small_noise.csv")
    found = det.detect("art_daily_jumpsup.csv")
    found.intervals            # [{"start_time": "2014-04-11 ...", "end_time": ..., "peak_score": ...}, ...]
    found.scores               # (T,) per-timestamp score, NaN where no window covers the sample
    det.save("runs/series-detector")               # the model folder, threshold included
    det = SeriesDetector.load("runs/series-detector")

Scores (``score``): ``mae`` (absolute error, as in the Keras example) or ``mse`` (squared
error), both in standard deviations of each channel (model space). The threshold (``threshold``):
``"max"``, the largest score of the normal series, per sample or per window, so nothing in it is
flagged (with the ``min`` fold, the Keras example's rule exactly), a ``"percentile"`` of them,
the ``1 - contamination`` quantile, or a number. It is saved with the model as the fitted
component ``series_anomaly`` (:class:`~aekit.thresholds.SeriesThreshold`).

Files and pictures (scores CSV, intervals CSV/JSON, the plot) are :mod:`aekit.runs.series`'s job.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..data.series import SeriesLayout, SeriesSpace, TimeSeries, fold_back
from ..errors import AekitError, NotFittedError
from ..model import Model, load_model, saved_component
from ..thresholds import SERIES_FOLDS, SERIES_SCORES, SeriesThreshold

THRESHOLDS = ("max", "percentile", "contamination")


@dataclass
class SeriesScores:
    """Per-timestamp scores of a series.

    Attributes:
        series: the series as read (timestamps, values, channel names).
        score: ``mae`` or ``mse``.
        fold: ``window`` or ``step`` (see the module docstring).
        scores: ``(T,)`` each sample's score (mean over channels), NaN where no window covers it.
        channel_scores: ``(T, C)`` each channel's share: its error, averaged over the windows.
        counts: ``(T,)`` windows covering each sample.
        window_scores: ``(N,)`` each window's mean error.
        starts: ``(N,)`` each window's first sample.
        layout: the series' gaps and segments.
    """

    series: TimeSeries
    score: str
    fold: str
    scores: np.ndarray
    channel_scores: np.ndarray
    counts: np.ndarray
    window_scores: np.ndarray
    starts: np.ndarray
    layout: SeriesLayout


@dataclass
class SeriesDetection:
    """What :meth:`SeriesDetector.detect` finds.

    Attributes:
        scores: the :class:`SeriesScores`.
        threshold: the threshold applied.
        flags: ``(T,)`` int64, 1 inside an anomaly interval.
        intervals: one dict per interval (see :func:`interval_records`).
    """

    scores: SeriesScores
    threshold: float
    flags: np.ndarray
    intervals: list[dict[str, Any]] = field(default_factory=list)


@torch.inference_mode()
def series_scores(model: Model, series: Any, score: str = "mae", *, fold: str = "min",
                  batch_size: int = 1024) -> SeriesScores:
    """Reconstruct every window of ``series`` and fold the errors back onto its samples (``fold``:
    ``min`` or ``window``, the smallest or the mean of the covering windows' errors, or ``step``,
    the sample's own error in each)."""
    if score not in SERIES_SCORES:
        raise AekitError(f"score: expected one of {', '.join(SERIES_SCORES)} for a series; got {score!r}")
    if fold not in SERIES_FOLDS:
        raise AekitError(f"fold: expected one of {', '.join(SERIES_FOLDS)}; got {fold!r}")
    prep = model.preprocessing
    if prep.kind != "series":
        raise AekitError(f"this model takes {prep.describe_input()}, not a series; series scores need a model "
                         "trained on a series (window=..., e.g. the presets conv1d or lstm)")
    x, space = prep.to_model(series, device=model.device)
    assert isinstance(space, SeriesSpace) and space.starts is not None and space.series is not None
    module = model.module.eval()
    errors = []
    for start in range(0, x.shape[0], batch_size):
        xb = x[start:start + batch_size].float()
        diff = xb - module(xb).x_hat.float()
        errors.append((diff.abs() if score == "mae" else diff.pow(2)).cpu())
    per_step = torch.cat(errors).numpy() if errors else np.zeros((0, *prep.input_shape), dtype=np.float32)
    window_means = per_step.mean(axis=2, keepdims=True)  # (N, C, 1): each window's error per channel
    if fold != "step":  # spread each window's error over the steps it covers
        per_step = np.broadcast_to(window_means, per_step.shape)
    channel, counts = fold_back(per_step, space.starts, space.n, reduce="min" if fold == "min" else "mean")
    return SeriesScores(space.series, score, fold, channel.mean(axis=1), channel, counts,
                        window_means.mean(axis=(1, 2)).astype(np.float64), space.starts, space.series_layout)


def find_intervals(above: np.ndarray, *, min_length: int = 1, merge_gap: int = 0) -> list[tuple[int, int]]:
    """Contiguous runs of True in ``above`` as ``(start, stop)`` (stop exclusive); runs at most
    ``merge_gap`` samples apart are merged, then runs shorter than ``min_length`` are dropped."""
    above = np.asarray(above, dtype=bool)
    if not above.any():
        return []
    edges = np.diff(np.concatenate([[0], above.astype(np.int8), [0]]))
    runs = list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True))
    merged = [runs[0]]
    for a, b in runs[1:]:
        if a - merged[-1][1] <= merge_gap:
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return [(a, b) for a, b in merged if b - a >= min_length]


def interval_records(scores: SeriesScores, runs: list[tuple[int, int]]) -> list[dict[str, Any]]:
    """One dict per interval: first and last sample (index and time), length, peak and mean score,
    and each channel's mean score over it (``channels``), the largest first (``top_channel``)."""
    labels = scores.series.labels()
    names = scores.series.channels
    out = []
    for a, b in runs:
        seg = scores.scores[a:b]
        peak = a + int(np.nanargmax(seg))
        contrib = np.nanmean(scores.channel_scores[a:b], axis=0)
        order = np.argsort(-contrib, kind="stable")
        out.append({
            "start": int(a), "end": int(b - 1), "start_time": labels[a], "end_time": labels[b - 1],
            "length": int(b - a), "peak_time": labels[peak], "peak_score": float(scores.scores[peak]),
            "mean_score": float(np.nanmean(seg)), "top_channel": names[int(order[0])],
            "channels": {names[int(i)]: float(contrib[i]) for i in order},
        })
    return out


class SeriesDetector:
    """Anomaly detector for time series over a trained series model or a preset.

    Args:
        model: a trained :class:`~aekit.Model` of a series, a path to a saved one, or a preset
            name (``conv1d``, ``lstm``, ...; then :meth:`fit` trains it on the normal series).
        window: window length in samples, to train a preset (required then).
        score: ``mae`` (default) or ``mse``.
        fold: ``min`` (default), ``window`` or ``step``: how window errors become a sample's
            score (see the module docstring).
        threshold: ``"max"`` (default: the largest score of the normal series, per sample or
            per window), ``"percentile"``
            (``percentile`` of them), ``"contamination"`` (their ``1 - contamination`` quantile,
            for a normal series that holds some anomalies) or a number.
        percentile: see ``threshold``.
        contamination: see ``threshold``; giving it implies ``threshold="contamination"``.
        min_length: drop anomaly intervals shorter than this many samples.
        merge_gap: merge anomaly intervals at most this many samples apart.
        **train_kwargs: passed to :func:`aekit.fit` when a preset is trained (``epochs=30``,
            ``timestamp_column="ts"``, ``value_columns=("a", "b")``, ``gaps="ignore"``, ...).

    Attributes:
        model_: the trained :class:`~aekit.Model`.
        threshold_: samples scoring above it are anomalous.
        score_: the score kind.
        fitted_: the :class:`~aekit.thresholds.SeriesThreshold` (also ``model_.fitted["series_anomaly"]``).

    Example:
        >>> det = SeriesDetector("conv1d", window=288, epochs=30).fit(normal_frame)
        >>> det.detect(new_frame).intervals[0]["start_time"]
        '2014-04-11 09:00:00'
    """

    def __init__(self, model: Model | str | os.PathLike = "conv1d", *, window: int | None = None, score: str = "mae",
                 fold: str = "min", threshold: str | float = "max", percentile: float = 99.0,
                 contamination: float | None = None, min_length: int = 1, merge_gap: int = 0, **train_kwargs: Any):
        if score not in SERIES_SCORES:
            raise AekitError(f"score: expected one of {', '.join(SERIES_SCORES)}; got {score!r}")
        if fold not in SERIES_FOLDS:
            raise AekitError(f"fold: expected one of {', '.join(SERIES_FOLDS)}; got {fold!r}")
        if isinstance(threshold, str) and threshold not in THRESHOLDS:
            raise AekitError(f"threshold: expected one of {', '.join(THRESHOLDS)} or a number; got {threshold!r}")
        if contamination is not None and not 0.0 < contamination < 0.5:
            raise AekitError(f"contamination: expected a share in (0, 0.5); got {contamination!r}")
        if not 0.0 < percentile < 100.0:
            raise AekitError(f"percentile: expected a number in (0, 100); got {percentile!r}")
        if int(min_length) < 1 or int(merge_gap) < 0:
            raise AekitError(f"expected min_length >= 1 and merge_gap >= 0; got {min_length}, {merge_gap}")
        self.model = model
        self.window = window
        self.score = score
        self.fold = fold
        self.threshold = threshold
        self.percentile = percentile
        self.contamination = contamination
        self.min_length = int(min_length)
        self.merge_gap = int(merge_gap)
        self.train_kwargs = train_kwargs

    # ------------------------------------------------------------------ fitting
    def _model(self, series: Any) -> Model:
        from ..presets import PRESETS

        if isinstance(self.model, Model):
            return self.model
        if isinstance(self.model, str) and self.model in PRESETS:
            from ..fitting import fit

            if self.window is None:
                raise AekitError(f"training the preset {self.model!r} on a series needs window=N (samples per window)")
            return fit(series, self.model, kind="series", window=self.window, **self.train_kwargs)
        return load_model(self.model)

    def fit(self, series: Any, y: Any = None) -> SeriesDetector:
        """Train (for a preset) or take the model, and set ``threshold_`` from the scores of the
        normal ``series`` (a path, DataFrame, :class:`~aekit.data.series.TimeSeries` or array)."""
        model = self._model(series)
        scores = series_scores(model, series, self.score, fold=self.fold)
        if self.contamination is not None:
            method, level, value = "contamination", self.contamination, None
        elif isinstance(self.threshold, str):
            method, value = self.threshold, None
            level = self.percentile if self.threshold == "percentile" else None
        else:
            method, level, value = "fixed", None, float(self.threshold)
        fitted = SeriesThreshold.fit(scores.scores, score=self.score, method=method, level=level, threshold=value,
                                     min_length=self.min_length, merge_gap=self.merge_gap, fold=self.fold,
                                     window_scores=scores.window_scores)
        model.fitted[SeriesThreshold.key] = fitted
        self._set(model, fitted)
        self.fit_scores_ = scores
        return self

    def _set(self, model: Model, fitted: SeriesThreshold) -> None:
        self.model_ = model
        self.fitted_ = fitted
        self.score_ = fitted.score
        self.fold_ = fitted.fold
        self.threshold_ = fitted.threshold
        self.scale_ = fitted.scale

    def _check_fitted(self) -> None:
        if not hasattr(self, "threshold_"):
            raise NotFittedError("this SeriesDetector is not fitted yet; call fit(normal_series) first "
                                 "(or SeriesDetector.load(path) for a saved one)")

    # ------------------------------------------------------------------ inference
    def score_series(self, series: Any) -> SeriesScores:
        """Per-timestamp (and per-channel) scores of ``series``."""
        self._check_fitted()
        return series_scores(self.model_, series, self.score_, fold=self.fold_)

    def score_samples(self, series: Any) -> np.ndarray:
        """Each sample's score, (T,); higher = more anomalous; NaN where no window covers it."""
        return self.score_series(series).scores

    def decision_function(self, series: Any) -> np.ndarray:
        """``score - threshold_`` per sample: positive above the threshold."""
        return self.score_samples(series) - self.threshold_

    def detect(self, series: Any = None, *, scores: SeriesScores | None = None) -> SeriesDetection:
        """Scores, flags and anomaly intervals of ``series`` (or of already computed ``scores``)."""
        self._check_fitted()
        scores = scores if scores is not None else self.score_series(series)
        above = np.nan_to_num(scores.scores, nan=-np.inf) > self.threshold_
        runs = find_intervals(above, min_length=self.fitted_.min_length, merge_gap=self.fitted_.merge_gap)
        flags = np.zeros(len(above), dtype=np.int64)
        for a, b in runs:
            flags[a:b] = 1
        return SeriesDetection(scores, self.threshold_, flags, interval_records(scores, runs))

    def predict(self, series: Any) -> np.ndarray:
        """1 for a sample inside an anomaly interval, 0 otherwise, (T,) int64."""
        return self.detect(series).flags

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike):
        """Save the model folder with the threshold in its fitted state."""
        self._check_fitted()
        return self.model_.save(path)

    @classmethod
    def from_model(cls, model: Model | str | os.PathLike) -> SeriesDetector:
        """The detector saved with ``model`` (a :class:`~aekit.Model` or a path)."""
        model, fitted = saved_component(model, SeriesThreshold, "series anomaly threshold")
        det = cls(model, score=fitted.score, fold=fitted.fold, min_length=fitted.min_length,
                  merge_gap=fitted.merge_gap)
        det._set(model, fitted)
        return det

    load = from_model

    def __repr__(self) -> str:
        fitted = f", threshold_={self.threshold_:.6g}" if hasattr(self, "threshold_") else ""
        name = self.model if isinstance(self.model, str) else type(self.model).__name__
        return f"SeriesDetector({name!r}, score={self.score!r}{fitted})"


def fit_series_threshold_after_training(model: Model, splits: Any) -> SeriesThreshold:
    """Called by the trainer for a series run: the detector's default threshold (``max``, ``min``
    fold) fitted on the whole training series, so ``aekit detect RUN series.csv`` works at once."""
    return SeriesDetector(model).fit(splits.everything).fitted_
