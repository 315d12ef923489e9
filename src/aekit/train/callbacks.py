"""What watches training: the progress bar, ``metrics.jsonl`` and optional trackers.

Trackers (TensorBoard, Weights & Biases) are imported only when asked for, so their packages
stay optional extras.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch

from ..errors import AekitError
from ..fileio import append_line, atomic_write_text


class Callback:
    """Receives one metrics record per epoch (see :func:`aekit.train.loop.fit`)."""

    def on_epoch_end(self, record: dict[str, Any]) -> None:
        pass

    def on_train_end(self) -> None:
        pass


class EpochProgress:
    """A tqdm bar over one epoch's batches, showing the running loss and throughput."""

    def __init__(self, epoch: int, epochs: int, steps: int, *, start: int = 0, enabled: bool = True):
        self.bar = None
        self.samples = 0
        self.started = time.perf_counter()
        self.loss_sum = 0.0
        self.loss_n = 0
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=steps, initial=start, desc=f"epoch {epoch + 1}/{epochs}", unit="batch",
                            leave=False, dynamic_ncols=True, file=sys.stderr, mininterval=0.25)

    def update(self, n: int, terms: dict[str, torch.Tensor]) -> None:
        if self.bar is None:
            return
        self.samples += n
        self.bar.update(1)
        # Reading the loss forces a device sync; do it only as often as the bar redraws.
        if self.bar.n % 10 == 0 or self.bar.n == self.bar.total:
            rate = self.samples / max(time.perf_counter() - self.started, 1e-9)
            self.bar.set_postfix(loss=f"{float(terms['loss'].detach()):.4f}", rate=f"{rate:,.0f}/s", refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class MetricsFile(Callback):
    """Appends each epoch's record as one JSON line to ``metrics.jsonl`` (fsynced)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def truncate_after(self, epoch: int) -> None:
        """Drop records past ``epoch`` (a run killed after logging but before checkpointing)."""
        if not self.path.exists():
            return
        kept = [line for line in read_metrics(self.path) if line.get("epoch", 0) <= epoch]
        atomic_write_text(self.path, "".join(json.dumps(r) + "\n" for r in kept))

    def on_epoch_end(self, record: dict[str, Any]) -> None:
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
        append_line(self.path, json.dumps(clean))


def read_metrics(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Records of a ``metrics.jsonl``; a torn last line (crash mid-write) is skipped."""
    records = []
    path = Path(path)
    if not path.exists():
        return records
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


class TensorBoardTracker(Callback):
    """Writes every scalar of each record to ``<run>/tensorboard`` (needs ``aekit[tensorboard]``)."""

    def __init__(self, run_dir: str | os.PathLike):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise AekitError(
                "the tensorboard tracker needs the tensorboard package: pip install 'aekit[tensorboard]'"
            ) from None
        self.writer = SummaryWriter(log_dir=str(Path(run_dir) / "tensorboard"))

    def on_epoch_end(self, record: dict[str, Any]) -> None:
        for key, value in record.items():
            if key != "epoch" and isinstance(value, int | float) and not isinstance(value, bool):
                self.writer.add_scalar(key, value, record["epoch"])
        self.writer.flush()

    def on_train_end(self) -> None:
        self.writer.close()


class WandbTracker(Callback):
    """Logs each record to Weights & Biases in offline mode (needs ``aekit[wandb]``)."""

    def __init__(self, run_dir: str | os.PathLike, config: dict[str, Any], name: str | None = None):
        try:
            import wandb
        except ImportError:
            raise AekitError("the wandb tracker needs the wandb package: pip install 'aekit[wandb]'") from None
        os.environ.setdefault("WANDB_MODE", "offline")
        self.wandb = wandb
        self.run = wandb.init(project="aekit", dir=str(run_dir), config=config, name=name, reinit=True)

    def on_epoch_end(self, record: dict[str, Any]) -> None:
        self.run.log({k: v for k, v in record.items() if isinstance(v, int | float)}, step=record["epoch"])

    def on_train_end(self) -> None:
        self.run.finish()


TRACKERS = ("tensorboard", "wandb")


def check_trackers(names: tuple[str, ...]) -> None:
    unknown = [n for n in names if n not in TRACKERS]
    if unknown:
        raise AekitError(f"unknown tracker {unknown[0]!r}; valid trackers: {', '.join(TRACKERS)}")


def make_trackers(names: tuple[str, ...], run_dir: Path, config: dict[str, Any]) -> list[Callback]:
    check_trackers(names)
    trackers: list[Callback] = []
    for name in names:
        if name == "tensorboard":
            trackers.append(TensorBoardTracker(run_dir))
        else:
            trackers.append(WandbTracker(run_dir, config, name=run_dir.name))
    return trackers
