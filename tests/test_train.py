"""The trainer: learning, determinism, resumption (including after SIGKILL), early stopping."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch

import aekit
from aekit.errors import AekitError
from aekit.train.callbacks import read_metrics

QUIET = dict(progress=False)


def weights(run: Path) -> dict[str, torch.Tensor]:
    return safetensors.torch.load_file(str(run / "model" / "model.safetensors"))


def same_weights(a: Path, b: Path) -> bool:
    wa, wb = weights(a), weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_training_learns_and_writes_a_complete_run(tmp_path):
    model = aekit.train("deep", dataset="digits", out=tmp_path / "run", latent_dim=8, epochs=30, batch_size=64,
                        lr=3e-3, **QUIET)
    run = tmp_path / "run"
    for name in ("run.json", "metrics.jsonl", "checkpoints/last.safetensors", "model/config.json",
                 "eval.json", "report.html", "loss.png", "reconstructions.png"):
        assert (run / name).exists(), name
    records = read_metrics(run / "metrics.jsonl")
    assert [r["epoch"] for r in records] == list(range(1, 31))
    assert records[-1]["val/loss"] < 0.8 * records[0]["val/loss"]
    assert {"train/loss", "train/recon", "val/loss", "lr", "samples_per_s"} <= set(records[0])
    result = json.loads((run / "eval.json").read_text())
    assert result["model"]["mse"] < 0.05 and result["pca"]["n_components"] == 8
    status = json.loads((run / "run.json").read_text())["status"]
    assert status["state"] == "finished" and status["epochs_done"] == 30
    # the returned model holds the best weights, which are the exported ones
    best = max(records, key=lambda r: -r["val/loss"])
    assert status["best_epoch"] == best["epoch"]
    assert aekit.load(run).identity() == model.identity()


def test_same_seed_same_weights(tmp_path):
    for name in ("a", "b"):
        aekit.train("dense", dataset="digits", out=tmp_path / name, epochs=3, evaluate=False, **QUIET)
    assert same_weights(tmp_path / "a", tmp_path / "b")
    aekit.train("dense", dataset="digits", out=tmp_path / "c", epochs=3, seed=1, evaluate=False, **QUIET)
    assert not same_weights(tmp_path / "a", tmp_path / "c")


@pytest.mark.parametrize("preset,checkpoint_every,extra", [
    ("deep", 0, {}), ("deep", 7, {}),
    # channels-last weights with moments restored from a contiguous checkpoint, under fused Adam
    ("conv", 7, dict(channels=(8, 16), memory_format="channels_last", precision="fp32")),
])
def test_resume_continues_exactly(tmp_path, preset, checkpoint_every, extra):
    common = dict(dataset="digits", epochs=6, batch_size=64, evaluate=False, checkpoint_every=checkpoint_every,
                  schedule="plateau", **extra, **QUIET)
    aekit.train(preset, out=tmp_path / "full", **common)
    # a run that stops after 2 epochs, then is resumed to 6
    aekit.train(preset, out=tmp_path / "part", **{**common, "epochs": 2})
    aekit.train(out=tmp_path / "part", resume=True, epochs=6, progress=False, evaluate=False)
    assert same_weights(tmp_path / "full", tmp_path / "part")
    full = read_metrics(tmp_path / "full" / "metrics.jsonl")
    part = read_metrics(tmp_path / "part" / "metrics.jsonl")
    assert [r["val/loss"] for r in full] == [r["val/loss"] for r in part]


def test_epoch_samples_draws_whole_permutations_afresh_each_epoch():
    from aekit.train.loop import InMemoryBatches

    batches = InMemoryBatches(torch.zeros(10, 1), 4, None, shuffle=True, seed=3, epoch_samples=25)
    assert len(batches) == 7 and batches.per_epoch == 25 and batches.num_samples == 10
    first = batches.order(0).tolist()
    assert len(first) == 25
    assert sorted(first[:10]) == sorted(first[10:20]) == list(range(10))  # every sample once per round
    assert first == batches.order(0).tolist() and first != batches.order(1).tolist()
    assert len(InMemoryBatches(torch.zeros(10, 1), 4, None, shuffle=True).order(0)) == 10
    with pytest.raises(AekitError, match="epoch_samples"):
        aekit.train("deep", dataset="digits", epochs=1, epoch_samples=-1, evaluate=False, progress=False)


def _train_cmd(out: Path, data: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "aekit.cli", "train", "--preset", "deep", "--dataset", str(data), "--out", str(out),
            "--epochs", "4", "--batch-size", "32", "--hidden", "256,64", "--latent", "8", "--threads", "1",
            "--schedule", "cosine", "--no-eval", "--no-progress", *extra]


def test_sigkill_mid_epoch_then_resume_matches_uninterrupted(tmp_path):
    rng = np.random.default_rng(0)
    data = tmp_path / "data.npy"
    np.save(data, (rng.random((6000, 16, 16)) ** 3 * 255).astype(np.uint8))
    env = {**os.environ, "PYTHONPATH": str(Path(aekit.__file__).parents[1])}
    subprocess.run(_train_cmd(tmp_path / "full", data), check=True, env=env, capture_output=True)

    run = tmp_path / "killed"
    proc = subprocess.Popen(_train_cmd(run, data, "--checkpoint-every", "25"), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # wait until a mid-run checkpoint exists and the first epoch is logged, then kill hard
    deadline = time.time() + 120
    while time.time() < deadline:
        if len(read_metrics(run / "metrics.jsonl")) >= 1 and (run / "checkpoints" / "last.safetensors").exists():
            break
        time.sleep(0.02)
    time.sleep(0.15)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    status = json.loads((run / "run.json").read_text())["status"]
    assert status["state"] == "running", "the run finished before it could be killed; the test proved nothing"

    subprocess.run([sys.executable, "-m", "aekit.cli", "train", "--resume", str(run), "--no-eval", "--no-progress",
                    "--threads", "1"], check=True, env=env, capture_output=True)
    assert same_weights(tmp_path / "full", run)
    assert len(read_metrics(run / "metrics.jsonl")) == 4


def test_extending_a_planned_schedule_is_refused(tmp_path):
    aekit.train("dense", dataset="digits", out=tmp_path / "r", epochs=2, schedule="cosine", evaluate=False, **QUIET)
    with pytest.raises(AekitError, match="cosine learning-rate schedule was planned for 2 epochs"):
        aekit.train(out=tmp_path / "r", resume=True, epochs=4, **QUIET)


def test_early_stopping_and_keep_best(tmp_path):
    # 40 training images and a big model: validation loss stops improving within a few epochs
    aekit.train("deep", dataset="digits", out=tmp_path / "r", epochs=300, limit=40, lr=1e-2, hidden=(128,),
                latent_dim=16, early_stopping=3, evaluate=False, **QUIET)
    status = json.loads((tmp_path / "r" / "run.json").read_text())["status"]
    records = read_metrics(tmp_path / "r" / "metrics.jsonl")
    assert status["stopped_early"]
    assert len(records) == status["best_epoch"] + 3 < 300
    assert status["best_val_loss"] == pytest.approx(min(r["val/loss"] for r in records))
    best_record = records[status["best_epoch"] - 1]
    assert best_record["best"] and not any(r["best"] for r in records[status["best_epoch"]:])


@pytest.mark.parametrize("schedule", ["step", "plateau", "cosine"])
def test_schedules_change_the_learning_rate(tmp_path, schedule):
    aekit.train("dense", dataset="digits", out=tmp_path / "r", epochs=8, schedule=schedule,
                evaluate=False, **QUIET)
    lrs = [r["lr"] for r in read_metrics(tmp_path / "r" / "metrics.jsonl")]
    if schedule == "plateau":
        assert lrs[0] == 1e-3  # plateau only decays when validation stalls
    else:
        assert lrs[-1] < lrs[0]


def test_bf16_training_runs_and_learns(tmp_path):
    aekit.train("conv", dataset="digits", out=tmp_path / "r", epochs=3, precision="bf16", evaluate=False,
                channels=(8, 16), **QUIET)
    records = read_metrics(tmp_path / "r" / "metrics.jsonl")
    assert records[-1]["val/loss"] < records[0]["val/loss"]


def test_existing_run_is_not_overwritten_silently(tmp_path):
    aekit.train("dense", dataset="digits", out=tmp_path / "r", epochs=1, evaluate=False, **QUIET)
    with pytest.raises(AekitError, match="already holds a run.*--resume"):
        aekit.train("dense", dataset="digits", out=tmp_path / "r", epochs=1, **QUIET)
    with pytest.raises(AekitError, match="cannot change lr when resuming"):
        aekit.train(out=tmp_path / "r", resume=True, lr=0.1, **QUIET)


def test_divergence_is_reported_not_silent(tmp_path):
    with pytest.raises(AekitError, match="diverged"):
        aekit.train("deep", dataset="digits", out=tmp_path / "r", epochs=5, lr=1e3, optimizer="sgd",
                    reconstruction="mse", output_activation="none", evaluate=False, **QUIET)


@pytest.mark.parametrize("preset", ["vae", "conv"])
def test_compiled_training_runs_through_a_partial_last_batch(tmp_path, preset):
    # 300 images at batch 64 end with a batch of 44: a second, dynamic-shape graph
    aekit.train(preset, dataset="digits", out=tmp_path / "r", epochs=2, batch_size=64, limit=300, compile=True,
                evaluate=False, latent_dim=4, **QUIET)
    records = read_metrics(tmp_path / "r" / "metrics.jsonl")
    assert len(records) == 2 and all(np.isfinite(r["val/loss"]) for r in records)
    assert records[-1]["train/loss"] < records[0]["train/loss"]
