"""Optional trackers: TensorBoard event files and an offline Weights & Biases run."""

from __future__ import annotations

import pytest

import aekit
from aekit.errors import AekitError


def test_tensorboard_tracker_writes_scalars(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    aekit.train("dense", dataset="digits", out=tmp_path / "r", epochs=3, evaluate=False, progress=False,
                trackers=("tensorboard",))
    acc = EventAccumulator(str(tmp_path / "r" / "tensorboard"))
    acc.Reload()
    assert "train/loss" in acc.Tags()["scalars"] and "val/loss" in acc.Tags()["scalars"]
    assert [e.step for e in acc.Scalars("val/loss")] == [1, 2, 3]


def test_wandb_tracker_runs_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    aekit.train("dense", dataset="digits", out=tmp_path / "r", epochs=2, evaluate=False, progress=False,
                trackers=("wandb",))
    runs = list((tmp_path / "r" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and any(runs[0].glob("*.wandb"))


def test_unknown_tracker_is_an_error(tmp_path):
    with pytest.raises(AekitError, match="unknown tracker"):
        aekit.train("dense", dataset="digits", out=tmp_path / "r", epochs=1, progress=False,
                    trackers=("mlflow",))
    assert not (tmp_path / "r").exists()
