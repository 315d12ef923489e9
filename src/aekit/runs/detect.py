"""``aekit detect``: score files, label them, and write scores, pictures and a report."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..data.pixels import as_uint8
from ..errors import AekitError
from ..fileio import atomic_write_csv, atomic_write_json, read_csv_rows
from ..model import Model
from ..tasks.anomaly import AnomalyDetector, resolve_score, roc_curve_auc
from ..viz import Report, comparison_grid, plot_histogram, save_figure, save_png
from .files import read_inputs


# --------------------------------------------------------------------- pictures
def plot_roc(curves: dict[str, tuple[np.ndarray, np.ndarray, float]], path: str | os.PathLike) -> Path:
    """ROC curves, name -> (fpr, tpr, auroc), on one plot."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.2, 4.0))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for name, (fpr, tpr, auc) in curves.items():
        ax.plot(fpr, tpr, label=f"{name} (AUROC {auc:.3f})")
    ax.plot([0, 1], [0, 1], color="0.7", linestyle=":", linewidth=1)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.legend(fontsize="small", loc="lower right")
    fig.tight_layout()
    return save_figure(fig, path, 110)


def heat(maps: np.ndarray) -> np.ndarray:
    """(N, H, W) non-negative maps -> (N, H, W, 3) uint8 heat images, one shared scale."""
    from matplotlib import colormaps

    top = float(np.percentile(maps, 99.5)) if maps.size else 1.0
    scaled = np.clip(maps / max(top, 1e-12), 0, 1)
    return as_uint8(colormaps["inferno"](scaled)[..., :3])


