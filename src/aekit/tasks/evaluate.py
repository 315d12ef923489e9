"""Test-set evaluation: the model beside the PCA baseline at the same code size.

Metrics are computed on intensities in [0, 1] after undoing the recorded preprocessing, so
models trained with and without normalisation compare directly. Conventions are those of
:mod:`aekit.metrics`: per-pixel MSE and BCE, PSNR of the mean MSE over the set (and the mean
of per-image PSNRs beside it), SSIM with an 11x11 Gaussian window.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from sklearn.decomposition import PCA

from ..data.imageset import ImageSet
from ..data.pixels import as_unit
from ..metrics import per_sample_scores, psnr_from_mse, summarize_scores
from ..model import Model
from .latent import latent_diagnostics, latent_summary_line
from .likelihood import likelihood_evaluation

CONVENTIONS = {
    "mse": "mean squared error per pixel, intensities scaled to [0, 1]",
    "bce": "binary cross-entropy per pixel (nats), reconstruction clamped to [1e-7, 1-1e-7]",
    "psnr": "10*log10(1 / MSE) of the mean MSE over the set, in dB",
    "psnr_mean_per_image": "mean over images of each image's PSNR, in dB",
    "ssim": "mean SSIM (Wang et al. 2004; 11x11 Gaussian window, sigma 1.5, valid region)",
    "pca": "PCA with as many components as the code has dimensions, fitted on the training and "
           "validation images; reconstructions clipped to [0, 1]",
}


# Further evaluations, in order: functions ``(model, test, x_unit, result) -> None`` that add
# their own keys to ``result`` (``latent``, ``likelihood``, ...).
EXTRA_EVALUATIONS = (latent_diagnostics, likelihood_evaluation)

# Floor on each image's MSE in the mean of per-image PSNRs: an exact reconstruction counts as
# 120 dB, not inf, so eval.json stays finite JSON.
MIN_MSE = 1e-12


def to_unit(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, C) uint8 or [0, 1] float array -> (N, C, H, W) float32 tensor in [0, 1]."""
    return as_unit(torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2))


