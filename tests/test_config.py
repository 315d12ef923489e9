import json

import pytest

from aekit.config import (
    DataConfig,
    ModelConfig,
    ObjectiveConfig,
    RunConfig,
    TrainConfig,
    auto_epochs,
)
from aekit.errors import AekitError
from aekit.presets import build_run_config, preset_names


def test_run_config_json_round_trip():
    run = build_run_config("deep", input_shape=(3, 32, 32), model={"hidden": "512,256", "latent_dim": "16"},
                           train={"lr": "3e-3", "epochs": 7}, data={"image_size": "64x48"})
    text = json.dumps(run.to_dict())
    back = RunConfig.from_dict(json.loads(text))
    assert back == run
    assert back.model.hidden == (512, 256) and back.model.latent_dim == 16
    assert back.train.lr == 3e-3 and back.data.image_size == (64, 48)


@pytest.mark.parametrize("cls", [ModelConfig, ObjectiveConfig, TrainConfig, DataConfig])
def test_unknown_key_is_an_error(cls):
    data = cls().to_dict()
    data["no_such_key"] = 1
    with pytest.raises(AekitError, match="unknown key.*no_such_key"):
        cls.from_dict(data)


def test_overrides_parse_strings_and_reject_unknown():
    cfg = ModelConfig().with_overrides(hidden="auto", batch_norm="true", dropout="0.25")
    assert cfg.hidden == "auto" and cfg.batch_norm is True and cfg.dropout == 0.25
    with pytest.raises(AekitError, match="unknown key"):
        ModelConfig().with_overrides(latnet_dim=3)
    with pytest.raises(AekitError, match="expected int"):
        ModelConfig().with_overrides(latent_dim="many")


@pytest.mark.parametrize("kwargs, message", [
    ({"activation": "swish"}, "expected one of"),
    ({"latent_dim": -1}, "latent_dim"),  # 0 means automatic (main: auto_latent_dim)
    ({"hidden": "big"}, "hidden"),
    ({"kernel_size": 4}, "odd"),
    ({"input_shape": (1, 28, 28, 1)}, "input_shape"),  # (28, 28) is a series window (C, L) now
])
def test_model_config_validation(kwargs, message):
    with pytest.raises(AekitError, match=message):
        ModelConfig(**kwargs)


def test_train_config_validation():
    with pytest.raises(AekitError, match="optimizer"):
        TrainConfig(optimizer="lbfgs")
    with pytest.raises(AekitError, match="device"):
        TrainConfig(device="tpu")
    with pytest.raises(AekitError, match="batch_size"):
        TrainConfig(batch_size=0)


def test_unknown_preset_lists_valid_ones():
    with pytest.raises(AekitError, match="valid presets: .*deep"):
        build_run_config("deeep")
    assert {"dense", "deep", "conv"} <= set(preset_names())


def test_auto_epochs():
    assert auto_epochs(54_000) == 20
    assert auto_epochs(1_294) == 232
    assert auto_epochs(10) == 500
