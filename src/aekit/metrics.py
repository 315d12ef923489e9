"""Image-quality metrics on batches: MSE, BCE, PSNR and SSIM, computed in torch.

Every function takes float tensors of shape ``(N, C, H, W)`` with values in ``[0, data_range]``
and returns one value per sample, shape ``(N,)``, so a whole test split is scored in a few
batched tensor ops instead of a Python loop over images.

Conventions (they change the numbers, so they are spelled out):

- **MSE / BCE** are means over every pixel and channel of one image.
- **PSNR of a set** is reported two ways by :func:`summarize`: ``"psnr"`` is the PSNR *of the
  mean MSE over the set* (what most papers and codecs report: one noise power for the whole set),
  and ``"psnr_mean_per_image"`` is the mean of per-image PSNRs (dominated by easy images, and
  ``inf`` as soon as one image is reconstructed exactly, unless a ``min_mse`` floor caps it, as
  ``aekit eval`` does at 1e-12, i.e. 120 dB). They differ; quote which one you use.
- **Per-sample scores** of a set come from :func:`per_sample_scores` and its means from
  :func:`summarize_scores`; evaluation, denoising and :func:`summarize` all go through them.
- **SSIM** follows Wang et al. 2004, "Image quality assessment: from error visibility to structural
  similarity" (IEEE TIP 13(4)): an 11x11 Gaussian window with sigma 1.5, K1 = 0.01, K2 = 0.03,
  population (not sample) covariance, averaged over the *valid* region (no padding) and then over
  channels. It matches ``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, data_range=...)``. Images smaller than 11 px (scikit-learn's 8x8
  digits) use the largest odd window that fits, with sigma scaled by ``win / 11``; see
  :func:`ssim_window`.

Bad input (wrong rank, shape or dtype, a negative MSE, images under 3x3 px for SSIM) raises
:class:`~aekit.errors.AekitError`, a ``ValueError`` that the CLI and server report as the user's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .errors import AekitError

__all__ = [
    "bce_per_sample",
    "mse_per_sample",
    "per_sample_scores",
    "psnr_from_mse",
    "ssim",
    "ssim_map",
    "ssim_window",
    "summarize",
    "summarize_scores",
]

# Wang et al. 2004 constants.
_WIN = 11
_SIGMA = 1.5
_K1 = 0.01
_K2 = 0.03


def _check_pair(x: Tensor, x_hat: Tensor, name: str) -> None:
    """Raise an AekitError unless ``x`` and ``x_hat`` are same-shaped float (N, C, H, W) tensors."""
    for label, t in (("x", x), ("x_hat", x_hat)):
        if not isinstance(t, Tensor):
            raise AekitError(
                f"{name}: expected {label} to be a torch.Tensor, got {type(t).__name__}"
            )
        if t.ndim != 4:
            raise AekitError(
                f"{name}: expected {label} of shape (N, C, H, W), got shape {tuple(t.shape)}"
            )
        if not t.is_floating_point():
            raise AekitError(
                f"{name}: expected a floating-point {label} scaled to [0, data_range], "
                f"got dtype {t.dtype}"
            )
    if x.shape != x_hat.shape:
        raise AekitError(
            f"{name}: expected x and x_hat of the same shape, "
            f"got {tuple(x.shape)} and {tuple(x_hat.shape)}"
        )


def _working_dtype(x: Tensor) -> torch.dtype:
    # SSIM takes E[x^2] - E[x]^2, which cancels badly in half precision; float32 is enough
    # to match skimage's float64 to ~1e-6 on [0, 1] data.
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def mse_per_sample(x: Tensor, x_hat: Tensor) -> Tensor:
    """Mean squared error of each sample, averaged over channels and pixels.

    Args:
        x: Reference images, (N, C, H, W).
        x_hat: Reconstructions, same shape as ``x``.

    Returns:
        Tensor of shape (N,).
    """
    _check_pair(x, x_hat, "mse_per_sample")
    return (x - x_hat).pow(2).flatten(1).mean(dim=1)


def bce_per_sample(x: Tensor, x_hat: Tensor, eps: float = 1e-7) -> Tensor:
    """Binary cross-entropy of each sample, averaged over channels and pixels.

    ``x`` is the target (values in [0, 1], not necessarily binary) and ``x_hat`` the predicted
    Bernoulli mean. ``x_hat`` is clamped to ``[eps, 1 - eps]`` so a confident wrong pixel costs
    ``-log(eps)`` instead of ``inf``.

    Args:
        x: Targets in [0, 1], (N, C, H, W).
        x_hat: Predicted probabilities, same shape as ``x``.
        eps: Clamp margin for ``x_hat``.

    Returns:
        Tensor of shape (N,), in nats per pixel.
    """
    _check_pair(x, x_hat, "bce_per_sample")
    return bce_map(x, x_hat, eps).flatten(1).mean(dim=1)


def bce_map(x: Tensor, x_hat: Tensor, eps: float = 1e-7) -> Tensor:
    """Binary cross-entropy of every value (nats), ``x_hat`` clamped as in :func:`bce_per_sample`;
    same shape as ``x`` (per-pixel anomaly maps average it over channels)."""
    if not 0.0 < eps < 0.5:
        raise AekitError(f"bce_per_sample: expected 0 < eps < 0.5, got {eps}")
    p = x_hat.clamp(eps, 1.0 - eps)
    return -(x * torch.log(p) + (1.0 - x) * torch.log1p(-p))


def psnr_from_mse(mse: float | Tensor, data_range: float = 1.0) -> float | Tensor:
    """Peak signal-to-noise ratio in dB, ``10 * log10(data_range**2 / mse)``.

    Args:
        mse: A mean squared error, as a Python number or a tensor of any shape.
        data_range: Peak value of the signal (1.0 for [0, 1] images, 255 for uint8).

    Returns:
        A float for a number, a tensor of the same shape for a tensor. ``mse == 0`` gives ``inf``.
    """
    if data_range <= 0:
        raise AekitError(f"psnr_from_mse: expected data_range > 0, got {data_range}")
    if isinstance(mse, Tensor):
        if (mse < 0).any():
            raise AekitError("psnr_from_mse: expected mse >= 0, got a negative value")
        # Division by zero gives +inf in torch, and log10(inf) = inf: exactly what we want.
        return 10.0 * torch.log10(data_range**2 / mse)
    mse = float(mse)
    if mse < 0:
        raise AekitError(f"psnr_from_mse: expected mse >= 0, got {mse}")
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(data_range**2 / mse)


def ssim_window(height: int, width: int) -> tuple[int, float]:
    """The Gaussian window (size, sigma) SSIM uses for images of this size.

    The standard window is 11 px with sigma 1.5. For images smaller than 11 px on a side the
    window shrinks to the largest odd size ``win <= min(height, width)`` and sigma to
    ``1.5 * win / 11``, so the window keeps the same shape relative to its size. These values
    reproduce ``skimage.metrics.structural_similarity(win_size=win, sigma=sigma,
    gaussian_weights=True)``, whose 3.5-sigma truncation gives exactly ``win`` taps for each.

    Args:
        height: Image height in pixels.
        width: Image width in pixels.

    Returns:
        ``(win, sigma)``.
    """
    side = min(height, width)
    if side < 3:
        raise AekitError(f"ssim: expected images at least 3x3 px, got {height}x{width}")
    if side >= _WIN:
        return _WIN, _SIGMA
    win = side if side % 2 == 1 else side - 1
    return win, _SIGMA * win / _WIN


def _gaussian_1d(win: int, sigma: float, dtype: torch.dtype, device: torch.device) -> Tensor:
    r = (win - 1) // 2
    t = torch.arange(-r, r + 1, dtype=torch.float64)
    g = torch.exp(-0.5 * (t / sigma) ** 2)
    return (g / g.sum()).to(dtype=dtype, device=device)


def _ssim_terms(x: Tensor, x_hat: Tensor, data_range: float, pad_same: bool) -> Tensor:
    """Local SSIM map, (N, C, H', W'): 'valid' size, or 'same' with symmetric padding."""
    if data_range <= 0:
        raise AekitError(f"ssim: expected data_range > 0, got {data_range}")
    n, c, h, w = x.shape
    win, sigma = ssim_window(h, w)
    dtype = _working_dtype(x)
    g = _gaussian_1d(win, sigma, dtype, x.device)

    x = x.to(dtype)
    y = x_hat.to(dtype)
    # All five local moments in one pass: stack them on the batch axis and filter every image
    # channel independently with the same separable kernel. (5*N*C, 1, H, W)
    stack = torch.cat([x, y, x * x, y * y, x * y], dim=0).reshape(5 * n * c, 1, h, w)
    if pad_same:
        # Half-sample symmetric padding (d c b a | a b c d), i.e. scipy.ndimage's 'reflect',
        # so the full map matches skimage's ``full=True`` output at the borders too.
        p = (win - 1) // 2
        stack = torch.cat([stack[..., :p].flip(-1), stack, stack[..., -p:].flip(-1)], dim=-1)
        stack = torch.cat([stack[..., :p, :].flip(-2), stack, stack[..., -p:, :].flip(-2)], dim=-2)
    stack = F.conv2d(stack, g.view(1, 1, 1, win))
    stack = F.conv2d(stack, g.view(1, 1, win, 1))
    ux, uy, uxx, uyy, uxy = stack.reshape(5, n, c, *stack.shape[-2:])

    vx = uxx - ux * ux
    vy = uyy - uy * uy
    vxy = uxy - ux * uy
    c1 = (_K1 * data_range) ** 2
    c2 = (_K2 * data_range) ** 2
    return ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))


def ssim(x: Tensor, x_hat: Tensor, data_range: float = 1.0) -> Tensor:
    """Mean structural similarity of each sample (Wang et al. 2004).

    Gaussian window 11x11 with sigma 1.5, K1 = 0.01, K2 = 0.03, population covariance; the local
    SSIM map is averaged over the valid region (no padding, a ``(win - 1) / 2`` border is
    dropped) and then over channels. Images smaller than 11 px use the largest odd window that
    fits with sigma scaled by ``win / 11`` (8x8 digits: 7x7, sigma ~0.955); see
    :func:`ssim_window`. Matches ``skimage.metrics.structural_similarity`` with
    ``gaussian_weights=True, use_sample_covariance=False`` and that window.

    Differentiable, so it can serve as a loss (``1 - ssim``).

    Args:
        x: Reference images in [0, data_range], (N, C, H, W), H and W at least 3.
        x_hat: Reconstructions, same shape as ``x``.
        data_range: Peak value of the signal (sets the stabilising constants C1, C2).

    Returns:
        Tensor of shape (N,), in the dtype of the computation (float32, or float64 for float64
        input).
    """
    _check_pair(x, x_hat, "ssim")
    return _ssim_terms(x, x_hat, data_range, pad_same=False).flatten(1).mean(dim=1)


def ssim_map(x: Tensor, x_hat: Tensor, data_range: float = 1.0) -> Tensor:
    """Local SSIM at every pixel, the same size as the input.

    Same window and constants as :func:`ssim`, but the images are padded by half-sample
    symmetric reflection (scipy's ``'reflect'``) so the map covers every pixel; it equals
    skimage's ``full=True`` map. Low values mark where a reconstruction differs in structure,
    which is what per-pixel anomaly maps need. The interior (a ``(win - 1) / 2`` border
    removed) averages to exactly :func:`ssim`.

    Args:
        x: Reference images in [0, data_range], (N, C, H, W), H and W at least 3.
        x_hat: Reconstructions, same shape as ``x``.
        data_range: Peak value of the signal.

    Returns:
        Tensor of shape (N, C, H, W).
    """
    _check_pair(x, x_hat, "ssim_map")
    return _ssim_terms(x, x_hat, data_range, pad_same=True)


@torch.no_grad()
def per_sample_scores(
    x: Tensor, x_hat: Tensor, data_range: float = 1.0, chunk_size: int = 1024
) -> dict[str, Tensor]:
    """MSE, BCE and SSIM of every image in a set, ``chunk_size`` images at a time.

    Chunks keep SSIM's five filtered copies of the batch from existing for all 10k MNIST test
    images at once. Per-sample values are what per-class tables and score histograms need;
    :func:`summarize_scores` turns them into the set's means.

    Args:
        x: Reference images in [0, data_range], (N, C, H, W).
        x_hat: Reconstructions, same shape as ``x``.
        data_range: Peak value of the signal. BCE is computed on images divided by it.
        chunk_size: Images per chunk.

    Returns:
        ``{"mse", "bce", "ssim"}``: float64 tensors of shape (N,), on the CPU.
    """
    _check_pair(x, x_hat, "per_sample_scores")
    if chunk_size < 1:
        raise AekitError(f"per_sample_scores: expected chunk_size >= 1, got {chunk_size}")
    if x.shape[0] == 0:
        raise AekitError("per_sample_scores: expected at least one image, got an empty batch")
    parts: dict[str, list[Tensor]] = {"mse": [], "bce": [], "ssim": []}
    for start in range(0, x.shape[0], chunk_size):
        xs = x[start : start + chunk_size]
        ys = x_hat[start : start + chunk_size]
        parts["mse"].append(mse_per_sample(xs, ys))
        parts["bce"].append(bce_per_sample(xs / data_range, ys / data_range))
        parts["ssim"].append(ssim(xs, ys, data_range))
    # float64 so the means over 10k float32 values add up without drift.
    return {k: torch.cat(v).double().cpu() for k, v in parts.items()}


def summarize_scores(
    scores: Mapping[str, Any], data_range: float = 1.0, min_mse: float = 0.0
) -> dict[str, float]:
    """The set's means of :func:`per_sample_scores` (tensors or arrays of shape (N,)).

    Args:
        scores: ``{"mse", "bce", "ssim"}`` per-sample values.
        data_range: Peak value of the signal, for the PSNRs.
        min_mse: Floor on each image's MSE in ``"psnr_mean_per_image"``. 0 keeps an exact
            reconstruction at ``inf`` dB; ``aekit eval`` uses 1e-12 (at most 120 dB) so
            ``eval.json`` stays finite.

    Returns:
        ``{"mse", "bce", "psnr", "psnr_mean_per_image", "ssim"}`` as plain floats.
    """
    mse, bce, ssim_ = (torch.as_tensor(scores[k], dtype=torch.float64) for k in ("mse", "bce", "ssim"))
    mean_mse = mse.mean().item()
    return {
        "mse": mean_mse,
        "bce": bce.mean().item(),
        "psnr": float(psnr_from_mse(mean_mse, data_range)),
        "psnr_mean_per_image": psnr_from_mse(mse.clamp(min=min_mse), data_range).mean().item(),
        "ssim": ssim_.mean().item(),
    }


def summarize(
    x: Tensor, x_hat: Tensor, data_range: float = 1.0, chunk_size: int = 1024
) -> dict[str, float]:
    """All metrics over a set of images, as plain floats.

    :func:`per_sample_scores` (in chunks of ``chunk_size``) followed by :func:`summarize_scores`.

    Args:
        x: Reference images in [0, data_range], (N, C, H, W).
        x_hat: Reconstructions, same shape as ``x``.
        data_range: Peak value of the signal. BCE is computed on images divided by it.
        chunk_size: Images per chunk.

    Returns:
        ``{"mse", "bce", "psnr", "psnr_mean_per_image", "ssim"}``: means over the set, where
        ``"psnr"`` is the PSNR of the mean MSE and ``"psnr_mean_per_image"`` the mean of
        per-image PSNRs (see the module docstring).
    """
    _check_pair(x, x_hat, "summarize")
    if chunk_size < 1:
        raise AekitError(f"summarize: expected chunk_size >= 1, got {chunk_size}")
    if x.shape[0] == 0:
        raise AekitError("summarize: expected at least one image, got an empty batch")
    return summarize_scores(per_sample_scores(x, x_hat, data_range, chunk_size), data_range)
