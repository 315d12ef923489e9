"""Pictures of a latent space: KL per dimension as bars (VAEs), drawn straight to PNG."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .curves import _new_figure, _save

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
    return _save(fig, path, dpi)
