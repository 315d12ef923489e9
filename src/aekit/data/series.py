"""Time series: reading, gaps, per-channel normalisation and sliding windows, saved with the model.

A series is T samples of C channels (value columns), with timestamps or without (equally spaced
samples). :func:`read_series` reads a CSV/TSV/Parquet file or a DataFrame with a timestamp column
and one or more value columns, or an array ``(T,)`` / ``(T, C)``, into a :class:`TimeSeries`,
with clear errors for a missing column, a text value, NaN or timestamps that go back.

**Windows.** The model sees windows of ``L`` consecutive samples, ``(C, L)``: channels first,
like the ``(C, H, W)`` of images and the ``(B, C, L)`` of ``torch.nn.Conv1d``. (Users hand over
series as ``(T, C)``, one row per timestamp; windows given directly are ``(N, C, L)``.) Training
windows start every ``stride`` samples; scoring uses every window (stride 1), so each sample is
covered by up to ``L`` windows.

**Gaps.** The regular step is the median step between timestamps; a step longer than
``gap_factor`` (1.5) times it is a gap. Windows are never silently laid across a gap: with
``gaps="split"`` (the default) the series is cut into gap-free segments and windows stay inside
them (a segment shorter than one window is reported and left unscored); ``gaps="error"`` makes
any gap (or a repeated timestamp) an error naming where it is; ``gaps="ignore"`` windows the
samples as if equally spaced, which is what record-by-record benchmarks such as NAB do, and still
reports the gaps. Other irregular steps (shorter or slightly longer than the regular one, a
repeated timestamp) are counted and reported in :class:`SeriesLayout`.

**Normalisation** is per channel, ``(x - mean) / std`` with the training series' statistics.
Everything recorded (channel names, window, stride, statistics, timestamp column, regular step,
gap policy) is plain JSON in the model's ``config.json`` under ``preprocessing`` with
``"kind": "series"``; nothing is pickled. A series sampled at another step than the training
series is refused (a window of 288 five-minute steps is not a window of 288 hours).

Example::

    series = read_series("art_daily_small_noise.csv")          # timestamp,value
    prep = SeriesPreprocessing.fit(series, window=288)
    windows = prep.to_storage(series)                           # (3745, 1, 288) float32, model space
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import AekitError
from .preprocess import InputSpace, stat_tensors
from .tablefiles import SHOWN, pandas_module, row_list

KIND = "series"
GAPS = ("split", "ignore", "error")
TIME_KINDS = ("datetime", "number", "none")
DEFAULT_TIMESTAMP = "timestamp"


# --------------------------------------------------------------------------- the series as read
@dataclass
class TimeSeries:
    """A series as read.

    Attributes:
        values: ``(T, C)`` float64, finite.
        timestamps: ``(T,)`` ``datetime64[ns]`` or float64 (a numeric time axis), or ``None``
            (equally spaced samples, numbered 0..T-1).
        channels: the value columns' names, C of them.
        timestamp_column: the timestamp column's name, or ``None``.
        source: where it came from, in words.
    """

    values: np.ndarray
    timestamps: np.ndarray | None = None
    channels: tuple[str, ...] = ("value",)
    timestamp_column: str | None = None
    source: str = "an array"

    def __len__(self) -> int:
        return int(self.values.shape[0])

    @property
    def time_kind(self) -> str:
        if self.timestamps is None:
            return "none"
        return "datetime" if np.issubdtype(self.timestamps.dtype, np.datetime64) else "number"

    def slice(self, start: int, stop: int) -> TimeSeries:
        """Samples ``start:stop`` (a view of the values)."""
        ts = None if self.timestamps is None else self.timestamps[start:stop]
        return TimeSeries(self.values[start:stop], ts, self.channels, self.timestamp_column,
                          f"{self.source} [{start}:{stop}]")

    def time_axis(self) -> np.ndarray:
        """float64 times: seconds for datetimes, the numbers themselves, or positions 0..T-1."""
        return time_axis(self.timestamps, len(self))

    def labels(self) -> list[Any]:
        """One printable time label per sample: ISO timestamps, numbers or positions."""
        if self.timestamps is None:
            return list(range(len(self)))
        if self.time_kind == "datetime":
            return [str(t) for t in np.datetime_as_string(self.timestamps, unit="s")]
        return [float(t) for t in self.timestamps]


def time_axis(timestamps: np.ndarray | None, n: int) -> np.ndarray:
    if timestamps is None:
        return np.arange(n, dtype=np.float64)
    if np.issubdtype(timestamps.dtype, np.datetime64):
        return timestamps.astype("datetime64[ns]").astype(np.int64).astype(np.float64) / 1e9
    return timestamps.astype(np.float64)


def describe_step(step: float | None, time_kind: str) -> str:
    if step is None:
        return "no timestamps"
    if time_kind != "datetime":
        return f"{step:g}"
    for unit, seconds in (("d", 86400), ("h", 3600), ("min", 60)):
        if step >= seconds and step % seconds == 0:
            return f"{int(step // seconds)} {unit}"
    return f"{step:g} s"


def is_series(x: Any) -> bool:
    return isinstance(x, TimeSeries)


def _channel_names(c: int) -> tuple[str, ...]:
    return ("value",) if c == 1 else tuple(f"value_{i}" for i in range(c))


def _from_array(array: Any, source: str, channels: tuple[str, ...] | None) -> TimeSeries:
    if hasattr(array, "detach"):
        array = array.detach().cpu().numpy()
    array = np.asarray(array)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise AekitError(f"{source}: expected numbers; got an array of dtype {array.dtype}")
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise AekitError(f"{source}: expected a series (T,) or (T, C); got shape {array.shape}")
    values = array.astype(np.float64)
    names = channels if channels is not None and len(channels) == values.shape[1] else _channel_names(values.shape[1])
    _check_finite(values, names, source)
    return TimeSeries(values, None, names, None, source)


def _check_finite(values: np.ndarray, names: tuple[str, ...], source: str) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        parts = []
        for c in np.flatnonzero(bad.any(axis=0))[:SHOWN]:
            rows = np.flatnonzero(bad[:, c])
            kind = "NaN" if np.isnan(values[rows[0], c]) else "Inf"
            parts.append(f"{names[c]!r} at {row_list(rows)} ({kind})")
        raise AekitError(f"{source}: missing or infinite values in column(s) {'; '.join(parts)}; fill or drop "
                         "them first (a series is windowed sample by sample)")


def _read_frame(path: Path) -> Any:
    pd = pandas_module()
    if not path.is_file():
        raise AekitError(f"series file {path} does not exist" if not path.exists() else f"{path} is not a file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return pd.read_csv(path)
    if suffix in (".tsv", ".tab"):
        return pd.read_csv(path, sep="\t")
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path, engine="pyarrow")
    raise AekitError(f"{path}: unknown series format {suffix or '(no suffix)'}; expected .csv, .tsv, .parquet "
                     "or .npy")


def read_series(source: Any, *, timestamp_column: str | None = None, value_columns: tuple[str, ...] | list[str] = (),
                what: str | None = None) -> TimeSeries:
    """Read a series: a CSV/TSV/Parquet file or DataFrame (a timestamp column and value columns),
    a ``.npy`` file, an array ``(T,)`` or ``(T, C)``, or a :class:`TimeSeries` (returned as is).

    Args:
        source: the path, frame, array or series.
        timestamp_column: the timestamp column; ``None``: ``timestamp`` when there is one (or the
            frame's DatetimeIndex), else none (samples equally spaced).
        value_columns: the value columns; empty: every other column.
        what: how errors name the source (default: the path, or "the series").

    Raises:
        AekitError: a missing timestamp or value column, a text value, NaN or Inf, unparseable or
            decreasing timestamps, fewer than 2 samples.
    """
    if isinstance(source, TimeSeries):
        return source
    value_columns = tuple(str(c) for c in value_columns)
    pd = pandas_module() if not isinstance(source, np.ndarray) else None
    if isinstance(source, (str, Path)):
        path = Path(source)
        name = what or str(path)
        if path.suffix.lower() == ".npy":
            series = _from_array(np.load(path, allow_pickle=False), name, value_columns or None)
            return _check_length(series)
        frame = _read_frame(path)
    elif pd is not None and isinstance(source, pd.DataFrame):
        frame, name = source, what or "the series"
    else:
        return _check_length(_from_array(source, what or "the series", value_columns or None))
    return _check_length(_series_of_frame(frame, name, timestamp_column, value_columns))


def _check_length(series: TimeSeries) -> TimeSeries:
    if len(series) < 2:
        raise AekitError(f"{series.source}: expected a series of at least 2 samples; got {len(series)}")
    return series


def _series_of_frame(frame: Any, source: str, timestamp_column: str | None,
                     value_columns: tuple[str, ...]) -> TimeSeries:
    pd = pandas_module()
    frame = frame.copy()
    frame.columns = [str(c) for c in frame.columns]
    columns = list(frame.columns)
    timestamps = None
    if timestamp_column is not None and timestamp_column not in columns:
        raise AekitError(f"{source}: no timestamp column {timestamp_column!r}; its columns are "
                         f"{', '.join(map(repr, columns))}")
    if timestamp_column is None and DEFAULT_TIMESTAMP in columns and DEFAULT_TIMESTAMP not in value_columns:
        timestamp_column = DEFAULT_TIMESTAMP
    if timestamp_column is not None:
        timestamps = _parse_timestamps(frame[timestamp_column], source, timestamp_column)
    elif isinstance(frame.index, pd.DatetimeIndex):
        timestamps = frame.index.to_numpy(dtype="datetime64[ns]")
        timestamp_column = frame.index.name or "index"
    if value_columns:
        missing = [c for c in value_columns if c not in columns]
        if missing:
            raise AekitError(f"{source}: missing value column(s) {', '.join(map(repr, missing))}; its columns are "
                             f"{', '.join(map(repr, columns))}")
        if timestamp_column in value_columns:
            raise AekitError(f"{source}: {timestamp_column!r} is both the timestamp and a value column")
        names = value_columns
    else:
        names = tuple(c for c in columns if c != timestamp_column)
    if not names:
        raise AekitError(f"{source}: expected at least one value column besides the timestamp column "
                         f"{timestamp_column!r}; its columns are {', '.join(map(repr, columns))}")
    values = np.empty((len(frame), len(names)), dtype=np.float64)
    for j, name in enumerate(names):
        values[:, j] = _numbers(frame[name], source, name)
    _check_finite(values, names, source)
    return TimeSeries(values, timestamps, tuple(names), timestamp_column, source)


def _numbers(column: Any, source: str, name: str) -> np.ndarray:
    pd = pandas_module()
    if pd.api.types.is_bool_dtype(column):
        return column.to_numpy(dtype=np.float64)
    if pd.api.types.is_numeric_dtype(column):
        return column.to_numpy(dtype=np.float64, na_value=np.nan)
    parsed = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
    text = np.flatnonzero(np.isnan(parsed) & column.notna().to_numpy()
                          & ~column.map(lambda v: isinstance(v, str) and not v.strip()).to_numpy(dtype=bool))
    if len(text):
        examples = ", ".join(repr(column.iloc[i]) for i in text[:SHOWN])
        raise AekitError(f"{source}: value column {name!r} holds text at {row_list(text)} ({examples}); expected "
                         "numbers (is it a label or id column? pass the value columns explicitly)")
    return parsed


def _parse_timestamps(column: Any, source: str, name: str) -> np.ndarray:
    pd = pandas_module()
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        ts = column.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = np.flatnonzero(~np.isfinite(ts))
    else:
        parsed = pd.to_datetime(column, errors="coerce", utc=None)
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
        ts = parsed.to_numpy(dtype="datetime64[ns]")
        bad = np.flatnonzero(np.isnat(ts))
    if len(bad):
        examples = ", ".join(repr(column.iloc[i]) for i in bad[:SHOWN])
        raise AekitError(f"{source}: timestamp column {name!r} has missing or unreadable values at "
                         f"{row_list(bad)} ({examples}); expected dates/times or numbers")
    axis = time_axis(ts, len(ts))
    back = np.flatnonzero(np.diff(axis) < 0)
    if len(back):
        i = int(back[0]) + 1
        raise AekitError(f"{source}: timestamps go back at {row_list(back + 1)} (row {i}: {column.iloc[i]!r} comes "
                         f"after {column.iloc[i - 1]!r}); sort the series by {name!r} first")
    return ts


# --------------------------------------------------------------------------- gaps and segments
@dataclass(frozen=True)
class SeriesLayout:
    """Where a series can be windowed: its regular step, gaps, irregular steps and segments.

    Attributes:
        n: samples.
        step: the regular step (median step; seconds for datetimes), or ``None`` without timestamps.
        time_kind: ``datetime``, ``number`` or ``none``.
        gaps: ``(index, step)`` of each gap: the step from sample ``index - 1`` to ``index``.
        duplicates: positions whose timestamp repeats the previous one.
        irregular: steps that are neither the regular step nor a gap nor a repeat.
        segments: ``(start, stop)`` sample ranges the windows stay in.
        policy: the gap policy applied (``split``, ``ignore`` or ``error``).
        window: the window length the segments were checked against.
    """

    n: int
    step: float | None
    time_kind: str
    gaps: tuple[tuple[int, float], ...]
    duplicates: tuple[int, ...]
    irregular: int
    segments: tuple[tuple[int, int], ...]
    policy: str
    window: int

    @property
    def short_segments(self) -> tuple[tuple[int, int], ...]:
        """Segments shorter than one window: not scored."""
        return tuple(s for s in self.segments if s[1] - s[0] < self.window)

    @property
    def covered(self) -> int:
        """Samples inside a segment at least one window long."""
        return sum(b - a for a, b in self.segments if b - a >= self.window)

    def describe(self) -> str:
        parts = [f"{self.n} samples, step {describe_step(self.step, self.time_kind)}"]
        if self.gaps:
            longest = describe_step(max(g for _, g in self.gaps), self.time_kind)
            parts.append(f"{len(self.gaps)} gap(s) (longest {longest})"
                         + (f", split into {len(self.segments)} segments" if self.policy == "split" else
                            ", windowed across (gaps=ignore)"))
        if self.duplicates:
            parts.append(f"{len(self.duplicates)} repeated timestamp(s)")
        if self.irregular:
            parts.append(f"{self.irregular} irregular step(s)")
        short = self.short_segments
        if short:
            parts.append(f"{len(short)} segment(s) shorter than the window ({sum(b - a for a, b in short)} samples) "
                         "left unscored")
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"samples": self.n, "step": self.step, "time_kind": self.time_kind, "policy": self.policy,
                "gaps": [{"index": i, "step": s} for i, s in self.gaps], "duplicates": list(self.duplicates),
                "irregular_steps": self.irregular, "segments": [list(s) for s in self.segments],
                "unscored_samples": self.n - self.covered}


def series_layout(series: TimeSeries, window: int, *, gaps: str = "split", gap_factor: float = 1.5,
                  step: float | None = None) -> SeriesLayout:
    """The :class:`SeriesLayout` of ``series`` for windows of ``window`` samples.

    ``step``: the regular step to measure gaps against (a model's recorded training step);
    default the series' own median step.
    """
    if gaps not in GAPS:
        raise AekitError(f"gaps: expected one of {', '.join(GAPS)}; got {gaps!r}")
    n = len(series)
    if series.timestamps is None:
        return SeriesLayout(n, None, "none", (), (), 0, ((0, n),), gaps, window)
    steps = np.diff(series.time_axis())
    positive = steps[steps > 0]
    own = float(np.median(positive)) if len(positive) else 0.0
    regular = own if step is None else float(step)
    gap_at = np.flatnonzero(steps > gap_factor * regular) + 1 if regular > 0 else np.array([], dtype=np.int64)
    dup_at = np.flatnonzero(steps == 0) + 1
    tol = 1e-9 * max(regular, 1.0)
    irregular = int(np.sum((np.abs(steps - regular) > tol) & (steps > 0) & (steps <= gap_factor * regular)))
    gap_list = tuple((int(i), float(steps[i - 1])) for i in gap_at)
    if gaps == "error" and (len(gap_at) or len(dup_at)):
        what = []
        labels = series.labels()
        if len(gap_at):
            shown = "; ".join(f"{describe_step(s, series.time_kind)} from {labels[i - 1]} to {labels[i]} (row {i})"
                              for i, s in gap_list[:SHOWN])
            what.append(f"{len(gap_at)} gap(s) longer than {gap_factor:g} x the regular step "
                        f"{describe_step(regular, series.time_kind)}: {shown}")
        if len(dup_at):
            what.append(f"repeated timestamps at {row_list(dup_at)}")
        raise AekitError(f"{series.source}: {'; '.join(what)}; fill them, or use gaps=split (windows stay inside "
                         "the gap-free segments) or gaps=ignore (window the samples as if equally spaced)")
    if gaps == "split" and len(gap_at):
        cuts = [0, *gap_at.tolist(), n]
        segments = tuple((int(a), int(b)) for a, b in zip(cuts[:-1], cuts[1:], strict=True))
    else:
        segments = ((0, n),)
    return SeriesLayout(n, regular if regular > 0 else None, series.time_kind, gap_list,
                        tuple(int(i) for i in dup_at), irregular, segments, gaps, window)


def window_starts(layout: SeriesLayout, window: int, stride: int = 1) -> np.ndarray:
    """Start of every window inside a segment, ``stride`` apart within each segment, (N,) int64."""
    starts = [np.arange(a, b - window + 1, stride, dtype=np.int64) for a, b in layout.segments if b - a >= window]
    return np.concatenate(starts) if starts else np.zeros(0, dtype=np.int64)


def fold_back(per_step: np.ndarray, starts: np.ndarray, n: int, reduce: str = "mean") -> tuple[np.ndarray, np.ndarray]:
    """Fold per-window, per-step values ``(N, C, L)`` onto the ``n`` samples they cover.

    Returns ``(folded (n, C), counts (n,))``: each sample's mean (``reduce="mean"``) or smallest
    value (``reduce="min"``) over the windows covering it (NaN where none does) and how many
    windows that is.
    """
    if reduce not in ("mean", "min"):
        raise ValueError(f"reduce: expected 'mean' or 'min'; got {reduce!r}")
    per_step = np.asarray(per_step, dtype=np.float64)
    _, c, length = per_step.shape
    folded = np.full((n, c), 0.0 if reduce == "mean" else np.inf, dtype=np.float64)
    counts = np.zeros(n, dtype=np.int64)
    combine = np.add if reduce == "mean" else np.minimum
    for j in range(length):  # starts are distinct, so each fancy index touches a sample once
        at = starts + j
        folded[at] = combine(folded[at], per_step[:, :, j])
        counts[at] += 1
    if reduce == "mean":
        with np.errstate(invalid="ignore", divide="ignore"):
            folded /= counts[:, None]
    folded[counts == 0] = np.nan
    return folded, counts


# --------------------------------------------------------------------------- preprocessing
@dataclass(frozen=True)
class SeriesSpace(InputSpace):
    """How a series was windowed, so outputs can be folded back onto its samples."""

    starts: np.ndarray | None = None
    n: int = 0
    series: TimeSeries | None = None
    series_layout: SeriesLayout | None = None


@dataclass(frozen=True)
class SeriesPreprocessing:
    """Recorded series format: channels, window, stride, normalisation, time axis and gap policy.

    Args:
        channels: the value columns' names, in order (C of them).
        window: time steps per window, L.
        stride: steps between training windows.
        mean, std: per-channel statistics of the training series, or ``None`` (no normalisation).
        timestamp_column: the timestamp column it was trained with, or ``None``.
        time_kind: ``datetime``, ``number`` or ``none`` (trained without timestamps).
        step: the training series' regular step (seconds for datetimes), or ``None``.
        gaps: ``split``, ``ignore`` or ``error`` (see the module docstring).
        gap_factor: a step longer than this multiple of ``step`` is a gap.
    """

    channels: tuple[str, ...]
    window: int
    stride: int = 1
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    timestamp_column: str | None = None
    time_kind: str = "none"
    step: float | None = None
    gaps: str = "split"
    gap_factor: float = 1.5
    input_shape: tuple[int, int] = field(init=False)

    kind = KIND

    def __post_init__(self) -> None:
        if not self.channels:
            raise AekitError("preprocessing.channels: expected at least one channel")
        if int(self.window) < 2:
            raise AekitError(f"preprocessing.window: expected at least 2 time steps; got {self.window}")
        if int(self.stride) < 1:
            raise AekitError(f"preprocessing.stride: expected at least 1; got {self.stride}")
        c = len(self.channels)
        for name in ("mean", "std"):
            value = getattr(self, name)
            if value is not None and len(value) != c:
                raise AekitError(f"preprocessing.{name}: expected {c} values; got {len(value)}")
        if (self.mean is None) != (self.std is None):
            raise AekitError("preprocessing: expected both mean and std, or neither")
        if self.std is not None and min(self.std) <= 0:
            raise AekitError(f"preprocessing.std: expected positive values; got min {min(self.std)}")
        if self.gaps not in GAPS:
            raise AekitError(f"preprocessing.gaps: expected one of {', '.join(GAPS)}; got {self.gaps!r}")
        if self.time_kind not in TIME_KINDS:
            raise AekitError(f"preprocessing.time_kind: expected one of {', '.join(TIME_KINDS)}; got "
                             f"{self.time_kind!r}")
        if not self.gap_factor > 1:
            raise AekitError(f"preprocessing.gap_factor: expected a number > 1; got {self.gap_factor}")
        object.__setattr__(self, "input_shape", (c, int(self.window)))

    # ----------------------------------------------------------------- construction
    @classmethod
    def fit(cls, series: Any, *, window: int | None, normalize: bool = True, stride: int = 1, gaps: str = "split",
            gap_factor: float = 1.5) -> SeriesPreprocessing:
        """Record a training series' format and, with ``normalize``, each channel's mean and std.

        Raises:
            AekitError: no window given, or the series (or every gap-free segment of it) shorter
                than one window.
        """
        if window is None:
            raise AekitError("a series needs a window length: window=N time steps (--window N), e.g. the samples "
                             "in one day or cycle (288 for a day of 5-minute steps)")
        series = read_series(series)
        window = int(window)
        layout = series_layout(series, window, gaps=gaps, gap_factor=gap_factor)
        check_windows(series, layout, window)
        mean = std = None
        if normalize:
            mean = tuple(float(v) for v in series.values.mean(0))
            # A constant channel gets std 1: it carries nothing, and dividing by ~0 would blow it up.
            std = tuple(float(v) if v > 1e-12 else 1.0 for v in series.values.std(0))
        return cls(channels=tuple(series.channels), window=window, stride=int(stride), mean=mean, std=std,
                   timestamp_column=series.timestamp_column, time_kind=series.time_kind, step=layout.step,
                   gaps=gaps, gap_factor=float(gap_factor))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": KIND, "input_shape": list(self.input_shape), "channels": list(self.channels),
                "window": self.window, "stride": self.stride,
                "mean": None if self.mean is None else list(self.mean),
                "std": None if self.std is None else list(self.std),
                "timestamp_column": self.timestamp_column, "time_kind": self.time_kind, "step": self.step,
                "gaps": self.gaps, "gap_factor": self.gap_factor}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SeriesPreprocessing:
        known = {"kind", "input_shape", "channels", "window", "stride", "mean", "std", "timestamp_column",
                 "time_kind", "step", "gaps", "gap_factor"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise AekitError(f"preprocessing: unknown key(s) {', '.join(unknown)} for series data")
        missing = [k for k in ("channels", "window") if k not in data]
        if missing:
            raise AekitError(f"preprocessing: missing key(s) {', '.join(missing)} for series data")
        out = cls(channels=tuple(str(c) for c in data["channels"]), window=int(data["window"]),
                  stride=int(data.get("stride", 1)),
                  mean=None if data.get("mean") is None else tuple(float(v) for v in data["mean"]),
                  std=None if data.get("std") is None else tuple(float(v) for v in data["std"]),
                  timestamp_column=data.get("timestamp_column"), time_kind=data.get("time_kind", "none"),
                  step=None if data.get("step") is None else float(data["step"]), gaps=data.get("gaps", "split"),
                  gap_factor=float(data.get("gap_factor", 1.5)))
        if "input_shape" in data and list(data["input_shape"]) != list(out.input_shape):
            raise AekitError(f"preprocessing.input_shape: channels and window give {list(out.input_shape)}; the "
                             f"record says {list(data['input_shape'])}")
        return out

    # ----------------------------------------------------------------- reading and checking
    def read(self, x: Any, what: str | None = None) -> TimeSeries:
        """A series as users have it, read with the recorded timestamp and value columns and checked
        against the record: the channels (by name for frames, by count for arrays) and the step."""
        pd = pandas_module() if not isinstance(x, (np.ndarray, TimeSeries)) else None
        frame_like = isinstance(x, (str, Path)) and Path(x).suffix.lower() != ".npy" \
            or (pd is not None and isinstance(x, pd.DataFrame))
        if frame_like:
            series = read_series(x, timestamp_column=self.timestamp_column, value_columns=self.channels, what=what)
        else:
            series = read_series(x, what=what)
            if tuple(series.channels) not in (tuple(self.channels), _channel_names(series.values.shape[1])):
                raise AekitError(f"{series.source}: this model expects the channel(s) "
                                 f"{', '.join(map(repr, self.channels))}; got {', '.join(map(repr, series.channels))}")
            if series.values.shape[1] != len(self.channels):
                raise AekitError(f"this model expects {self.describe_input()}; got {series.values.shape[1]} "
                                 f"channel(s) (shape {series.values.shape})")
            series = TimeSeries(series.values, series.timestamps, self.channels, series.timestamp_column,
                                series.source)
        self._check_step(series)
        return series

    def _check_step(self, series: TimeSeries) -> None:
        if self.step is None or series.timestamps is None:
            return
        if series.time_kind != self.time_kind:
            raise AekitError(f"{series.source}: this model was trained on {self.time_kind} timestamps; got "
                             f"{series.time_kind} ones in {series.timestamp_column!r}")
        steps = np.diff(series.time_axis())
        positive = steps[steps > 0]
        if not len(positive):
            return
        own = float(np.median(positive))
        if abs(own - self.step) > 0.01 * self.step:
            raise AekitError(f"{series.source}: this model was trained on a series sampled every "
                             f"{describe_step(self.step, self.time_kind)}; this one is sampled every "
                             f"{describe_step(own, self.time_kind)} (a window of {self.window} steps would span "
                             "another time); resample it first")

    def layout(self, series: TimeSeries) -> SeriesLayout:
        """The series' gaps and segments under the recorded policy, measured against the recorded step."""
        return series_layout(series, self.window, gaps=self.gaps, gap_factor=self.gap_factor, step=self.step)

    def normalised(self, values: np.ndarray) -> np.ndarray:
        """(T, C) values -> model space, float32."""
        if self.mean is None or self.std is None:
            return np.ascontiguousarray(values, dtype=np.float32)
        return ((values - np.asarray(self.mean)) / np.asarray(self.std)).astype(np.float32)

    def windows(self, series: TimeSeries, stride: int = 1) -> tuple[torch.Tensor, np.ndarray, SeriesLayout]:
        """Every window inside the gap-free segments, ``stride`` apart: ``(N, C, L)`` model-space
        tensor, the window starts (N,), and the layout. A series whose every segment is shorter
        than one window is an error."""
        layout = self.layout(series)
        check_windows(series, layout, self.window)
        starts = window_starts(layout, self.window, stride)
        # (T, C) -> (C, T) -> unfold over time: a strided view (C, T - L + 1, L), no copy
        values = torch.from_numpy(self.normalised(series.values)).t()
        view = values.unfold(1, self.window, 1)
        if stride == 1 and len(layout.segments) == 1:
            return view.permute(1, 0, 2), starts, layout  # (N, C, L), still a view
        return view[:, torch.from_numpy(starts)].permute(1, 0, 2).contiguous(), starts, layout

    # ----------------------------------------------------------------- fast internal path
    def to_storage(self, series: Any) -> torch.Tensor:
        """A training series -> its windows at the recorded stride, model space, (N, C, L) float32."""
        return self.windows(self.read(series), self.stride)[0]

    def batch_to_model(self, batch: torch.Tensor) -> torch.Tensor:
        """Stored windows are already in model space."""
        return batch.float()

    def _stats(self, device, dtype=torch.float32):
        return stat_tensors(self.mean, self.std, (1, -1, 1), device, dtype)

    def model_to_data(self, y: torch.Tensor) -> torch.Tensor:
        """Model-space windows (B, C, L) -> the channels' own units."""
        stats = self._stats(y.device, y.dtype)
        return y if stats is None else y * stats[1] + stats[0]

    def model_range(self, device: torch.device | str | None = None) -> tuple[Any, Any]:
        """Where corruptions clip in model space: nowhere, a standardised series has no fixed range."""
        return (float("-inf"), float("inf"))

    # ----------------------------------------------------------------- user-facing path
    def describe_input(self) -> str:
        names = ", ".join(self.channels[:10]) + (" ..." if len(self.channels) > 10 else "")
        return f"a series of {len(self.channels)} channel(s) ({names}) in windows of {self.window} steps"

    def to_model(self, x: Any, device: torch.device | str | None = None) -> tuple[torch.Tensor, InputSpace]:
        """A series as users have it (file, DataFrame, :class:`TimeSeries`, array (T,) or (T, C)) ->
        every window (stride 1) in model space, ``(N, C, L)``, and how to fold outputs back onto it;
        or windows given directly, a 3-D array ``(N, C, L)`` in the channels' units."""
        if hasattr(x, "detach") or (isinstance(x, np.ndarray) and x.ndim == 3):
            return self._windows_to_model(x, device)
        series = self.read(x)
        windows, starts, layout = self.windows(series, 1)
        if device is not None:
            windows = windows.to(device)
        return windows.float(), SeriesSpace(False, False, torch.float32, "series", True, starts=starts,
                                            n=len(series), series=series, series_layout=layout)

    def _windows_to_model(self, x: Any, device: Any) -> tuple[torch.Tensor, InputSpace]:
        is_torch = hasattr(x, "detach")
        t = x.detach() if is_torch else torch.from_numpy(np.ascontiguousarray(x))
        if not (t.is_floating_point() or t.dtype in (torch.int32, torch.int64, torch.int16, torch.uint8)):
            raise AekitError(f"expected numeric windows; got dtype {t.dtype}")
        if t.ndim != 3 or tuple(t.shape[1:]) != self.input_shape:
            raise AekitError(f"this model expects {self.describe_input()}: windows (N, {self.input_shape[0]}, "
                             f"{self.window}) (channels first) or a series (T, {len(self.channels)}); got shape "
                             f"{tuple(t.shape)}")
        if t.shape[0] == 0:
            raise AekitError("expected at least one window; got none")
        t = t.float()
        if not bool(torch.isfinite(t).all()):
            raise AekitError("expected finite values; got NaN or Inf in the windows")
        if device is not None:
            t = t.to(device)
        stats = self._stats(t.device)
        t = t if stats is None else (t - stats[0]) / stats[1]
        return t.contiguous(), InputSpace(is_torch, False, torch.float32, "windows", True)

    def output_space(self, *, is_torch: bool, batched: bool, as_float: bool = True) -> InputSpace:
        """How :meth:`from_model` returns decoded codes: windows (N, C, L) in the channels' units."""
        return InputSpace(is_torch, False, torch.float32, "windows", True)

    def from_model(self, y: torch.Tensor, space: InputSpace) -> Any:
        """Model-space windows -> windows (N, C, L) in the channels' units; for a series input, the
        windows folded back onto its samples: (T, C), each sample the mean of the windows covering
        it (NaN where none does, e.g. a segment shorter than a window)."""
        out = self.model_to_data(y.detach().float()).cpu()
        if isinstance(space, SeriesSpace) and space.starts is not None:
            folded, _ = fold_back(out.numpy(), space.starts, space.n)
            return folded
        return out if space.is_torch else out.numpy()


def check_windows(series: TimeSeries, layout: SeriesLayout, window: int) -> None:
    """At least one gap-free segment of ``series`` holds a whole window; else a clear error."""
    if len(series) < window:
        raise AekitError(f"{series.source}: the series has {len(series)} samples, fewer than one window of {window}; "
                         "use a shorter window or a longer series")
    if not any(b - a >= window for a, b in layout.segments):
        longest = max(b - a for a, b in layout.segments)
        raise AekitError(f"{series.source}: no gap-free stretch holds a window of {window} samples (the longest has "
                         f"{longest}; {layout.describe()}); use a shorter window, fill the gaps, or gaps=ignore")


def split_series(series: TimeSeries, val_fraction: float, window: int) -> tuple[TimeSeries, TimeSeries | None]:
    """Training and validation parts in time: the last ``val_fraction`` of the samples validates,
    when both parts hold at least one window (else no validation part)."""
    n = len(series)
    n_val = int(round(n * val_fraction))
    if val_fraction <= 0 or n_val < window or n - n_val < window:
        return series, None
    return series.slice(0, n - n_val), series.slice(n - n_val, n)
