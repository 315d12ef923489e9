"""Tables through a trained model: read rows, score them, explain them, write what a user opens.

``aekit detect RUN rows.csv -o out/`` (:func:`detect_table`) writes ``scores.csv`` keyed by the
id column, ``detect.json`` (threshold and where it came from), ``histogram.png``,
``top_rows.csv`` and ``report.html`` with the most anomalous rows and the columns that made
them so. ``aekit train --dataset rows.csv`` ends in :func:`evaluate_table_run` (test error
against PCA with the same code size, per column, and detection quality when the table has
labels). ``aekit encode RUN rows.csv`` reads rows with :func:`read_rows`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.tablefiles import Table, pandas_module, read_table
from ..data.tablesplits import TableSet
from ..errors import AekitError
from ..fileio import atomic_write_bytes, atomic_write_csv, atomic_write_json
from ..model import Model
from ..tasks.anomaly import AnomalyDetector, model_space_errors, resolve_score
from ..thresholds import AnomalyThreshold
from ..viz import Report, plot_bars, plot_histogram, plot_history

log = logging.getLogger(__name__)

SHOWN_COLUMNS = 3  # contributing columns named per row in the report


# --------------------------------------------------------------------- reading
def read_rows(model: Model, path: Any, *, id_column: str | None = None, label_column: str | None = None) -> Table:
    """Read a table file for a table model. The id and label columns default to the ones the model
    was trained with, when the file has them; every other column must be one of the model's."""
    if model.preprocessing.kind != "table":
        raise AekitError(f"this model takes {model.preprocessing.describe_input()}, not a table")
    recorded = model.config.data
    whole = read_table(path, min_rows=1)  # every column this file has
    columns = set(whole.features.columns)
    id_column = id_column or (recorded.id_column if recorded.id_column in columns else None)
    label_column = label_column or (recorded.label_column if recorded.label_column in columns else None)
    table = read_table(whole.features, id_column=id_column, label_column=label_column, min_rows=1)
    if table.labels is None:
        table.labels = whole.labels  # an .npz's own y
    table.source = whole.source
    return table


def row_names(table: Table) -> list[str]:
    return [str(v) for v in table.ids] if table.ids is not None else [str(i) for i in range(len(table))]


def binary_truth(labels: np.ndarray, normal: str | None = None) -> np.ndarray:
    """Labels -> 1 (anomaly) / 0 (normal): values 0/1 (or booleans) as they are, else ``normal``
    names the normal value(s), comma-separated, and everything else is an anomaly."""
    values = np.asarray(labels)
    if normal is not None:
        keep = {v.strip() for v in str(normal).split(",") if v.strip()}
        return (~np.isin(values.astype(str), sorted(keep))).astype(np.int64)
    try:
        numbers = values.astype(np.float64)
    except (TypeError, ValueError):
        numbers = None
    if numbers is None or not np.isin(numbers, (0, 1)).all():
        shown = ", ".join(map(repr, sorted({str(v) for v in values.tolist()})[:5]))
        raise AekitError(f"expected labels 0 (normal) / 1 (anomaly); got values {shown}; name the normal "
                         "value(s) with --normal-classes")
    return numbers.astype(np.int64)


def write_rows(path: str | os.PathLike, frame: Any, float_format: str | None = None) -> Path:
    """A frame to ``.csv`` or ``.parquet``, atomically."""
    import io

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise AekitError(f"expected an output ending in .csv or .parquet; got {path.name}")
    buf = io.BytesIO()
    if suffix == ".csv":
        frame.to_csv(buf, index=False, float_format=float_format)
    else:
        frame.to_parquet(buf, index=False, engine="pyarrow")
    atomic_write_bytes(path, buf.getvalue())
    return path


