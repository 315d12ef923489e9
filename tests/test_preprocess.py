import numpy as np
import pytest
import torch

from aekit.data.preprocess import Preprocessing
from aekit.errors import AekitError
from aekit.model import Model
from aekit.models import build_model
from aekit.presets import build_run_config


@pytest.fixture
def model():
    run = build_run_config("deep", input_shape=(1, 6, 5), model={"latent_dim": 3})
    torch.manual_seed(0)
    return Model(build_model(run.model), Preprocessing((1, 6, 5)), run)


def test_uint8_and_unit_float_inputs_give_the_same_reconstruction(model):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(4, 6, 5), dtype=np.uint8)
    from_uint8 = model.reconstruct(images)
    from_float = model.reconstruct(images.astype(np.float32) / 255)
    assert from_uint8.dtype == np.uint8 and from_uint8.shape == (4, 6, 5)
    assert from_float.dtype == np.float32
    np.testing.assert_allclose(from_uint8 / 255, from_float, atol=0.5 / 255 + 1e-6)


def test_output_follows_input_layout_and_type(model):
    img = np.full((6, 5, 1), 128, np.uint8)
    assert model.reconstruct(img).shape == (6, 5, 1)  # single HWC image
    assert model.reconstruct(img[..., 0]).shape == (6, 5)  # single 2-D image
    t = torch.full((2, 1, 6, 5), 0.5)
    out = model.reconstruct(t)
    assert isinstance(out, torch.Tensor) and out.shape == (2, 1, 6, 5) and out.dtype == torch.float32
    flat = np.zeros((3, 30), np.uint8)
    assert model.reconstruct(flat).shape == (3, 30)
    assert model.encode(img).shape == (3,)
    assert model.encode(np.stack([img, img])).shape == (2, 3)


def test_training_scaling_is_applied_at_inference(model):
    # The classic failure: forgetting /255. uint8 pixels must reach the network scaled exactly.
    images = np.arange(30, dtype=np.uint8).reshape(1, 6, 5) * 8
    x, _ = model.preprocessing.to_model(images)
    torch.testing.assert_close(x, torch.from_numpy(images.astype(np.float32) / 255).reshape(1, 1, 6, 5))


@pytest.mark.parametrize("bad, message", [
    (np.zeros((2, 7, 5), np.uint8), r"shape \(6, 5\).*got an array of shape \(2, 7, 5\)"),
    (np.full((2, 6, 5), 3.5, np.float32), r"floats in \[0, 1\].*divide by 255"),
    (np.full((2, 6, 5), np.nan, np.float32), "NaN"),
    (np.zeros((2, 6, 5), np.int16), "dtype int16.*cast to uint8"),
    (np.zeros((0, 6, 5), np.uint8), "empty"),
])
def test_bad_inputs_get_clear_errors(model, bad, message):
    with pytest.raises(AekitError, match=message):
        model.reconstruct(bad)


def test_normalisation_round_trip():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(50, 4, 4, 3), dtype=np.uint8)
    prep = Preprocessing.fit(images, normalize=True)
    assert prep.channel_order == "RGB" and prep.input_shape == (3, 4, 4)
    x, space = prep.to_model(images)
    assert abs(float(x.mean())) < 1e-5 and abs(float(x.std()) - 1) < 0.02
    back = prep.from_model(x, space)
    np.testing.assert_array_equal(back, images)
    assert Preprocessing.from_dict(prep.to_dict()) == prep


def test_decode_returns_images(model):
    out = model.decode(np.zeros((2, 3), np.float32))
    assert out.shape == (2, 6, 5, 1) and out.dtype == np.uint8
    assert model.decode(np.zeros(3), as_float=True).dtype == np.float32
    with pytest.raises(AekitError, match=r"codes of shape \(N, 3\)"):
        model.decode(np.zeros((2, 4)))
