"""A series with its anomaly scores and the detected intervals, as one PNG.

Two stacked panels sharing the time axis: the series (each channel), and the per-timestamp
score with the threshold; detected intervals are shaded on both, labelled windows (when given,
e.g. NAB's) hatched on the series panel.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .curves import save_figure

MAX_CHANNELS_SHOWN = 8


def _axis(timestamps: np.ndarray | None, n: int) -> np.ndarray:
    return np.arange(n) if timestamps is None else timestamps


def plot_series_anomalies(
    values: np.ndarray, scores: np.ndarray, threshold: float, intervals: Sequence[tuple[int, int]],
    path: str | os.PathLike, *, timestamps: np.ndarray | None = None, channels: Sequence[str] = ("value",),
    labelled: Sequence[tuple[Any, Any]] = (), title: str = "", score_name: str = "score",
) -> Path:
    """Write the PNG: ``values`` (T, C), ``scores`` (T,) with ``threshold``, ``intervals`` as
    ``(start, end)`` sample indices (inclusive) shaded; ``labelled`` windows as ``(start, end)``
    in the time axis' units (timestamps, or indices without them)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    values = np.asarray(values, dtype=np.float64).reshape(len(scores), -1)
    x = _axis(timestamps, len(scores))
    fig = Figure(figsize=(11, 5.2))
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    for c in range(min(values.shape[1], MAX_CHANNELS_SHOWN)):
        top.plot(x, values[:, c], linewidth=0.8, label=channels[c] if c < len(channels) else f"channel {c}")
    if values.shape[1] > 1:
        top.legend(fontsize="small", loc="upper left", ncol=min(values.shape[1], 4))
    for i, (a, b) in enumerate(labelled):
        top.axvspan(a, b, facecolor="none", edgecolor="tab:green", hatch="//", linewidth=0.8,
                    label="labelled window" if i == 0 else None)
    bottom.plot(x, scores, color="tab:purple", linewidth=0.9, label=score_name)
    bottom.axhline(threshold, color="tab:red", linestyle="--", linewidth=1, label=f"threshold {threshold:.4g}")
    for ax in (top, bottom):
        for i, (a, b) in enumerate(intervals):
            ax.axvspan(x[a], x[b], color="tab:red", alpha=0.25, linewidth=0,
                       label="detected" if i == 0 and ax is bottom else None)
    bottom.set_ylabel(score_name)
    top.set_ylabel("value")
    bottom.legend(fontsize="small", loc="upper left")
    if title:
        top.set_title(title, fontsize="medium")
    fig.autofmt_xdate()
    fig.tight_layout()
    return save_figure(fig, path, 100)
