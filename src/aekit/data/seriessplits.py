"""A time series as training data: ``--dataset series.csv --window N`` -> training and validation parts.

The series is read with :func:`aekit.data.series.read_series` and split in time, not at random
(windows of neighbouring samples overlap, so a random split would validate on the training data):
the last ``val_fraction`` of the samples validates (:func:`~aekit.data.series.split_series`).
Each part is a :class:`SeriesSet` whose ``samples`` is the :class:`~aekit.data.series.TimeSeries`,
so the trainer treats it like an image set's images; its length is the number of training
windows it yields. There is no test part: a series model is judged by what ``aekit detect`` finds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import AekitError
from .download import hash_file
from .series import TimeSeries, check_windows, read_series, series_layout, split_series, window_starts


@dataclass(eq=False)
class SeriesSet:
    """One part of a series and the number of windows it yields at the training stride."""

    samples: TimeSeries | None
    windows: int = 0
    labels: None = None

    def __len__(self) -> int:
        return self.windows


@dataclass(eq=False)
class SeriesSplits:
    """Training and validation parts of one series, and the JSON-able description for the run record."""

    name: str
    train: SeriesSet
    val: SeriesSet
    test: SeriesSet
    info: dict = field(default_factory=dict)
    everything: TimeSeries | None = None  # the whole series, both parts: the threshold is fitted on it
    kind = "series"


def count_windows(series: TimeSeries, data: Any) -> int:
    """Windows of ``series`` at ``data.window`` / ``data.stride`` inside its gap-free segments."""
    layout = series_layout(series, data.window, gaps=data.gaps, gap_factor=data.gap_factor)
    check_windows(series, layout, data.window)
    return len(window_starts(layout, data.window, data.stride))


def load_series_splits(data: Any) -> SeriesSplits:
    """Read the series ``data.dataset`` (a :class:`~aekit.config.DataConfig` with a ``window``) and
    split it in time; a series shorter than one window is a clear error."""
    path = Path(data.dataset).expanduser()
    if not path.is_file():
        raise AekitError(f"series file {path} does not exist" if not path.exists() else f"{path} is not a file")
    series = read_series(path, timestamp_column=data.timestamp_column, value_columns=data.value_columns)
    train, val = split_series(series, data.val_fraction, data.window)
    parts = {"train": SeriesSet(train, count_windows(train, data)),
             "val": SeriesSet(val, 0 if val is None else count_windows(val, data)),
             "test": SeriesSet(None)}
    layout = series_layout(train, data.window, gaps=data.gaps, gap_factor=data.gap_factor)
    info = {
        "source": str(path.resolve()), "kind": "series",
        "files": [{"name": path.name, "path": str(path.resolve()), "size": path.stat().st_size,
                   "sha256": hash_file(path, "sha256"), "verified": False}],
        "channels": list(series.channels), "timestamp_column": series.timestamp_column,
        "splits": {k: len(v) for k, v in parts.items()},
        "samples": {"train": len(train), "val": 0 if val is None else len(val)},
        "val_fraction": float(data.val_fraction), "sample_shape": [len(series.channels), int(data.window)],
        "dtype": "float32", "layout": layout.describe(),
    }
    return SeriesSplits(str(data.dataset), parts["train"], parts["val"], parts["test"], info, everything=series)
