"""uint8 <-> [0, 1] conversion: one rounding rule (half to even) wherever pixels are written."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from aekit.data import write_image
from aekit.data.pixels import as_uint8, as_unit
from aekit.data.preprocess import Preprocessing
from aekit.errors import AekitError
from aekit.viz import to_uint8


def _exact_halves() -> np.ndarray:
    """float32 intensities x whose float32 product x * 255 is exactly k + 0.5."""
    x = ((np.arange(255) + 0.5) / 255).astype(np.float32)
    return x[x * np.float32(255) == np.arange(255) + 0.5]


def test_as_uint8_rounds_half_to_even_in_numpy_and_torch():
    x = _exact_halves()
    assert len(x) > 50  # most k + 0.5 are hit exactly
    k = np.floor(x * np.float32(255)).astype(int)
    even = np.where(k % 2 == 0, k, k + 1)
    np.testing.assert_array_equal(as_uint8(x), even)
    np.testing.assert_array_equal(as_uint8(torch.from_numpy(x)).numpy(), even)
    assert as_uint8(np.float32([0.5]))[0] == 128  # 127.5 -> 128
    np.testing.assert_array_equal(as_uint8(np.array([-0.3, 0.0, 1.0, 1.7])), [0, 0, 255, 255])


def test_as_uint8_is_what_the_model_gives_uint8_callers():
    """Preprocessing.from_model (Model.reconstruct's uint8 output) rounds the same way."""
    x = np.concatenate([_exact_halves(), np.random.default_rng(0).random(64, dtype=np.float32)])
    prep = Preprocessing((1, 1, len(x)))
    _, space = prep.to_model(np.zeros((1, len(x), 1), np.uint8))
    from_model = prep.from_model(torch.from_numpy(x).view(1, 1, 1, -1), space)
    np.testing.assert_array_equal(from_model.reshape(-1), as_uint8(x))
    np.testing.assert_array_equal(to_uint8(x), as_uint8(x))


def test_write_image_rounds_like_as_uint8(tmp_path):
    x = np.resize(_exact_halves(), (8, 8))
    write_image(tmp_path / "a.png", x)
    with Image.open(tmp_path / "a.png") as im:
        np.testing.assert_array_equal(np.asarray(im), as_uint8(x))


def test_as_unit_divides_uint8_by_255_and_passes_floats():
    u = np.arange(256, dtype=np.uint8)
    unit = as_unit(u)
    assert unit.dtype == np.float32
    np.testing.assert_array_equal(unit, u.astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(as_unit(torch.from_numpy(u)).numpy(), unit)
    np.testing.assert_array_equal(as_uint8(unit), u)  # the round trip is exact
    f = np.random.default_rng(1).random((3, 4), dtype=np.float32)
    assert as_unit(f) is f
    assert as_unit(f.astype(np.float64)).dtype == np.float32
    assert as_uint8(u) is u


@pytest.mark.parametrize("bad", [np.arange(3), torch.arange(3)])
def test_as_uint8_rejects_other_integers(bad):
    with pytest.raises(AekitError, match="expected float intensities in \\[0, 1\\] or uint8 pixels"):
        as_uint8(bad)
