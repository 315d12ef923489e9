"""Shared fixtures: tiny models, tiny data, and where the real datasets live."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    """``$AEKIT_DATA`` or ``../shared/data`` beside the repo, if it holds MNIST."""
    for candidate in (os.environ.get("AEKIT_DATA"), REPO.parent / "shared" / "data"):
        if candidate and (Path(candidate) / "mnist" / "t10k-images-idx3-ubyte.gz").is_file():
            return Path(candidate)
    return None


@pytest.fixture(autouse=True)
def _quiet_and_offline(monkeypatch):
    # Tests never touch the network, and a fixed thread count keeps timings and floats stable.
    monkeypatch.setenv("AEKIT_OFFLINE", "1")
    torch.set_num_threads(2)


@pytest.fixture(scope="module")
def digits():
    """scikit-learn's 8x8 digits as aekit splits (loaded once per test module)."""
    import aekit.data

    return aekit.data.load_dataset("digits")


@pytest.fixture
def blobs_npy(tmp_path) -> Path:
    """600 12x12 grayscale uint8 images of random blobs, saved as .npy (a fast, fake dataset)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:12, 0:12]
    cx = rng.uniform(3, 9, size=(600, 1, 1))
    cy = rng.uniform(3, 9, size=(600, 1, 1))
    r = rng.uniform(1.5, 3.5, size=(600, 1, 1))
    images = (np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r ** 2)) * 255).astype(np.uint8)
    path = tmp_path / "blobs.npy"
    np.save(path, images)
    return path
