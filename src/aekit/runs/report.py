"""The HTML report of a run: metrics beside PCA, loss curves, reconstructions, the model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..data.imageset import ImageSet
from ..model import Model
from ..models.summary import summary_text
from ..tasks.evaluate import pca_reconstruct, sample_indices, size_ratio_text, to_unit
from ..viz import Report, comparison_grid, plot_history, save_png
from .sections import interpolation_section, latent_map_section, latent_section, likelihood_section, samples_section

# The sections after the reconstructions, in order: functions ``(report, model, result, test,
# out_dir) -> None`` (see :mod:`aekit.runs.sections`).
SECTIONS = (latent_section, likelihood_section, samples_section, interpolation_section, latent_map_section)


def _fmt_seconds(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 120 else f"{seconds:.1f} s"


def reconstruction_picture(model: Model, test: ImageSet, result: dict[str, Any], n: int = 16) -> np.ndarray:
    """Rows: original, model reconstruction, PCA reconstruction (when fitted) of fixed test images."""
    idx = sample_indices(test, n)
    originals = test.images[idx]
    rows = [originals, model.reconstruct(originals)]
    labels = ["input", f"{model.config.preset} k={model.latent_dim}"]
    pca = result.get("_pca")
    if pca is not None:
        x = to_unit(originals)
        rows.append(pca_reconstruct(pca, x).permute(0, 2, 3, 1).numpy())
        labels.append(f"PCA-{result['pca']['n_components']}")
    return comparison_grid(rows, labels)


def write_run_report(out: Path, model: Model, result: dict[str, Any], test: ImageSet, *,
                     history: list[dict[str, Any]]) -> Path:
    """Write ``loss.png``, ``reconstructions.png`` and a self-contained ``report.html`` into ``out``."""
    out = Path(out)
    run_info: dict[str, Any] = {}
    if (out / "run.json").exists():
        run_info = json.loads((out / "run.json").read_text()).get("status", {})
    report = Report(f"aekit run: {model.config.preset} on {result.get('dataset', '?')}")
    facts = [
        f"- preset **{model.config.preset}**, input {'x'.join(map(str, model.input_shape))}, "
        f"code {model.latent_dim} ({size_ratio_text(result['compression_factor'])} than the input)",
        f"- test images: {result['n']}",
    ]
    if run_info:
        facts.append(
            f"- trained {run_info.get('epochs_done', '?')} epochs in "
            f"{_fmt_seconds(run_info.get('train_seconds', 0))}; "
            f"best validation loss {run_info.get('best_val_loss', float('nan')):.5f} "
            f"at epoch {run_info.get('best_epoch')}"
            + (" (stopped early)" if run_info.get("stopped_early") else "")
        )
    report.text("\n".join(facts))

    report.heading("Test metrics")
    rows = [{"model": f"{model.config.preset} (k={model.latent_dim})", **result["model"]}]
    if "pca" in result:
        rows.append({"model": f"PCA-{result['pca']['n_components']}",
                     **{k: v for k, v in result["pca"].items() if k != "n_components"}})
    report.table(rows, caption="PSNR is of the mean MSE over the test set; intensities in [0, 1]")

    if history:
        plot_history(history, out / "loss.png", title="loss per epoch")
        report.heading("Training")
        report.image(out / "loss.png", caption="training and validation loss terms", pixelated=False)

    report.heading("Reconstructions")
    save_png(out / "reconstructions.png", reconstruction_picture(model, test, result))
    report.image(out / "reconstructions.png", caption="fixed test images (one per class first)")

    for section in SECTIONS:
        section(report, model, result, test, out)

    if result.get("per_class"):
        report.heading("Per class")
        report.table(result["per_class"])

    report.heading("Model")
    report.code(summary_text(model))
    report.heading("Configuration")
    report.code(json.dumps(model.config.to_dict(), indent=2))
    report.text("Conventions: " + "; ".join(f"{k}: {v}" for k, v in result["conventions"].items()))
    return report.write(out / "report.html")

