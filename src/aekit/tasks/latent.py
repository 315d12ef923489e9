"""Latent diagnostics: what the code looks like on the test set, for every model.

- **code histogram**: all code values pooled, 50 bins;
- **activation rate** of each unit: the share of test images on which ``|z_j|`` exceeds a
  threshold of 1% of the largest ``|z|`` seen (a ReLU unit is active when it is not zero; the
  relative threshold keeps the definition scale-free for linear and sigmoid codes too);
- **dead units**: never active on the test set, or constant over it;
- **mean absolute activation** ``mean |z|`` over images and units, the number the classic
  sparse-autoencoder comparison reports (an L1 penalty drives it down).

``latent_diagnostics`` is listed in :data:`aekit.tasks.evaluate.EXTRA_EVALUATIONS` (adds
``result["latent"]`` to ``eval.json``); the report's plots and table of it are
:func:`aekit.runs.sections.latent_section`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

RELATIVE_THRESHOLD = 0.01
BINS = 50


@torch.inference_mode()
def encode_unit(model: Any, x_unit: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Codes (N, k) of inputs in [0, 1], (N, C, H, W), through the recorded preprocessing."""
    prep, module = model.preprocessing, model.module
    codes = [module.encode(prep.batch_to_model(x_unit[i:i + batch_size].to(model.device))).float().cpu()
             for i in range(0, x_unit.shape[0], batch_size)]
    return torch.cat(codes)


def code_statistics(codes: torch.Tensor | np.ndarray, *, relative_threshold: float = RELATIVE_THRESHOLD,
                    bins: int = BINS) -> dict[str, Any]:
    """Diagnostics of a set of codes (N, k); JSON-able.

    Returns:
        ``code_size``, ``threshold`` (absolute), ``mean_abs_activation``, ``mean_activation``,
        ``mean_activation_rate``, ``dead_units`` (count) and ``dead_unit_indices``,
        ``per_unit`` (``activation_rate``, ``mean_abs``, ``mean``, ``std`` lists) and
        ``histogram`` (``edges``, ``counts``).
    """
    z = torch.as_tensor(np.asarray(codes) if not isinstance(codes, torch.Tensor) else codes).double()
    z = z.reshape(z.shape[0], -1)
    peak = float(z.abs().max()) if z.numel() else 0.0
    threshold = relative_threshold * peak
    active = z.abs() > threshold  # (N, k)
    rate = active.double().mean(0)
    std = z.std(0, unbiased=False)
    dead = (rate == 0) | (std <= 1e-6 * max(peak, 1e-12))
    counts, edges = np.histogram(z.numpy().ravel(), bins=bins)
    return {
        "code_size": int(z.shape[1]),
        "n": int(z.shape[0]),
        "threshold": threshold,
        "mean_abs_activation": float(z.abs().mean()),
        "mean_activation": float(z.mean()),
        "mean_activation_rate": float(rate.mean()),
        "dead_units": int(dead.sum()),
        "dead_unit_indices": torch.nonzero(dead).flatten().tolist()[:1000],
        "per_unit": {
            "activation_rate": rate.tolist(),
            "mean_abs": z.abs().mean(0).tolist(),
            "mean": z.mean(0).tolist(),
            "std": std.tolist(),
        },
        "histogram": {"edges": edges.tolist(), "counts": counts.tolist()},
    }


def latent_diagnostics(model: Any, test: Any, x_unit: torch.Tensor, result: dict[str, Any]) -> None:
    """``EXTRA_EVALUATIONS`` hook: ``result["latent"] = code_statistics(codes of the test set)``."""
    result["latent"] = code_statistics(encode_unit(model, x_unit))


def latent_summary_line(stats: dict[str, Any]) -> str:
    """One line for ``aekit eval``: mean |z|, activation rate, dead units."""
    return (f"code: mean |z| {stats['mean_abs_activation']:.4g}, mean activation rate "
            f"{stats['mean_activation_rate']:.3f}, dead units {stats['dead_units']} of {stats['code_size']}")
