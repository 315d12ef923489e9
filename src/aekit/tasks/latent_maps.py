"""Pictures of the latent space: the decoded manifold, maps of test codes, traversals.

- **Manifold** (2-D codes only): decode a regular grid of codes. For a VAE the grid is laid
  out in prior quantiles, ``z = Φ⁻¹(p)`` for evenly spaced p (the figure of Kingma & Welling
  2014), so each cell covers equal prior mass; for a deterministic autoencoder it spans the
  1st–99th percentiles of the test codes.
- **Map**: the test codes as points coloured by label: the codes themselves when 2-D, else a
  2-D projection (PCA always; t-SNE from scikit-learn on a subset; UMAP when ``umap-learn`` is
  installed).
- **Traversal**: start from one image's code and sweep one dimension at a time (rows), the
  most varied dimensions first: ±3 for a VAE (the prior's ±3σ), ±3 standard deviations of the
  test codes otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import AekitError
from ..io import Model
from ..models.latents import GaussianLatent

TSNE_POINTS = 1000
TRAVERSAL_DIMS = 10


def _is_vae(model: Model) -> bool:
    return isinstance(model.module.latent, GaussianLatent)


def manifold_codes(n: int, *, vae: bool, codes: np.ndarray | None = None, quantile: float = 0.05) -> np.ndarray:
    """(n*n, 2) grid codes, row-major with z₂ decreasing down the rows and z₁ increasing across.

    Args:
        n: cells per side.
        vae: lay the grid out in quantiles of N(0, 1) (from ``quantile`` to ``1 − quantile``).
        codes: (N, 2) codes whose 1st–99th percentiles the grid spans (deterministic models).
        quantile: the outermost prior quantile of the VAE grid.
    """
    if n < 2:
        raise AekitError(f"expected at least 2 cells per side; got {n}")
    if vae:
        p = torch.linspace(quantile, 1 - quantile, n, dtype=torch.float64)
        axis = torch.distributions.Normal(0.0, 1.0).icdf(p).numpy()
        x_axis, y_axis = axis, axis
    else:
        if codes is None:
            raise AekitError("a deterministic model's manifold needs codes to span; pass codes=model.encode(images)")
        lo, hi = np.percentile(codes, 1, axis=0), np.percentile(codes, 99, axis=0)
        x_axis, y_axis = np.linspace(lo[0], hi[0], n), np.linspace(lo[1], hi[1], n)
    yy, xx = np.meshgrid(y_axis[::-1], x_axis, indexing="ij")
    return np.stack([xx.ravel(), yy.ravel()], axis=1).astype(np.float32)


def manifold(model: Model, n: int = 20, *, codes: np.ndarray | None = None) -> np.ndarray:
    """The decoded n×n manifold of a model with a 2-D code, as one grid picture (uint8)."""
    from ..viz import image_grid

    if model.latent_dim != 2:
        raise AekitError(f"a manifold picture needs a 2-D code; this model's code has {model.latent_dim} "
                         "dimensions (train with --latent 2, or look at the 2-D map of its codes instead)")
    grid = manifold_codes(n, vae=_is_vae(model), codes=codes)
    return image_grid(model.decode(grid), ncols=n, pad=0, min_cell=28)


def project(codes: np.ndarray, method: str = "pca", *, seed: int = 0) -> np.ndarray:
    """(N, k) codes -> (N, 2): ``pca``, ``tsne`` or ``umap`` (needs umap-learn)."""
    codes = np.asarray(codes, dtype=np.float64)
    if codes.shape[1] == 2 and method == "pca":
        return codes
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(codes)
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = float(min(30.0, max(2.0, (len(codes) - 1) / 3)))
        return TSNE(n_components=2, init="pca", perplexity=perplexity, random_state=seed).fit_transform(codes)
    if method == "umap":
        try:
            import umap  # type: ignore[import-not-found]
        except ImportError:
            raise AekitError("the umap projection needs umap-learn: pip install umap-learn") from None
        return umap.UMAP(n_components=2, random_state=seed).fit_transform(codes)
    raise AekitError(f"expected a projection in pca, tsne, umap; got {method!r}")


def umap_available() -> bool:
    try:
        import umap  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        return False
    return True


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
    from ..viz import comparison_grid

    vae = _is_vae(model)
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


def write_map(points: np.ndarray, path: str | os.PathLike, labels: Any = None, title: str | None = None) -> Path:
    from ..viz import plot_scatter

    return plot_scatter(points, path, labels=labels, title=title)


# --------------------------------------------------------------------- report
def latent_section(report: Any, model: Model, result: dict[str, Any], test: Any, out_dir: Any) -> None:
    """``EXTRA_SECTIONS`` entry: manifold (2-D codes) or projections, and traversals."""
    from ..viz import save_png

    out_dir = Path(out_dir)
    codes = np.asarray(model.encode(test.images))
    labels = test.labels
    what = "posterior means" if _is_vae(model) else "codes"
    report.heading("Latent space")
    if model.latent_dim == 2:
        path = save_png(out_dir / "manifold.png", manifold(model, 20, codes=codes))
        layout = ("prior quantiles 5%–95% on both axes" if _is_vae(model)
                  else "the 1st–99th percentiles of the test codes")
        report.image(path, caption=f"decoded 20×20 grid of 2-D codes spanning {layout}; z₁ left to right, "
                                   "z₂ bottom to top")
        write_map(codes, out_dir / "latent_map.png", labels, title=f"test {what}")
        report.image(out_dir / "latent_map.png", caption=f"test-set {what}, coloured by label", pixelated=False)
    else:
        write_map(project(codes, "pca"), out_dir / "latent_pca.png", labels, title=f"PCA of test {what}")
        report.image(out_dir / "latent_pca.png", caption=f"test-set {what} projected on their first two "
                                                          "principal components, coloured by label", pixelated=False)
        rng = np.random.default_rng(0)
        idx = np.sort(rng.choice(len(codes), min(TSNE_POINTS, len(codes)), replace=False))
        sub_labels = labels[idx] if labels is not None else None
        for method in ("tsne", "umap") if umap_available() else ("tsne",):
            if len(idx) < 5:
                break
            name = {"tsne": "t-SNE", "umap": "UMAP"}[method]
            write_map(project(codes[idx], method), out_dir / f"latent_{method}.png", sub_labels,
                      title=f"{name} of test {what}")
            report.image(out_dir / f"latent_{method}.png", caption=f"{name} of {len(idx)} test-set {what} "
                                                                   "(a random subset), coloured by label",
                         pixelated=False)
    picture, order = traversal(model, codes=codes)
    save_png(out_dir / "traversal.png", picture)
    sweep = "from −3 to 3 (prior standard deviations)" if _is_vae(model) else "over ±3 standard deviations"
    rest = "prior mean" if _is_vae(model) else "mean code"
    report.image(out_dir / "traversal.png", caption=f"latent traversal: each row sweeps one dimension {sweep} "
                                                    f"with the others held at the {rest}; rows are the most "
                                                    "varied dimensions")