# --------------------------------------------------------------------- scoring
def score_rows(model: Model, rows: Any, score: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reconstruction scores (N,), per-column contributions (N, columns; for ``mse`` they sum to
    the score) and reconstructions in model space (N, D')."""
    x_model, _ = model.preprocessing.to_model(rows, device=model.device)
    scores, maps = model_space_errors(model, x_model, score, progress=len(x_model) > 50_000)
    with torch.inference_mode():
        recon = torch.cat([model.module(x_model[i:i + 4096]).x_hat.float().cpu()
                           for i in range(0, len(x_model), 4096)]).numpy()
    per_column = model.preprocessing.column_totals(maps)
    if score == "mse":  # the score is the mean over the D' model-space features: shares sum to it
        per_column = per_column / maps.shape[1]
    return scores, per_column, recon


def detector_scores(scorer: AnomalyDetector | None, rows: Any, scores: np.ndarray) -> np.ndarray:
    """The scores of ``scorer`` (reconstruction plus its code-space term) when it has that term,
    else ``scores``: a threshold set on the detector's score is compared with the same score (the
    per-column contributions stay the reconstruction part's)."""
    if scorer is not None and scorer.neighbours_ is not None:
        return scorer.score_samples(rows)
    return scores


def explain_rows(model: Model, table: Table, order: np.ndarray, scores: np.ndarray, contributions: np.ndarray,
                 recon: np.ndarray) -> list[dict[str, Any]]:
    """The rows ``order`` with the columns that contributed most: value, reconstruction, share."""
    expected = model.preprocessing.decode(recon[order])
    names = row_names(table)
    out = []
    for j, i in enumerate(order):
        total = float(np.abs(contributions[i]).sum()) or 1.0
        top = np.argsort(-contributions[i], kind="stable")[:SHOWN_COLUMNS]
        columns = model.preprocessing.names
        out.append({
            "rank": j + 1, "id": names[i], "score": float(scores[i]),
            "columns": [{"column": columns[c], "value": _plain(table.features.iloc[i][columns[c]]),
                         "expected": _plain(expected.iloc[j][columns[c]]),
                         "share": float(contributions[i, c] / total)} for c in top],
        })
    return out


def _plain(value: Any) -> Any:
    value = value.item() if hasattr(value, "item") else value
    return float(f"{value:.6g}") if isinstance(value, float) else value


# --------------------------------------------------------------------- aekit detect
def detect_table(model: Model, path: Any, out_dir: str | os.PathLike, *, id_column: str | None = None,
                 label_column: str | None = None, normal_classes: str | None = None, fit: Any = None,
                 score: str | None = None, contamination: float | None = None, percentile: float = 99.0,
                 save: bool = False, top: int = 20) -> dict[str, Any]:
    """Score every row of a table file and write ``scores.csv``, ``detect.json``, ``top_rows.csv``,
    ``histogram.png`` and ``report.html`` into ``out_dir``.

    The threshold is, in this order: fitted on ``fit`` (a file of normal rows; ``save`` keeps it
    in the model folder); the ``1 - contamination`` quantile of these rows' own scores; the one
    saved with the model (a table run saves the 99th percentile of its validation rows). With none
    of them the scores still come out, unlabelled.
    """
    out_dir = Path(out_dir)
    table = read_rows(model, path, id_column=id_column, label_column=label_column)
    truth = binary_truth(table.labels, normal_classes) if table.labels is not None or normal_classes else None
    if normal_classes and table.labels is None:
        raise AekitError("--normal-classes needs a label column (--label-column, or the one the model was trained "
                         "with)")
    if save and not fit:
        raise AekitError("--save goes with --fit NORMAL_ROWS (the normal rows that set the threshold)")
    saved = AnomalyDetector.from_model(model) if AnomalyThreshold.key in model.fitted else None
    score = resolve_score(model, score or (saved.score_ if saved is not None and not fit else "auto"))
    if fit:
        normal = read_rows(model, fit, id_column=id_column, label_column=label_column).features
        det = AnomalyDetector(model, score=score, contamination=contamination, percentile=percentile).fit(normal)
        source = f"fitted on {len(normal)} rows of {fit}"
        if save:
            if model.path is None:
                raise AekitError("--save needs a model loaded from a folder")
            model.save(model.path)
    errors, contributions, recon = score_rows(model, table.features, score)
    scorer = det if fit else (saved if saved is not None and saved.score_ == score and contamination is None else None)
    scores = detector_scores(scorer, table.features, errors)
    code_term = scores is not errors  # the score adds the code-space term to the reconstruction error
    threshold: float | None
    if fit:
        threshold = det.threshold_
    elif contamination is not None:
        threshold = AnomalyThreshold.fit(scores, score=score, contamination=contamination).threshold
        source = f"the {1 - contamination:.4g} quantile of these rows' scores (--contamination {contamination})"
    elif saved is not None and saved.score_ == score:
        threshold = saved.threshold_
        source = f"saved with the model (fitted on {saved.n_fit_} rows)"
    else:
        threshold, source = None, "none: pass --fit NORMAL_ROWS or --contamination to label rows"
    flagged = (scores > threshold).astype(np.int64) if threshold is not None else None
    names = row_names(table)
    out_dir.mkdir(parents=True, exist_ok=True)
    key = table.id_column or "row"
    rank = np.empty(len(scores), dtype=np.int64)
    rank[np.argsort(-scores, kind="stable")] = np.arange(1, len(scores) + 1)
    outputs = {key: names, "score": scores, "reconstruction": errors if code_term else None, "rank": rank,
               "anomaly": flagged, "label": truth}
    # One frame written in one go: a Python list per row raised detect's peak RSS by 115 MB on
    # 600k rows (bench/table_scale.py, 777 -> 662 MB).
    write_rows(out_dir / "scores.csv", pandas_module().DataFrame({k: v for k, v in outputs.items() if v is not None}),
               float_format="%.9g")

    order = np.argsort(-scores, kind="stable")[:max(0, min(top, len(scores)))]
    explained = explain_rows(model, table, order, scores, contributions, recon)
    columns = model.preprocessing.names
    top_rows = [[key, "rank", "score", "reconstruction", *columns, *(f"contribution:{c}" for c in columns)]]
    for row, i in zip(explained, order, strict=True):
        top_rows.append([row["id"], row["rank"], f"{row['score']:.9g}", f"{errors[i]:.9g}",
                         *(_plain(table.features.iloc[i][c]) for c in columns),
                         *(f"{v:.6g}" for v in contributions[i])])
    atomic_write_csv(out_dir / "top_rows.csv", top_rows)

    result: dict[str, Any] = {
        "n": len(scores), "score": score, "threshold": threshold, "threshold_source": source,
        "n_anomalies": int(flagged.sum()) if flagged is not None else None,
        "scores_csv": str(out_dir / "scores.csv"), "top_rows_csv": str(out_dir / "top_rows.csv"),
        "most_anomalous": explained,
    }
    report = Report(f"Anomaly detection: {len(scores)} row(s) of {Path(str(path)).name}")
    flagged_text = f"{int(flagged.sum())} of {len(scores)} rows flagged" if flagged is not None else "no labels"
    composed = (" plus the code-space term (distance to the nearest training rows' codes, on the same robust "
                "scale)" if code_term else "")
    report.text(f"Score **{score}**{composed} (higher = more anomalous; per column: its share of the squared error "
                f"in standard deviations). Threshold: {'none' if threshold is None else f'{threshold:.6g}'}, {source}; "
                f"{flagged_text}.")
    hist = {"all": scores} if truth is None else {"normal": scores[truth == 0], "anomaly": scores[truth == 1]}
    plot_histogram({k: v for k, v in hist.items() if v.size}, out_dir / "histogram.png", title="anomaly scores",
                   xlabel=score, vlines={"threshold": threshold} if threshold is not None else None)
    report.image(out_dir / "histogram.png", caption="score histogram", pixelated=False)
    report.table([{"rank": r["rank"], "id": r["id"], "score": r["score"],
                   **{f"column {k + 1}": f"{c['column']} = {c['value']} (expected {c['expected']}, "
                                         f"{c['share']:.0%})" for k, c in enumerate(r["columns"])}}
                  for r in explained] or [{"rank": "-"}],
                 caption="the most anomalous rows and the columns that made them so (value, reconstruction, share "
                         "of the score)")
    if truth is not None:
        result.update(quality(scores, truth, flagged))
        if "auroc" in result:
            report.table({k: result[k] for k in ("auroc", "average_precision", "precision", "recall")
                          if result.get(k) is not None}, caption="against the labels")
    atomic_write_json(out_dir / "detect.json", result)
    report.write(out_dir / "report.html")
    return result


def quality(scores: np.ndarray, truth: np.ndarray, flagged: np.ndarray | None) -> dict[str, Any]:
    """AUROC and average precision of ``scores`` against ``truth``, and precision/recall of ``flagged``."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    out: dict[str, Any] = {"n_true_anomalies": int(truth.sum())}
    if 0 < truth.sum() < len(truth):
        out["auroc"] = float(roc_auc_score(truth, scores))
        out["average_precision"] = float(average_precision_score(truth, scores))
        if flagged is not None:
            tp = int(((flagged == 1) & (truth == 1)).sum())
            out["precision"] = tp / max(int(flagged.sum()), 1)
            out["recall"] = tp / int(truth.sum())
    return out


# --------------------------------------------------------------------- evaluation after training
def evaluate_table_run(model: Model, splits: Any, out: str | Path, *, history: list[dict] | None = None,
                       normal_classes: str | None = None) -> dict[str, Any]:
    """Test rows: the model's error against PCA with the same code size (both in standardised
    units, per column too), and AUROC / AP of the scores `aekit detect` gives when the table has 0/1 labels.
    Writes ``eval.json``, pictures and ``report.html`` into ``out``."""
    from sklearn.decomposition import PCA

    out = Path(out)
    test: TableSet = splits.test if len(splits.test) else splits.val
    if len(test) == 0:
        raise AekitError("no test or validation rows to evaluate on; lower data.test_fraction only when you "
                         "pass --no-eval")
    prep = model.preprocessing
    score = resolve_score(model, "auto")
    scores, contributions, recon = score_rows(model, test.samples, score)
    saved = AnomalyDetector.from_model(model) if AnomalyThreshold.key in model.fitted else None
    scores = detector_scores(saved if saved is not None and saved.score_ == score else None, test.samples, scores)
    x_test = prep.encode(test.samples)
    fit_rows = splits.train.samples if len(splits.val) == 0 else _concat(splits.train.samples, splits.val.samples)
    x_fit = prep.encode(fit_rows)
    k = min(model.latent_dim, x_fit.shape[1], len(x_fit))
    pca = PCA(n_components=k, random_state=0).fit(x_fit)
    pca_recon = pca.inverse_transform(pca.transform(x_test))
    model_err = prep.column_totals((x_test - recon) ** 2)
    pca_err = prep.column_totals((x_test - pca_recon) ** 2)
    result: dict[str, Any] = {
        "dataset": splits.name, "split": "test" if len(splits.test) else "val", "preset": model.config.preset,
        "kind": "table", "n": len(test), "score": score, "latent_dim": model.latent_dim,
        "mse": float(((x_test - recon) ** 2).mean()), "pca_mse": float(((x_test - pca_recon) ** 2).mean()),
        "per_column": {c: {"mse": float(model_err[:, j].mean()), "pca_mse": float(pca_err[:, j].mean())}
                       for j, c in enumerate(prep.names)},
    }
    flagged = (scores > saved.threshold_).astype(np.int64) if saved is not None and saved.score_ == score else None
    if flagged is not None:
        result["threshold"] = saved.threshold_
        result["flagged_share"] = float(flagged.mean())
    if test.labels is not None:
        try:
            truth = binary_truth(test.labels, normal_classes)
        except AekitError as err:
            result["labels"] = f"not scored: {err}"
        else:
            result.update(quality(scores, truth, flagged))
            pca_scores = ((x_test - pca_recon) ** 2).mean(1)
            if "auroc" in result:
                result["pca_auroc"] = quality(pca_scores, truth, None)["auroc"]
    write_table_report(out, model, result, scores, history or [])
    atomic_write_json(out / "eval.json", result)
    return result


def format_table_result(result: dict[str, Any]) -> str:
    """One line on a table model's evaluation: its error, PCA's, and AUROCs when there were labels."""
    line = (f"{result['split']} rows: MSE {result['mse']:.4g} (PCA-{result['latent_dim']} "
            f"{result['pca_mse']:.4g}, standardised units)")
    if "auroc" in result:
        line += f", anomaly AUROC {result['auroc']:.4f} (PCA {result['pca_auroc']:.4f})"
    return line


def _concat(a: Any, b: Any) -> Any:
    import pandas as pd

    return pd.concat([a, b], ignore_index=True)


def write_table_report(out: Path, model: Model, result: dict[str, Any], scores: np.ndarray,
                       history: list[dict]) -> Path:
    report = Report(f"{model.config.preset} on {result['dataset']}: {result['n']} {result['split']} rows")
    summary = {k: result[k] for k in ("mse", "pca_mse", "auroc", "pca_auroc", "average_precision", "threshold",
                                      "flagged_share") if k in result}
    report.table(summary, caption=f"{result['split']} rows, errors in standard deviations squared; PCA with "
                                  f"{result['latent_dim']} components for comparison")
    if history:
        plot_history(history, out / "loss.png", title="training")
        report.image(out / "loss.png", caption="loss per epoch", pixelated=False)
    per_column = result["per_column"]
    plot_bars({c: v["mse"] for c, v in list(per_column.items())[:40]}, out / "columns.png",
              title="reconstruction error per column", ylabel="MSE (standardised)")
    report.image(out / "columns.png", caption="which columns the model reconstructs worst", pixelated=False)
    plot_histogram(scores, out / "scores.png", title="anomaly scores", xlabel=result["score"],
                   vlines={"threshold": result["threshold"]} if "threshold" in result else None)
    report.image(out / "scores.png", caption="scores of the held-out rows", pixelated=False)
    return report.write(out / "report.html")
