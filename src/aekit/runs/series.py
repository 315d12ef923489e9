"""Series files in, files out: training a series model into a run folder, and ``aekit detect`` on a series.

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

import json
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
                  contamination: float | None = None, min_length: int | None = None,
                  merge_gap: int | None = None, plot: bool = True) -> dict[str, Any]:
    """Score a series with a series model, find its anomaly intervals and write the files above.

    Args:
        model: a model trained on a series.
        path: the series (a CSV/Parquet path, a DataFrame, an array).
        out_dir: the output folder.
        fit: a normal series whose scores set a new threshold (else the saved one is used).
        save: with ``fit``, save the new threshold into the model folder.
        score, threshold, percentile, contamination, min_length, merge_gap: with ``fit``, as
            for :class:`~aekit.tasks.series.SeriesDetector`.
    """
    out_dir = Path(out_dir)
    if fit is not None:
        det = SeriesDetector(model, score=score or "mae", threshold=threshold or "max", percentile=percentile,
                             contamination=contamination, min_length=min_length or 1,
                             merge_gap=merge_gap or 0).fit(fit)
        if save:
            if model.path is None:
                raise AekitError("--save needs a model loaded from a folder")
            model.save(model.path)
    else:
        given = [name for name, v in (("--save", save), ("--contamination", contamination), ("--score", score),
                                      ("--threshold", threshold), ("--min-length", min_length),
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


def train_series(preset: str, dataset: Any, *, out: str | os.PathLike | None = None, overwrite: bool = False,
                 progress: bool = True, **overrides: Any) -> Model:
    """Train a series model on the series ``dataset`` (a CSV/Parquet path) into a run folder.

    The run folder holds ``model/`` (with the threshold fitted on the training series, ``max``
    of its scores, so ``aekit detect RUN series.csv`` works at once), ``run.json``,
    ``metrics.jsonl`` and ``train_detect/`` (the training series' own scores and plot).
    Series runs train in memory (:func:`aekit.fit`); they are not resumable with ``--resume``.
    """
    from ..fileio import append_line
    from ..fitting import fit
    from .folder import RunFolder, default_run_dir

    if isinstance(dataset, (str, Path)) and not Path(dataset).is_file():
        raise AekitError(f"series file {dataset} does not exist" if not Path(dataset).exists()
                         else f"{dataset} is not a file")
    name = Path(dataset).stem if isinstance(dataset, (str, Path)) else "series"
    folder = RunFolder(Path(out) if out is not None else default_run_dir(preset, name))
    if folder.holds_run() and not overwrite:
        folder.refuse_existing()
    model = fit(dataset, preset, kind="series", progress=progress, **overrides)  # every check before writing
    det = SeriesDetector(model).fit(dataset)
    if folder.holds_run():
        folder.clear()
    folder.root.mkdir(parents=True, exist_ok=True)
    model.data_info["source"] = str(dataset) if isinstance(dataset, (str, Path)) else model.data_info["source"]
    model.save(folder.model_dir)
    for record in model.history:
        append_line(folder.metrics_file, json.dumps(record))
    folder.write_record(model.config, model.preprocessing, model.data_info, state="finished",
                        epochs_done=len(model.history), threshold=det.threshold_)
    detect_series(model, dataset, folder.root / "train_detect")
    log.info("trained %s on %s (%s); threshold %.6g; run folder %s", preset, name, model.data_info.get("layout"),
             det.threshold_, folder.root)
    return model
