"""The run folder: one class that knows where everything of a training run lives.

::

    RUN/
      run.json                  the full RunConfig, preprocessing, data provenance, status
      metrics.jsonl             one record per epoch (every loss term, lr, throughput)
      checkpoints/last.safetensors   resumable state, rewritten atomically every epoch
      model/                    the exported best model (config.json + model.safetensors)
      eval.json, report.html, *.png  written by the evaluation at the end
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._version import __version__
from ..config import RunConfig
from ..data.preprocess import Preprocessing
from ..errors import AekitError
from ..fileio import atomic_write_json

RUN_FILE = "run.json"
METRICS_FILE = "metrics.jsonl"
CHECKPOINT_FILE = Path("checkpoints") / "last.safetensors"
MODEL_DIR = "model"
RUN_FORMAT_VERSION = 1


@dataclass(frozen=True)
class RunFolder:
    """Paths and records of one run folder."""

    root: Path

    @property
    def run_file(self) -> Path:
        return self.root / RUN_FILE

    @property
    def metrics_file(self) -> Path:
        return self.root / METRICS_FILE

    @property
    def checkpoint(self) -> Path:
        return self.root / CHECKPOINT_FILE

    @property
    def model_dir(self) -> Path:
        return self.root / MODEL_DIR

    def holds_run(self) -> bool:
        return self.run_file.exists() or self.model_dir.exists()

    def refuse_existing(self) -> None:
        if self.holds_run():
            raise AekitError(f"{self.root} already holds a run; continue it with --resume, pick another --out, "
                             "or pass --overwrite")

    def clear(self) -> None:
        """Remove a previous run's records (``--overwrite``); other files in the folder stay."""
        for name in (RUN_FILE, METRICS_FILE, "checkpoints", MODEL_DIR):
            target = self.root / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()

    def write_record(self, run: RunConfig, preprocessing: Preprocessing, data_info: dict, **status: Any) -> None:
        """Write ``run.json``, keeping its creation time and merging ``status`` into the old one."""
        previous = json.loads(self.run_file.read_text()) if self.run_file.exists() else {}
        record = {
            "format_version": RUN_FORMAT_VERSION,
            "aekit_version": __version__,
            "created": previous.get("created", time.strftime("%Y-%m-%dT%H:%M:%S%z")),
            "config": run.to_dict(),
            "preprocessing": preprocessing.to_dict(),
            "data_info": data_info,
            "status": {**previous.get("status", {}), **status},
        }
        atomic_write_json(self.run_file, record)

    def read_record(self) -> dict[str, Any]:
        return read_run_file(self.root)


def read_run_file(run_dir: str | os.PathLike) -> dict[str, Any]:
    """The ``run.json`` record of a run folder, checked for its format version."""
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        raise AekitError(f"{run_dir} is not an aekit run folder: no {RUN_FILE} in it")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise AekitError(f"{path} is corrupt ({err})") from None
    if record.get("format_version") != RUN_FORMAT_VERSION:
        raise AekitError(
            f"{path} has run format version {record.get('format_version')!r}; this aekit reads {RUN_FORMAT_VERSION}"
        )
    return record


def run_dir_of(path: str | os.PathLike) -> Path | None:
    """The run folder a path belongs to (the path itself, or the parent of ``RUN/model``)."""
    path = Path(path)
    for candidate in (path, path.parent):
        if (candidate / RUN_FILE).is_file():
            return candidate
    return None


def default_run_dir(preset: str, dataset: str) -> Path:
    base = Path("runs") / f"{preset}-{Path(dataset).stem}"
    candidate, n = base, 2
    while candidate.exists():
        candidate = base.with_name(f"{base.name}-{n}")
        n += 1
    return candidate