def most_anomalous_picture(model: Model, images: np.ndarray, scores: np.ndarray, maps: np.ndarray,
                           n: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Rows input / reconstruction / pixel map of the ``n`` highest-scoring inputs."""

    order = np.argsort(-scores, kind="stable")[:n]
    chosen = images[order]
    inputs, recon = as_uint8(chosen), as_uint8(model.reconstruct(chosen))
    if inputs.shape[-1] != 3:
        inputs, recon = np.repeat(inputs, 3, axis=-1), np.repeat(recon, 3, axis=-1)
    return comparison_grid([inputs, recon, heat(maps[order])], ["input", "recon", "map"]), order




# --------------------------------------------------------------------- files (aekit detect)
def read_binary_labels(path: str | os.PathLike, n: int) -> np.ndarray:
    """One 0/1 per input from a ``.npy`` file or a text/CSV file (one value per line; a header is skipped)."""
    path = Path(path)
    if not path.is_file():
        raise AekitError(f"no such labels file: {path}")
    if path.suffix == ".npy":
        try:
            labels = np.load(path, allow_pickle=False).ravel()
        except ValueError as err:
            raise AekitError(f"{path} is not a readable .npy array ({err})") from None
    else:
        rows = [row[-1].strip() for row in read_csv_rows(path)]
        if rows and not rows[0].lstrip("-").replace(".", "", 1).isdigit():
            rows = rows[1:]  # header
        try:
            labels = np.array([float(r) for r in rows])
        except ValueError as err:
            raise AekitError(f"expected one number (0 or 1) per line in {path}; {err}") from None
    if labels.shape != (n,):
        raise AekitError(f"expected one label per input ({n}) in {path}; got {labels.size}")
    if not np.isin(labels, (0, 1)).all():
        raise AekitError(f"expected labels 0 (normal) or 1 (anomaly) in {path}; got values "
                         f"{sorted(set(np.unique(labels).tolist()))[:5]}")
    return labels.astype(np.int64)


def detect_files(
    model: Model, paths: Any, out_dir: str | os.PathLike, *, labels: str | None = None,
    normal_classes: str | None = None, fit: Any = None, score: str | None = None,
    contamination: float | None = None, percentile: float = 99.0, save: bool = False, top: int = 16,
) -> dict[str, Any]:
    """Score inputs, label them, and write ``scores.csv``, ``detect.json``, pictures and ``report.html``."""

    out_dir = Path(out_dir)
    if fit:
        det = AnomalyDetector(model, score=score or "auto", contamination=contamination,
                              percentile=percentile).fit(read_inputs(model, fit).images)
        if save:
            if model.path is None:
                raise AekitError("--save needs a model loaded from a folder")
            model.save(model.path)
    else:
        if save or contamination is not None:
            raise AekitError("--save and --contamination go with --fit NORMAL_IMAGES (the normal data that sets it)")
        det = AnomalyDetector.from_model(model)
        if score is not None and resolve_score(model, score) != det.score_:
            raise AekitError(f"the saved threshold is for score {det.score_!r}, not {score!r}; refit with "
                             f"--fit NORMAL_IMAGES --score {score}")
    images = read_inputs(model, paths)
    n = len(images)
    truth = None
    if labels and normal_classes:
        raise AekitError("give either --labels or --normal-classes, not both")
    if labels:
        truth = read_binary_labels(labels, n)
    elif normal_classes:
        if images.labels is None:
            raise AekitError("--normal-classes needs inputs that carry class labels (class folders, arrays with y)")
        try:
            normal = [int(c) for c in str(normal_classes).split(",") if c.strip()]
        except ValueError:
            raise AekitError(f"--normal-classes: expected class indices like 0 or 3,5; got {normal_classes!r}") \
                from None
        truth = (~np.isin(images.labels, normal)).astype(np.int64)
    scores, maps = det.scores_and_maps(images.images, progress=n > 5000)  # the detector's score, threshold's scale
    predicted = (scores > det.threshold_).astype(np.int64)
    names = images.names or tuple(f"image_{i:05d}" for i in range(n))
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = [["name", "score", "anomaly"] + (["label"] if truth is not None else [])]
    for i in range(n):
        rows.append([names[i], f"{scores[i]:.9g}", predicted[i]] + ([truth[i]] if truth is not None else []))
    atomic_write_csv(out_dir / "scores.csv", rows)
    result: dict[str, Any] = {
        "n": n, "score": det.score_, "threshold": det.threshold_, "n_anomalies": int(predicted.sum()),
        "scores_csv": str(out_dir / "scores.csv"),
    }
    report = Report(f"Anomaly detection: {n} input(s)")
    report.text(f"Score **{det.score_}** (higher = more anomalous), threshold {det.threshold_:.6g} "
                f"(fitted on {det.n_fit_} normal images); {int(predicted.sum())} of {n} flagged.")
    hist = {"all": scores} if truth is None else {"normal": scores[truth == 0], "anomaly": scores[truth == 1]}
    hist = {k: v for k, v in hist.items() if v.size}
    plot_histogram(hist, out_dir / "histogram.png", title="anomaly scores", xlabel=det.score_,
                   vlines={"threshold": det.threshold_})
    report.image(out_dir / "histogram.png", caption="score histogram with the threshold", pixelated=False)
    picture, order = most_anomalous_picture(det.model_, images.images, scores, maps, n=min(top, n))
    save_png(out_dir / "most_anomalous.png", picture)
    report.image(out_dir / "most_anomalous.png", caption="the most anomalous inputs (highest score first): input, "
                                                       "reconstruction, per-pixel map")
    result["most_anomalous"] = [names[i] for i in order]
    if truth is not None:
        result["n_true_anomalies"] = int(truth.sum())
        if 0 < truth.sum() < n:
            fpr, tpr, auc = roc_curve_auc(scores, truth)
            result["auroc"] = auc
            tp = int(((predicted == 1) & (truth == 1)).sum())
            result["precision"] = tp / max(int(predicted.sum()), 1)
            result["recall"] = tp / int(truth.sum())
            plot_roc({det.score_: (fpr, tpr, auc)}, out_dir / "roc.png")
            report.image(out_dir / "roc.png", caption=f"ROC curve, AUROC {auc:.4f}", pixelated=False)
    atomic_write_json(out_dir / "detect.json", result)
    report.write(out_dir / "report.html")
    return result
