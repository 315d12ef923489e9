"""Pictures of what a model does: sample grids, interpolation strips, manifolds, traversals, code maps.

Thin compositions of :mod:`aekit.tasks` (which compute) and :mod:`aekit.viz` (which draws).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..data.pixels import as_unit
from ..errors import AekitError
from ..model import Model
from ..tasks.generate import generate, has_prior
from ..tasks.interpolate import interpolate, one_image
from ..tasks.latent_maps import TRAVERSAL_DIMS, manifold_codes
from ..viz import comparison_grid, image_grid, plot_scatter, save_png


def sample_grid(model: Model, n: int = 64, *, temperature: float = 1.0, sampler: str = "auto",
                seed: int = 0, ncols: int | None = None) -> np.ndarray:
    """A tiled picture of ``n`` samples."""
    return image_grid(generate(model, n, temperature=temperature, sampler=sampler, seed=seed), ncols=ncols)


def write_samples(model: Model, path: str | os.PathLike, **kwargs: Any) -> Path:
    return save_png(path, sample_grid(model, **kwargs))


def interpolation_strip(model: Model, image_a: Any, image_b: Any, *, steps: int = 10,
                        methods: Sequence[str] = ("linear",)) -> np.ndarray:
    """One row per method: input a, the decoded path, input b; labelled when several methods."""
    a, b = one_image(model, image_a), one_image(model, image_b)
    rows, labels = [], []
    for method in methods:
        path = interpolate(model, a, b, steps=steps, method=method)
        if a.dtype != np.uint8:
            path = as_unit(path)
        rows.append(np.concatenate([a[None], path, b[None]]).astype(a.dtype))
        labels.append(method)
    return comparison_grid(rows, labels if len(methods) > 1 else None)


def write_strip(model: Model, image_a: Any, image_b: Any, path: str | os.PathLike, **kwargs: Any) -> Path:
    return save_png(path, interpolation_strip(model, image_a, image_b, **kwargs))


def write_map(points: np.ndarray, path: str | os.PathLike, labels: Any = None, title: str | None = None) -> Path:
    return plot_scatter(points, path, labels=labels, title=title)


def manifold(model: Model, n: int = 20, *, codes: np.ndarray | None = None) -> np.ndarray:
    """The decoded n×n manifold of a model with a 2-D code, as one grid picture (uint8)."""
    if model.latent_dim != 2:
        raise AekitError(f"a manifold picture needs a 2-D code; this model's code has {model.latent_dim} "
                         "dimensions (train with --latent 2, or look at the 2-D map of its codes instead)")
    grid = manifold_codes(n, vae=has_prior(model), codes=codes)
    return image_grid(model.decode(grid), ncols=n, pad=0, min_cell=28)


def traversal(model: Model, base_image: Any = None, *, codes: np.ndarray | None = None, steps: int = 9,
              dims: int = TRAVERSAL_DIMS) -> tuple[np.ndarray, list[int]]:
    """Decoded sweeps of one latent dimension at a time; returns (picture, swept dimensions).

    Args:
        model: any model.
        base_image: the image whose code is swept (default: zeros for a VAE, else the mean code).
        codes: (N, k) reference codes: they pick the most varied dimensions and, for
            deterministic models, the sweep range (mean ± 3 std). Required for those.
        steps: images per row.
        dims: at most this many rows.
    """
    vae = has_prior(model)
    if codes is None and not vae:
        raise AekitError("a deterministic model's traversal needs reference codes: codes=model.encode(images)")
    k = model.latent_dim
    spread = np.asarray(codes).std(0) if codes is not None else np.ones(k)
    centre = np.asarray(codes).mean(0) if codes is not None and not vae else np.zeros(k)
    base = np.asarray(model.encode(base_image), dtype=np.float32) if base_image is not None else centre
    order = [int(d) for d in np.argsort(-spread, kind="stable")[:min(dims, k)]]
    rows = []
    for d in order:
        values = np.linspace(-3, 3, steps) if vae else centre[d] + spread[d] * np.linspace(-3, 3, steps)
        z = np.repeat(base[None].astype(np.float32), steps, axis=0)
        z[:, d] = values
        rows.append(model.decode(z))
    return comparison_grid(rows, [f"z{d}" for d in order]), order
