"""Evaluation that writes: ``eval.json``, pictures and ``report.html`` for a run or a saved model."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..data import load_splits
from ..data.imageset import ImageSet
from ..errors import AekitError
from ..fileio import atomic_write_json
from ..fitting import IN_MEMORY
from ..model import Model, load_model, resolve_device
from ..tasks.evaluate import evaluate_model, format_table
from ..train.callbacks import read_metrics
from .folder import run_dir_of
from .report import write_run_report
from .series import evaluate_series_run
from .tables import evaluate_table_run, format_table_result

log = logging.getLogger(__name__)


def evaluate_run(model: Model, splits: Any, out: str | Path, *, history: list[dict] | None = None) -> dict[str, Any]:
    """Evaluate on the test split, write ``eval.json``, pictures and ``report.html`` into ``out``."""
    out = Path(out)
    if splits.kind == "series":
        return evaluate_series_run(model, splits, out, history=history)
    if splits.kind == "table":
        result = evaluate_table_run(model, splits, out, history=history)
        log.info("%s", format_table_result(result))
        log.info("report: %s", out / "report.html")
        return result
    pca_train = splits.train if len(splits.val) == 0 else ImageSet(
        images=np.concatenate([splits.train.images, splits.val.images]), labels=None)
    result = evaluate_model(model, splits.test, pca_train=pca_train, keep_pca=True)
    result["dataset"] = splits.name
    result["split"] = "test"
    write_run_report(out, model, result, splits.test, history=history or [])
    result.pop("_pca", None)
    atomic_write_json(out / "eval.json", result)
    log.info("%s", format_table(result, model.config.preset))
    log.info("report: %s", out / "report.html")
    return result


def evaluate_saved(
    run_or_model: str | Path, *, dataset: str | None = None, data_dir: str | None = None, split: str = "test",
    out: str | Path | None = "<run>", device: str = "auto", progress: bool = True,
) -> dict[str, Any]:
    """Load a saved model, reload its dataset (or ``dataset``) and evaluate it on ``split``.

    Args:
        run_or_model: a run folder or a model folder.
        dataset: evaluate on another dataset with images of the same size.
        data_dir: where datasets live (default: as recorded, else ``$AEKIT_DATA``).
        split: ``test`` (default), ``val`` or ``train``.
        out: folder for ``eval.json``, pictures and ``report.html``; ``"<run>"`` means the run
            folder when there is one; ``None`` writes nothing.
        device: where to run the model.
        progress: show download/read progress.
    """
    model = load_model(run_or_model, device=resolve_device(device))
    data_cfg = model.config.data
    if model.preprocessing.kind not in ("image", "table"):
        raise AekitError(f"{run_or_model}: evaluation against PCA needs an image or table model; this one "
                         f"takes {model.preprocessing.describe_input()}")
    if dataset is None and data_cfg.dataset == IN_MEMORY:
        raise AekitError(f"{run_or_model} was fitted on arrays in memory (aekit.fit), so there is no dataset to "
                         "reload: pass --dataset (a built-in name, a folder or an .npy/.npz file)")
    if dataset is not None:
        data_cfg = replace(data_cfg, dataset=dataset, limit=None)
    if data_dir is not None:
        data_cfg = replace(data_cfg, data_dir=data_dir)
    splits = load_splits(data_cfg, seed=model.config.train.seed, progress=progress)
    if model.preprocessing.kind == "table":
        return _evaluate_saved_table(model, run_or_model, splits, split, out)
    target: ImageSet = getattr(splits, split)
    h, w, c = target.shape
    if (c, h, w) != tuple(model.input_shape):
        mc, mh, mw = model.input_shape
        raise AekitError(
            f"the model expects {mh}x{mw} images with {mc} channel(s); dataset {data_cfg.dataset!r} has "
            f"{h}x{w} with {c}"
        )
    pca_train = splits.train if len(splits.val) == 0 else ImageSet(
        images=np.concatenate([splits.train.images, splits.val.images]), labels=None)
    run_dir = run_dir_of(run_or_model)
    out_dir = (run_dir if out == "<run>" else Path(out)) if out is not None else None
    result = evaluate_model(model, target, pca_train=pca_train, keep_pca=out_dir is not None)
    result.update(dataset=splits.name, split=split, preset=model.config.preset)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        history = read_metrics(run_dir / "metrics.jsonl") if run_dir is not None else []
        report = write_run_report(out_dir, model, result, target, history=history)
        result.pop("_pca", None)
        atomic_write_json(out_dir / "eval.json", result)
        result["report"] = str(report)
    return result



def _evaluate_saved_table(model: Model, run_or_model: str | Path, splits: Any, split: str,
                          out: str | Path | None) -> dict[str, Any]:
    if splits.kind != "table":
        raise AekitError(f"{run_or_model} takes {model.preprocessing.describe_input()}; "
                         f"{splits.name!r} is not a table")
    if split != "test":
        splits = replace_test(splits, getattr(splits, split))
    run_dir = run_dir_of(run_or_model)
    out_dir = (run_dir if out == "<run>" else Path(out)) if out is not None else None
    if out_dir is None:
        raise AekitError("table evaluation writes its report: give an output folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    history = read_metrics(run_dir / "metrics.jsonl") if run_dir is not None else []
    result = evaluate_table_run(model, splits, out_dir, history=history)
    result["report"] = str(out_dir / "report.html")
    return result


def replace_test(splits: Any, rows: Any) -> Any:
    """``splits`` with ``rows`` as the split evaluated."""
    from dataclasses import replace as replace_fields

    return replace_fields(splits, test=rows)
