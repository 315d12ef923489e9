"""Plots written straight to PNG: training curves, bars, histograms, 2-D scatter (latent maps).

Figures are drawn on matplotlib's Agg canvas directly (``Figure`` + ``FigureCanvasAgg``) rather
than through ``pyplot``: that needs no display, does not switch the backend of a user's notebook,
and keeps no global figure list, so a long-running server cannot leak figures. matplotlib is
imported inside the functions so ``import aekit.viz`` stays cheap for the CLI.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..fileio import atomic_write_bytes

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["plot_bars", "plot_history", "plot_histogram", "plot_scatter"]

DPI = 110
_SPLITS = ("train", "val")


def _new_figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: str | os.PathLike[str], dpi: int) -> Path:
    """A matplotlib figure to a PNG file, atomically (the folder is created)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)


def _number(v: Any) -> float | None:
    """``v`` as a finite float, or None for missing, non-numeric, NaN or inf values."""
    if isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _set_log_if_wide(ax: Axes, values: Sequence[float]) -> None:
    # Losses that fall by orders of magnitude are unreadable on a linear axis: everything after
    # the first epochs flattens onto the floor.
    if values and min(values) > 0 and max(values) / min(values) > 10:
        ax.set_yscale("log")


def plot_history(
    records: Sequence[Mapping[str, Any]],
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
    dpi: int = DPI,
) -> Path:
    """Plot every ``train/*`` and ``val/*`` term of a run against epoch, one panel per term.

    ``train/recon`` and ``val/recon`` share the ``recon`` panel. A panel uses a log y axis when
    its values span more than 10x. Non-numeric, NaN and inf values are skipped (a diverged step
    must not break the plot). Records without ``"epoch"`` are placed by ``"step"``, else by their
    index.

    Args:
        records: The lines of a run's ``metrics.jsonl``, e.g. ``{"epoch": 3, "step": 630,
            "train/loss": 0.1, "val/loss": 0.11, "lr": 0.001}``.
        path: Destination PNG.
        title: Figure title.
        dpi: Resolution.

    Returns:
        The destination path.
    """
    xkey = "epoch" if any("epoch" in r for r in records) else "step"
    # term -> split -> list of (x, y); terms in order of first appearance, "loss" first.
    series: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for i, rec in enumerate(records):
        x = _number(rec.get(xkey, i))
        for key, value in rec.items():
            split, _, term = key.partition("/")
            if split not in _SPLITS or not term:
                continue
            y = _number(value)
            slot = series.setdefault(term, {}).setdefault(split, [])
            if x is not None and y is not None:
                slot.append((x, y))
    if not series:
        seen = sorted({k for r in records for k in r})
        raise ValueError(f"expected records with 'train/*' or 'val/*' keys, got keys {seen}")
    terms = sorted(series, key=lambda t: t != "loss")  # stable: keeps first-appearance order

    ncols = min(3, len(terms))
    nrows = math.ceil(len(terms) / ncols)
    fig = _new_figure(4.2 * ncols, 3.1 * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, term in zip(axes[: len(terms)], terms, strict=True):
        values: list[float] = []
        for split in _SPLITS:
            pts = sorted(series[term].get(split, []))
            if pts:
                xs, ys = zip(*pts, strict=True)
                ax.plot(xs, ys, marker="o" if len(pts) <= 30 else None, ms=3, label=split)
                values.extend(ys)
        _set_log_if_wide(ax, values)
        ax.set_title(term)
        ax.set_xlabel(xkey)
        ax.grid(True, alpha=0.3)
        if values:
            ax.legend(fontsize="small")
        else:
            ax.text(0.5, 0.5, "no finite values", ha="center", va="center", transform=ax.transAxes)
    for ax in axes[len(terms) :]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path, dpi)


