"""The latent space laid out: codes of the decoded manifold, 2-D projections of test codes,
traversal ranges (the pictures themselves are :mod:`aekit.runs.pictures`).

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

import numpy as np
import torch

from ..errors import AekitError
from ..model import Model

TSNE_POINTS = 1000
TRAVERSAL_DIMS = 10


def _has_prior(model: Model) -> bool:
    """Whether the codes have a prior (a VAE's N(0, I)) to lay grids and sweeps out in."""
    return model.module.latent.prior is not None


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
