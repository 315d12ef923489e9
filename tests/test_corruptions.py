"""Corruptions: spec parsing, what each noise does (statistically and exactly), seeding, ranges."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aekit.config import ModelConfig, ObjectiveConfig
from aekit.errors import AekitError
from aekit.models import AEOutput
from aekit.objectives import build_objective, corrupt_images, parse_corruption, parse_corruptions
from aekit.objectives.corruptions import model_space_range


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("spec", ["gaussian:0.5", "salt_pepper:0.3", "salt_pepper:0.3:0.25", "masking:0.25",
                                  "blocks:10", "blocks:6-14:2", "speckle:0.4"])
def test_spec_round_trip(spec):
    c = parse_corruption(spec)
    assert c.spec == spec
    assert parse_corruption(c.spec) == c


@pytest.mark.parametrize("spec, message", [
    ("poisson:1", "unknown corruption"),
    ("gaussian", "parameter"),
    ("gaussian:0.1:2", "parameter"),
    ("gaussian:-1", "SIGMA ≥ 0"),
    ("gaussian:abc", "expected a number"),
    ("gaussian:nan", "finite"),
    ("salt_pepper:1.5", r"share of pixels in \[0, 1\]"),
    ("salt_pepper:0.2:2", "salt ratio"),
    ("masking:-0.1", "share of pixels"),
    ("blocks:0", "block size"),
    ("blocks:2.5", "block size"),
    ("blocks:9-4", "MIN ≤ MAX"),
    ("blocks:4:0", "number of blocks"),
    ("", "expected a corruption spec"),
])
def test_bad_specs_are_rejected(spec, message):
    with pytest.raises(AekitError, match=message):
        parse_corruption(spec)


def test_gaussian_statistics_seeding_and_clipping():
    x = torch.full((64, 1, 16, 16), 0.5)
    chain = parse_corruptions("gaussian:0.1")
    a, b = chain(x, gen(1)), chain(x, gen(1))
    assert torch.equal(a, b)  # same seed, same noise
    g = gen(2)
    c, d = chain(x, g), chain(x, g)
    assert not torch.equal(c, d)  # one generator: fresh noise on every call
    assert abs(float((c - x).std()) - 0.1) < 0.005 and abs(float((c - x).mean())) < 0.005
    big = parse_corruptions("gaussian:2")(x, gen(3))
    assert big.min() == 0 and big.max() == 1  # clipped to the data range
    assert torch.equal(x, torch.full_like(x, 0.5))  # the clean batch is untouched


def test_salt_and_pepper_hits_whole_pixels_in_the_given_share_and_ratio():
    x = torch.full((200, 3, 16, 16), 0.5)
    y = parse_corruption("salt_pepper:0.3:0.25").apply_unit(x, gen())
    changed = (y != 0.5)
    assert torch.equal(changed.all(1), changed.any(1))  # every channel of a hit pixel, or none
    share = changed[:, 0].float().mean()
    salt = (y[:, 0] == 1).float().sum() / changed[:, 0].float().sum()
    assert abs(float(share) - 0.3) < 0.01 and abs(float(salt) - 0.25) < 0.01
    assert set(torch.unique(y).tolist()) == {0.0, 0.5, 1.0}


def test_masking_zeroes_the_given_share_of_pixels():
    x = torch.rand(100, 1, 20, 20) * 0.5 + 0.5  # no zeros to start with
    y = parse_corruptions("masking:0.25")(x, gen())
    zeroed = y == 0
    assert abs(float(zeroed.float().mean()) - 0.25) < 0.01
    assert torch.equal(y[~zeroed], x[~zeroed])


def test_blocks_are_squares_of_the_given_size_inside_the_image():
    x = torch.ones(50, 1, 28, 28)
    mask = parse_corruption("blocks:10").block_mask(x.shape, gen())
    assert mask.shape == (50, 1, 28, 28)
    assert (mask.flatten(1).sum(1) == 100).all()
    for m in mask[:, 0]:
        rows, cols = torch.nonzero(m, as_tuple=True)
        assert int(rows.max() - rows.min()) == 9 and int(cols.max() - cols.min()) == 9
    y = parse_corruptions("blocks:10")(x, gen())
    assert ((y == 0).flatten(1).sum(1) == 100).all()
    ranged = parse_corruption("blocks:4-8:3").block_mask((200, 1, 28, 28), gen())
    area = ranged.flatten(1).sum(1)
    assert area.min() >= 16 and area.max() <= 3 * 64
    small = parse_corruption("blocks:12").block_mask((4, 1, 8, 8), gen())  # larger than the image
    assert small.all()


def test_speckle_is_multiplicative():
    x = torch.cat([torch.zeros(10, 1, 8, 8), torch.full((10, 1, 8, 8), 0.5)])
    y = parse_corruptions("speckle:0.2")(x, gen())
    assert torch.equal(y[:10], x[:10])  # black stays black
    assert abs(float((y[10:] - 0.5).std()) - 0.1) < 0.02


def test_composition_applies_in_order():
    x = torch.full((20, 1, 16, 16), 0.5)
    y = parse_corruptions(["gaussian:0.2", "masking:0.5"])(x, gen())
    assert abs(float((y == 0).float().mean()) - 0.5) < 0.05  # masking came last: exact zeros survive
    assert parse_corruptions("gaussian:0.2+masking:0.5").specs == ("gaussian:0.2", "masking:0.5")


def test_normalised_model_space_is_corrupted_in_intensity_units():
    from aekit.data.preprocess import Preprocessing

    low, high = model_space_range(Preprocessing((1, 10, 10), mean=(0.25,), std=(0.5,)))
    u = torch.rand(8, 1, 10, 10)
    x = (u - 0.25) / 0.5
    ours = parse_corruptions("salt_pepper:0.5", (low, high))(x, gen(4))
    reference = (parse_corruptions("salt_pepper:0.5")(u, gen(4)) - 0.25) / 0.5
    torch.testing.assert_close(ours, reference)
    assert ours.min() >= float(low) - 1e-6 and ours.max() <= float(high) + 1e-6


@pytest.mark.parametrize("shape", [(28, 28), (5, 28, 28), (5, 28, 28, 1), (28, 28, 3), (2, 28, 28, 3)])
def test_corrupt_images_keeps_dtype_and_layout(shape):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=shape, dtype=np.uint8)
    noisy = corrupt_images(images, "masking:0.5", seed=1)
    assert noisy.dtype == np.uint8 and noisy.shape == images.shape
    assert np.array_equal(noisy, corrupt_images(images, "masking:0.5", seed=1))
    changed = (noisy != images) if len(shape) == 2 or shape[-1] != 3 else (noisy != images).any(-1)
    assert 0.3 < changed.mean() < 0.6
    floats = corrupt_images(images.astype(np.float32) / 255, "gaussian:0.1", seed=1)
    assert floats.dtype == np.float32 and floats.min() >= 0 and floats.max() <= 1


def test_corrupt_images_masks_whole_pixels_of_torch_chw_batches():
    images = torch.rand(4, 3, 16, 16) * 0.9 + 0.1
    noisy = corrupt_images(images, "masking:0.5", seed=0)
    zero = noisy == 0
    assert torch.equal(zero.all(1), zero.any(1))  # channel axis 1: whole pixels


def test_corrupt_images_rejects_out_of_range_floats():
    with pytest.raises(AekitError, match=r"\[0, 1\]"):
        corrupt_images(np.full((4, 4), 3.0, dtype=np.float32), "gaussian:0.1")
    with pytest.raises(AekitError, match="dtype"):
        corrupt_images(np.zeros((4, 4), dtype=np.int32), "gaussian:0.1")


def test_config_carries_corruptions_from_strings_and_json():
    cfg = ObjectiveConfig().with_overrides(corruption="gaussian:0.5,masking:0.2")
    assert cfg.corruption == ("gaussian:0.5", "masking:0.2")
    assert ObjectiveConfig.from_dict(cfg.to_dict()) == cfg
    assert ObjectiveConfig().with_overrides(corruption="").corruption == ()
    with pytest.raises(AekitError, match="gaussian:0.5"):
        ObjectiveConfig(corruption=("poisson:1",))
    with pytest.raises(AekitError, match="expected a number"):  # values are checked when the Objective is built
        build_objective(ObjectiveConfig(corruption=("gaussian:x",)))


def test_objective_feeds_the_corrupted_input_and_scores_against_the_clean_one():
    seen = {}

    class Recorder(torch.nn.Module):
        def forward(self, x):
            seen["x"] = x
            return AEOutput(logits=x, z=x.flatten(1))

    objective = build_objective(ObjectiveConfig(reconstruction="mse", corruption=("masking:0.5",)),
                                ModelConfig(input_shape=(1, 8, 8)))
    x = torch.full((4, 1, 8, 8), 0.5)
    terms = objective(Recorder(), x, generator=gen())
    zeroed = seen["x"] == 0
    assert 0.3 < float(zeroed.float().mean()) < 0.7
    # the model returned its (corrupted) input: the error is 0.25 on every zeroed pixel, against the clean x
    assert float(terms["recon"]) == pytest.approx(0.25 * float(zeroed.float().mean()), rel=1e-6)


def test_vectors_take_the_unbounded_corruptions_unclipped():
    """Standardised features have no fixed range: noise is added in model space and never clipped."""
    from aekit.objectives.corruptions import parse_corruptions

    x = torch.full((64, 10), 5.0)  # far outside [0, 1]
    unbounded = (float("-inf"), float("inf"))
    noisy = parse_corruptions(["gaussian:0.5"], unbounded)(x, torch.Generator().manual_seed(0))
    assert noisy.max() > 5.5 and noisy.min() < 4.5  # not clipped to [0, 1]
    assert 0.4 < float((noisy - x).std()) < 0.6
    masked = parse_corruptions("masking:0.5", unbounded)(x, torch.Generator().manual_seed(0))
    assert 0.4 < float((masked == 0).float().mean()) < 0.6 and set(masked.unique().tolist()) == {0.0, 5.0}
    for images_only in ("salt_pepper:0.2", "blocks:3"):
        with pytest.raises(AekitError, match="images only.*gaussian"):
            parse_corruptions(images_only, unbounded)


def test_a_normalised_rgb_range_is_bounded():
    from aekit.data.preprocess import Preprocessing
    from aekit.objectives.corruptions import parse_corruptions

    prep = Preprocessing((3, 4, 4), "RGB", mean=(0.5, 0.4, 0.3), std=(0.2, 0.2, 0.2))
    chain = parse_corruptions("salt_pepper:0.5", prep.model_range())
    assert not chain.unbounded
    out = chain(torch.zeros(2, 3, 4, 4), torch.Generator().manual_seed(0))
    low, high = prep.model_range()
    assert bool((out >= low - 1e-6).all()) and bool((out <= high + 1e-6).all())