def plot_bars(
    values: Mapping[str, float],
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
    ylabel: str | None = None,
    log: bool = False,
    dpi: int = DPI,
) -> Path:
    """Bar chart of named values (e.g. bits per pixel of each codec), labelled with the values.

    Args:
        values: Label -> value, drawn in the given order.
        path: Destination PNG.
        title: Axes title.
        ylabel: Y axis label.
        log: Log y axis.
        dpi: Resolution.

    Returns:
        The destination path.
    """
    if not values:
        raise ValueError("expected at least one value to plot, got none")
    labels = [str(k) for k in values]
    heights = [float(v) for v in values.values()]
    fig = _new_figure(max(4.0, 0.8 * len(labels) + 1.5), 3.4)
    ax = fig.subplots()
    bars = ax.bar(labels, heights, color="#4c72b0")
    ax.bar_label(bars, fmt="%.3g", fontsize="small")
    if log:
        ax.set_yscale("log")
    if ylabel:
        ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(True, axis="y", alpha=0.3)
    if len(labels) > 5:
        ax.tick_params(axis="x", labelrotation=30)
    return save_figure(fig, path, dpi)


def plot_histogram(
    data: Any,
    path: str | os.PathLike[str],
    *,
    bins: int = 50,
    title: str | None = None,
    xlabel: str | None = None,
    vlines: Mapping[str, float] | None = None,
    dpi: int = DPI,
) -> Path:
    """Histogram of one or several named samples (e.g. anomaly scores of normal vs anomalous).

    Args:
        data: A 1-D array, or a mapping of name -> 1-D array drawn as overlaid, shared-bin
            histograms.
        path: Destination PNG.
        bins: Number of bins, shared by every sample.
        title: Axes title.
        xlabel: X axis label.
        vlines: Name -> x position of labelled vertical lines (e.g. ``{"threshold": 0.02}``).
        dpi: Resolution.

    Returns:
        The destination path.
    """
    named = dict(data) if isinstance(data, Mapping) else {"": data}
    arrays = {k: np.asarray(v, dtype=np.float64).ravel() for k, v in named.items()}
    arrays = {k: v[np.isfinite(v)] for k, v in arrays.items()}
    if not arrays or all(v.size == 0 for v in arrays.values()):
        raise ValueError("expected at least one finite value to plot, got none")
    edges = np.histogram_bin_edges(np.concatenate(list(arrays.values())), bins=bins)
    fig = _new_figure(5.0, 3.4)
    ax = fig.subplots()
    for name, v in arrays.items():
        ax.hist(v, bins=edges, alpha=0.55 if len(arrays) > 1 else 0.9, label=name or None)
    for i, (name, x) in enumerate((vlines or {}).items()):
        ax.axvline(float(x), color=f"C{len(arrays) + i}", linestyle="--", label=name)
    if len(arrays) > 1 or vlines:
        ax.legend(fontsize="small")
    if xlabel:
        ax.set_xlabel(xlabel)
    ax.set_ylabel("count")
    if title:
        ax.set_title(title)
    return save_figure(fig, path, dpi)


def plot_scatter(
    points: Any,
    path: str | os.PathLike[str],
    *,
    labels: Any = None,
    title: str | None = None,
    dpi: int = DPI,
) -> Path:
    """2-D scatter plot, coloured by integer class when labels are given (latent maps).

    Args:
        points: (N, 2) array, e.g. 2-D latent codes or a projection of them.
        path: Destination PNG.
        labels: Optional (N,) integer labels; one colour and legend entry per class.
        title: Axes title.
        dpi: Resolution.

    Returns:
        The destination path.
    """
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 2 or p.shape[0] == 0:
        raise ValueError(f"expected points of shape (N, 2) with N >= 1, got {p.shape}")
    fig = _new_figure(5.0, 4.4)
    ax = fig.subplots()
    size = 4 if len(p) > 2000 else 10  # small markers keep 10k MNIST codes readable
    if labels is None:
        ax.scatter(p[:, 0], p[:, 1], s=size, alpha=0.6, linewidths=0)
    else:
        lab = np.asarray(labels).ravel()
        if lab.shape[0] != p.shape[0]:
            raise ValueError(f"expected {p.shape[0]} labels (one per point), got {lab.shape[0]}")
        for k in np.unique(lab):
            m = lab == k
            ax.scatter(p[m, 0], p[m, 1], s=size, alpha=0.6, linewidths=0, label=str(k))
        ax.legend(fontsize="small", markerscale=2, loc="best", ncols=2)
    ax.set_aspect("equal", adjustable="datalim")
    if title:
        ax.set_title(title)
    return save_figure(fig, path, dpi)
