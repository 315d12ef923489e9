"""VAE training stays finite: 50 epochs at learning rate 3e-3, both VAE presets (small scale).

The full-scale counterpart (MNIST, 50 epochs at 3e-3) is ``bench/vae_mnist.py``'s ``vae2`` run.
"""

from __future__ import annotations

import math

import pytest
import torch

import aekit
from aekit.train.callbacks import read_metrics


@pytest.mark.parametrize("preset", ["vae", "conv-vae"])
def test_fifty_epochs_at_lr_3e_3_stay_finite(preset, tmp_path):
    model = aekit.train(preset, dataset="digits", out=tmp_path / preset, epochs=50, lr=3e-3, batch_size=32,
                        limit=160, latent_dim=4, threads=1, progress=False, evaluate=False,
                        **{"objective.binarize": "dynamic", "model.channels": (8, 16)})
    history = read_metrics(tmp_path / preset / "metrics.jsonl")
    assert len(history) == 50
    for record in history:
        for key, value in record.items():
            if isinstance(value, float):
                assert math.isfinite(value), (record["epoch"], key, value)
    assert all(torch.isfinite(p).all() for p in model.module.parameters())
    assert history[-1]["val/loss"] < history[0]["val/loss"] - 1.0  # and it learned something (nats)


def test_a_vae_run_resumes_from_its_checkpoint(tmp_path):
    # run.json stores the preprocessing as JSON (lists); resuming must still recognise the data.
    common = dict(out=tmp_path / "run", threads=1, progress=False, evaluate=False)
    aekit.train("vae", dataset="digits", epochs=1, limit=200, latent_dim=2, hidden=(16,), **common)
    aekit.train(resume=True, epochs=2, **common)
    history = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert [r["epoch"] for r in history] == [1, 2] and "train/kl" in history[1]
