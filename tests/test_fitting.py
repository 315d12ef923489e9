"""aekit.fit: training in memory on tables and images, through the same code, writing nothing."""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest
import torch

import aekit
from aekit.data.vectors import VectorPreprocessing
from aekit.errors import AekitError


@pytest.fixture
def no_disk(monkeypatch, tmp_path):
    """Fail the test if anything creates a temporary file or folder, or writes into the cwd."""
    def refuse(*_args, **_kwargs):
        raise AssertionError("aekit.fit touched the disk")

    for name in ("mkstemp", "mkdtemp", "NamedTemporaryFile", "TemporaryDirectory"):
        monkeypatch.setattr(tempfile, name, refuse)
    monkeypatch.chdir(tmp_path)
    yield
    assert os.listdir(tmp_path) == []


def test_the_issue_example_returns_a_model_without_touching_the_disk(no_disk):
    model = aekit.fit(np.random.rand(512, 784).astype("float32"), preset="deep", epochs=1)
    assert isinstance(model, aekit.Model) and model.path is None
    assert isinstance(model.preprocessing, VectorPreprocessing) and model.input_shape == (784,)
    assert model.encode(np.random.rand(3, 784)).shape == (3, 32)


def test_tables_and_images_train_through_the_same_fit(no_disk):
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(600, 2))
    table = latent @ rng.normal(size=(2, 8)) * 20 + 50  # (N, D) float64 features far from [0, 1]
    model = aekit.fit(table, preset="deep", latent_dim=2, epochs=30, batch_size=32)
    history = model.history
    assert history[-1]["val/loss"] < 0.5 * history[0]["val/loss"]
    recon = model.reconstruct(table[:10])
    assert recon.shape == (10, 8) and recon.dtype == np.float64
    images = (rng.random((300, 12, 12, 1)) * 255).astype(np.uint8)
    image_model = aekit.fit(images, preset="conv", latent_dim=4, epochs=2, channels=(4, 8))
    assert image_model.input_shape == (1, 12, 12)
    assert image_model.reconstruct(images[:5]).dtype == np.uint8
    # the same training code: two fits with the same seed give the same weights
    again = aekit.fit(table, preset="deep", latent_dim=2, epochs=30, batch_size=32)
    for (k, a), (_, b) in zip(model.module.state_dict().items(), again.module.state_dict().items(), strict=True):
        assert torch.equal(a, b), k


def test_fit_saves_only_when_asked(tmp_path):
    rows = np.random.default_rng(1).normal(size=(100, 4))
    model = aekit.fit(rows, preset="dense", latent_dim=2, epochs=1, save_to=tmp_path / "m")
    loaded = aekit.load(tmp_path / "m")
    np.testing.assert_allclose(loaded.encode(rows), model.encode(rows), rtol=0, atol=0)


def test_bad_input_is_a_clear_error():
    with pytest.raises(AekitError, match="rows \\(N, D\\) or images"):
        aekit.fit(np.zeros((4, 3, 3, 5)), preset="deep")
    with pytest.raises(AekitError, match="NaN or Inf"):
        aekit.fit(np.array([[1.0, np.nan], [0.0, 1.0]] * 20), preset="deep", epochs=1)
    with pytest.raises(AekitError, match="takes image data; this data is vector"):
        aekit.fit(np.zeros((40, 6)), preset="conv", epochs=1)
    with pytest.raises(AekitError, match="unknown option"):
        aekit.fit(np.zeros((40, 6)), preset="deep", no_such_option=1)


def test_estimators_write_no_temporary_files(no_disk, digits):
    from aekit.tasks.anomaly import AnomalyDetector
    from aekit.tasks.embed import AutoencoderTransformer

    images = digits.train.images[:300]
    AutoencoderTransformer("dense", latent_dim=4, epochs=1).fit(images.reshape(300, -1))
    AnomalyDetector("dense", epochs=1, latent_dim=4).fit(images)
