"""Series files in, files out: a series run's evaluation, and ``aekit detect`` on a series.

``evaluate_series_run`` runs ``detect_series`` over a series run's training series.
``detect_series`` writes, into the output folder::

    scores.csv        one row per sample: time, the value columns, score (+ score_<channel> for
                      several channels), windows covering it, anomaly (0/1)
    intervals.csv     one row per anomaly interval: first/last sample and time, length, peak and
                      mean score, the channel that contributed most
    intervals.json    the intervals, the threshold and the series' layout (gaps, segments)
    threshold.json    the threshold applied and how it was set
    detect.json       the summary
    series.png        the series, the score and the threshold, intervals shaded

Everything is computed before the first file is written, and each file is written atomically,
so a bad input leaves the folder as it was.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import AekitError
from ..fileio import atomic_write_csv, atomic_write_json
from ..model import Model
from ..tasks.series import SeriesDetection, SeriesDetector
from ..viz import plot_series_anomalies

log = logging.getLogger(__name__)


def _num(v: float) -> str:
    return "" if not np.isfinite(v) else f"{v:.9g}"


def score_rows(found: SeriesDetection) -> list[list[Any]]:
    s = found.scores
    series = s.series
    names = list(series.channels)
    per_channel = len(names) > 1
    head = [series.timestamp_column or "index", *names, "score"]
    head += [f"score_{n}" for n in names] if per_channel else []
    rows: list[list[Any]] = [head + ["windows", "anomaly"]]
    labels = series.labels()
    for t in range(len(series)):
        row = [labels[t], *(_num(v) for v in series.values[t]), _num(s.scores[t])]
        if per_channel:
            row += [_num(v) for v in s.channel_scores[t]]
        rows.append(row + [int(s.counts[t]), int(found.flags[t])])
    return rows


INTERVAL_COLUMNS = ("start", "end", "start_time", "end_time", "length", "peak_time", "peak_score", "mean_score",
                    "top_channel")


def detect_series(model: Model, path: Any, out_dir: str | os.PathLike, *, fit: Any = None, save: bool = False,
                  score: str | None = None, threshold: str | None = None, percentile: float = 99.0,
                  contamination: float | None = None, fold: str | None = None, min_length: int | None = None,
                  merge_gap: int | None = None, plot: bool = True) -> dict[str, Any]:
    """Score a series with a series model, find its anomaly intervals and write the files above.

    Args:
        model: a model trained on a series.
        path: the series (a CSV/Parquet path, a DataFrame, an array).
        out_dir: the output folder.
        fit: a normal series whose scores set a new threshold (else the saved one is used).
        save: with ``fit``, save the new threshold into the model folder.
        score, threshold, percentile, contamination, fold, min_length, merge_gap: with ``fit``, as
            for :class:`~aekit.tasks.series.SeriesDetector`.
    """
    out_dir = Path(out_dir)
    if fit is not None:
        det = SeriesDetector(model, score=score or "mae", threshold=threshold or "max", percentile=percentile,
                             contamination=contamination, fold=fold or "min", min_length=min_length or 1,
                             merge_gap=merge_gap or 0).fit(fit)
        if save:
            if model.path is None:
                raise AekitError("--save needs a model loaded from a folder")
            model.save(model.path)
    else:
        given = [name for name, v in (("--save", save), ("--contamination", contamination), ("--score", score),
                                      ("--threshold", threshold), ("--fold", fold), ("--min-length", min_length),
                                      ("--merge-gap", merge_gap)) if v]
        if given:
            raise AekitError(f"{', '.join(given)} go(es) with --fit NORMAL_SERIES (the normal series that sets "
                             "the threshold); without it the threshold saved with the model is used")
        det = SeriesDetector.from_model(model)
    found = det.detect(path)
    s = found.scores
    series = s.series
    labels = series.labels()
    # Everything computed; now the files.
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_csv(out_dir / "scores.csv", score_rows(found))
    atomic_write_csv(out_dir / "intervals.csv", [list(INTERVAL_COLUMNS)] +
                     [[i[c] for c in INTERVAL_COLUMNS] for i in found.intervals])
    threshold_info = {**asdict(det.fitted_), "key": det.fitted_.key}
    atomic_write_json(out_dir / "threshold.json", threshold_info)
    layout = s.layout.to_dict()
    atomic_write_json(out_dir / "intervals.json", {"threshold": det.threshold_, "score": det.score_,
                                                   "fold": det.fold_, "intervals": found.intervals,
                                                   "layout": layout})
    result: dict[str, Any] = {
        "n": len(series), "channels": list(series.channels), "score": det.score_, "fold": det.fold_,
        "threshold": det.threshold_, "n_intervals": len(found.intervals), "n_flagged": int(found.flags.sum()),
        "unscored": int(np.isnan(s.scores).sum()), "layout": s.layout.describe(),
        "first": labels[0], "last": labels[-1], "scores_csv": str(out_dir / "scores.csv"),
        "intervals_csv": str(out_dir / "intervals.csv"), "intervals_json": str(out_dir / "intervals.json"),
        "threshold_json": str(out_dir / "threshold.json"),
    }
    if plot:
        spans = [(i["start"], i["end"]) for i in found.intervals]
        plot_series_anomalies(series.values, s.scores, det.threshold_, spans, out_dir / "series.png",
                              timestamps=series.timestamps, channels=series.channels,
                              title=f"{series.source}: {len(found.intervals)} anomaly interval(s)",
                              score_name=f"{det.score_} ({det.fold_} fold)")
        result["plot"] = str(out_dir / "series.png")
    atomic_write_json(out_dir / "detect.json", result)
    return result


def evaluate_series_run(model: Model, splits: Any, out: str | os.PathLike, *,
                        history: list[dict] | None = None) -> dict[str, Any]:
    """A series run's evaluation: ``aekit detect`` over the whole training series (both parts)
    into ``out/train_detect``, with the threshold fitted at the end of training, and ``eval.json``
    (the validation loss, the threshold and what was flagged in the training series itself)."""
    out = Path(out)
    found = detect_series(model, splits.everything, out / "train_detect")
    val = [r["val_loss"] for r in history or () if r.get("val_loss") is not None]
    result = {"dataset": splits.name, "kind": "series", "windows": splits.info.get("splits"),
              "layout": found["layout"], "score": found["score"], "fold": found["fold"],
              "threshold": found["threshold"], "train_intervals": found["n_intervals"],
              "train_flagged": found["n_flagged"], "best_val_loss": min(val) if val else None,
              "train_detect": str(out / "train_detect")}
    atomic_write_json(out / "eval.json", result)
    log.info("threshold %.6g (%s fold); the training series itself: %d anomaly interval(s); %s",
             found["threshold"], found["fold"], found["n_intervals"], out / "train_detect" / "series.png")
    return result
