import json

import numpy as np
import pytest
import torch

from aekit.data.preprocess import Preprocessing
from aekit.errors import AekitError
from aekit.model import Model, load_model, save_model
from aekit.models import build_model
from aekit.presets import build_run_config
from aekit.samplers import GaussianMixtureSampler
from aekit.thresholds import AnomalyThreshold


@pytest.fixture
def saved(tmp_path):
    run = build_run_config("conv", input_shape=(1, 8, 8), model={"latent_dim": 3, "channels": (4, 8)})
    torch.manual_seed(0)
    sampler = GaussianMixtureSampler(2, seed=0).fit(np.random.default_rng(0).normal(size=(40, 3)))
    model = Model(build_model(run.model), Preprocessing((1, 8, 8)), run,
                  fitted={"anomaly": AnomalyThreshold("mse", 0.5, 0.1, 10), "sampler": sampler})
    path = save_model(model, tmp_path / "model")
    return model, path


def test_round_trip_keeps_weights_config_and_fitted_state(saved):
    model, path = saved
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "fitted.safetensors", "model.safetensors"]
    loaded = load_model(path)
    x = np.random.default_rng(0).integers(0, 256, (5, 8, 8), dtype=np.uint8)
    np.testing.assert_array_equal(loaded.reconstruct(x), model.reconstruct(x))
    assert loaded.fitted["anomaly"] == AnomalyThreshold("mse", 0.5, 0.1, 10)
    torch.testing.assert_close(loaded.fitted["sampler"].means_, model.fitted["sampler"].means_)
    config = json.loads((path / "config.json").read_text())
    assert config["class"] == "aekit.Autoencoder" and config["format_version"] == 1 and "aekit_version" in config


def test_saved_model_has_no_pickle(saved):
    _, path = saved
    for file in path.iterdir():
        assert b"\x80\x04\x95" not in file.read_bytes()[:64]  # pickle protocol 4 header


def test_load_finds_model_inside_a_run_folder(saved, tmp_path):
    _, path = saved
    assert load_model(tmp_path).path == path


def test_truncated_weights_are_a_clear_error(saved):
    _, path = saved
    blob = (path / "model.safetensors").read_bytes()
    (path / "model.safetensors").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(AekitError, match="truncated or corrupt"):
        load_model(path)


def test_truncated_config_is_a_clear_error(saved):
    _, path = saved
    text = (path / "config.json").read_text()
    (path / "config.json").write_text(text[: len(text) // 2])
    with pytest.raises(AekitError, match="not valid JSON"):
        load_model(path)


@pytest.mark.parametrize("edit, message", [
    (lambda c: c.update(format_version=99), "format version 99.*upgrade aekit"),
    (lambda c: c.update(format_version="1"), "format_version"),
    (lambda c: c.update({"class": "other.Thing"}), "expected a saved aekit.Autoencoder"),
    (lambda c: c.update(surprise=1), "unknown key"),
    (lambda c: c["model"].update(surprise=1), "unknown key"),
    (lambda c: c.pop("preprocessing"), "missing key"),
    (lambda c: c["model"].update(latent_dim=4), "does not match config.json"),
    (lambda c: c["preprocessing"].update(input_shape=[1, 9, 9]), "disagrees with preprocessing"),
])
def test_bad_config_is_a_clear_error(saved, edit, message):
    _, path = saved
    config = json.loads((path / "config.json").read_text())
    edit(config)
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(AekitError, match=message):
        load_model(path)


def test_missing_folder_and_non_model_folder(tmp_path):
    with pytest.raises(AekitError, match="no such run or model folder"):
        load_model(tmp_path / "nope")
    with pytest.raises(AekitError, match="not an aekit model or run folder"):
        load_model(tmp_path)


def test_overwriting_a_saved_model_is_atomic(saved, tmp_path):
    model, path = saved
    save_model(model, path)
    assert not list(tmp_path.glob(".model*")) and not (tmp_path / "model.old").exists()
    assert load_model(path).identity() == model.identity()