@torch.inference_mode()
def reconstruct_unit(model: Model, x_unit: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Reconstructions in [0, 1] of inputs in [0, 1], (N, C, H, W), through the recorded preprocessing."""
    prep, module = model.preprocessing, model.module
    out = []
    for start in range(0, x_unit.shape[0], batch_size):
        xb = prep.batch_to_model(x_unit[start:start + batch_size].to(model.device))
        out.append(prep.model_to_unit(module(xb).x_hat.float()).cpu())
    return torch.cat(out)


def _scores(x: torch.Tensor, x_hat: torch.Tensor) -> dict[str, np.ndarray]:
    """Per-sample MSE / BCE / SSIM as (N,) float64 arrays, for masking by class."""
    return {k: v.numpy() for k, v in per_sample_scores(x, x_hat, chunk_size=2048).items()}


def fit_pca(train_unit: torch.Tensor, n_components: int, seed: int = 0) -> PCA:
    flat = train_unit.reshape(train_unit.shape[0], -1).numpy()
    n_components = min(n_components, *flat.shape)
    return PCA(n_components=n_components, random_state=seed).fit(flat)


def pca_reconstruct(pca: PCA, x_unit: torch.Tensor) -> torch.Tensor:
    flat = x_unit.reshape(x_unit.shape[0], -1).numpy()
    recon = pca.inverse_transform(pca.transform(flat)).clip(0.0, 1.0).astype(np.float32)
    return torch.from_numpy(recon).reshape(x_unit.shape)


def evaluate_model(
    model: Model, test: ImageSet, *, pca_train: ImageSet | None = None, batch_size: int = 1024,
    keep_pca: bool = False,
) -> dict[str, Any]:
    """Score ``model`` on ``test`` (and PCA at the same code size when ``pca_train`` is given).

    Returns a JSON-able dict: ``model`` and ``pca`` metric blocks, ``per_class`` rows when the
    test set has labels, throughput, and the conventions used. With ``keep_pca`` the fitted
    PCA is left under the private key ``"_pca"`` (for pictures; not JSON-able).
    """
    x = to_unit(test.images)
    started = time.perf_counter()
    x_hat = reconstruct_unit(model, x, batch_size)
    seconds = time.perf_counter() - started
    scores = _scores(x, x_hat)
    result: dict[str, Any] = {
        "n": int(x.shape[0]),
        "input_shape": list(model.input_shape),
        "latent_dim": model.latent_dim,
        "compression_factor": round(int(np.prod(model.input_shape)) / model.latent_dim, 3),
        "model": summarize_scores(scores, min_mse=MIN_MSE),
        "reconstruct_images_per_s": round(x.shape[0] / max(seconds, 1e-9), 1),
        "conventions": CONVENTIONS,
    }
    pca_scores = None
    if pca_train is not None:
        pca = fit_pca(to_unit(pca_train.images), model.latent_dim)
        pca_scores = _scores(x, pca_reconstruct(pca, x))
        result["pca"] = {"n_components": int(pca.n_components_), **summarize_scores(pca_scores, min_mse=MIN_MSE)}
        if keep_pca:
            result["_pca"] = pca
    for extra in EXTRA_EVALUATIONS:
        extra(model, test, x, result)
    if test.labels is not None:
        rows = []
        for label in np.unique(test.labels):
            mask = test.labels == label
            row: dict[str, Any] = {"label": int(label)}
            if test.class_names is not None and int(label) < len(test.class_names):
                row["name"] = test.class_names[int(label)]
            row["n"] = int(mask.sum())
            means = summarize_scores({k: s[mask] for k, s in scores.items()}, min_mse=MIN_MSE)
            row.update({k: means[k] for k in ("mse", "psnr", "ssim")})
            if pca_scores is not None:
                row["pca_mse"] = float(pca_scores["mse"][mask].mean())
                row["pca_psnr"] = float(psnr_from_mse(row["pca_mse"]))
            rows.append(row)
        result["per_class"] = rows
    return result


def sample_indices(test: ImageSet, n: int = 16, seed: int = 0) -> np.ndarray:
    """A fixed, class-balanced pick of test images for pictures (first of each class, then more)."""
    if test.labels is None:
        return np.arange(min(n, len(test)))
    picked: list[int] = []
    labels = test.labels
    for label in np.unique(labels):
        picked.append(int(np.flatnonzero(labels == label)[0]))
    rng = np.random.default_rng(seed)
    rest = np.setdiff1d(np.arange(len(test)), picked)
    picked += rng.choice(rest, size=max(0, min(n - len(picked), len(rest))), replace=False).tolist()
    return np.array(sorted(picked[:n]))


def size_ratio_text(compression_factor: float) -> str:
    """``"24.5x smaller"``, or ``"2.0x larger"`` for an overcomplete (e.g. spatial) code."""
    if compression_factor >= 1:
        return f"{compression_factor:.1f}x smaller"
    return f"{1 / compression_factor:.1f}x larger"


def format_table(result: dict[str, Any], name: str = "model") -> str:
    """The human table printed by ``aekit eval``."""
    rows = [(f"{name} (k={result['latent_dim']})", result["model"])]
    if "pca" in result:
        rows.append((f"PCA-{result['pca']['n_components']}", result["pca"]))
    width = max(len(r[0]) for r in rows) + 2
    lines = [f"{'':<{width}}{'MSE':>10}{'BCE':>10}{'PSNR dB':>10}{'SSIM':>8}"]
    for label, m in rows:
        lines.append(f"{label:<{width}}{m['mse']:>10.5f}{m['bce']:>10.4f}{m['psnr']:>10.2f}{m['ssim']:>8.4f}")
    lines.append(f"test images: {result['n']}, code {result['latent_dim']} of {int(np.prod(result['input_shape']))} "
                 f"values ({size_ratio_text(result['compression_factor'])}); PSNR is of the mean MSE")
    if "latent" in result:
        lines.append(latent_summary_line(result["latent"]))
    return "\n".join(lines)

