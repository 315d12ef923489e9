"""Pictures of a latent space: KL per dimension as bars (VAEs), drawn straight to PNG."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .curves import _new_figure, save_figure

DPI = 110


def plot_kl_per_dim(kl: Any, path: str | os.PathLike[str], *, threshold: float | None = None,
                    title: str | None = None, dpi: int = DPI) -> Path:
    """Bars of the mean KL of each latent dimension, largest first, active ones highlighted.

    Args:
        kl: (k,) mean KL per latent dimension, in nats.
        path: Destination PNG.
        threshold: dimensions with KL at or below this are drawn grey (collapsed).
        title: Axes title.
        dpi: Resolution.
    """
    values = np.asarray(kl, dtype=np.float64).ravel()
    if values.size == 0:
        raise ValueError("expected at least one latent dimension, got none")
    order = np.argsort(-values, kind="stable")
    fig = _new_figure(min(9.0, max(4.0, 0.22 * values.size + 1.5)), 3.0)
    ax = fig.subplots()
    colours = ["#4c72b0" if threshold is None or v > threshold else "#b0b0b0" for v in values[order]]
    ax.bar(np.arange(values.size), values[order], color=colours)
    ax.set_xticks(np.arange(values.size), [str(i) for i in order], fontsize="x-small",
                  rotation=90 if values.size > 16 else 0)
    ax.set_xlabel("latent dimension (sorted by KL)")
    ax.set_ylabel("KL (nats)")
    ax.grid(True, axis="y", alpha=0.3)
    if title:
        ax.set_title(title)
    return save_figure(fig, path, dpi)


def plot_code_histogram(stats: dict[str, Any], path: str | Path) -> Path:
    """Histogram of every code value (log count axis), from the stored counts."""
    from ..viz.curves import _new_figure, save_figure

    fig = _new_figure(5.0, 3.2)
    ax = fig.subplots()
    counts = np.asarray(stats["histogram"]["counts"], dtype=float)
    ax.stairs(counts, stats["histogram"]["edges"], fill=True, color="#4c72b0")
    if counts.max() > 0:
        ax.set_yscale("log")
    ax.set_xlabel("code value z")
    ax.set_ylabel("count (images x units)")
    ax.set_title(f"code values, {stats['n']} test images x {stats['code_size']} units")
    return save_figure(fig, path, 110)


def plot_unit_rates(stats: dict[str, Any], path: str | Path) -> Path:
    """Activation rate of each unit (in unit order; sorted when there are more than 128)."""
    from ..viz.curves import _new_figure, save_figure

    rate = np.asarray(stats["per_unit"]["activation_rate"])
    many = rate.size > 128
    fig = _new_figure(max(5.0, min(10.0, 0.12 * rate.size + 2)) if not many else 6.0, 3.0)
    ax = fig.subplots()
    values = np.sort(rate)[::-1] if many else rate
    ax.bar(np.arange(rate.size), values, width=1.0 if many else 0.8, color="#dd8452")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("unit (sorted by rate)" if many else "unit")
    ax.set_ylabel("share of images active")
    ax.set_title(f"per-unit activation rate (|z| > {stats['threshold']:.3g})")
    return save_figure(fig, path, 110)
