"""Unit tests for aekit.data: ImageSet, splits, digits, conversions and array sources."""

from __future__ import annotations

import json

import numpy as np
import pytest

from aekit.data import ImageSet, dataset_names, load_dataset, load_split, resolve_data_dir
from aekit.data.arrays import as_images, load_array_file
from aekit.data.convert import parse_size, resize_images, to_channels
from aekit.data.splits import make_splits, split_off
from aekit.errors import AekitError

# --------------------------------------------------------------------------- ImageSet


def test_imageset_basics_and_subset():
    x = np.arange(5 * 4 * 4, dtype=np.uint8).reshape(5, 4, 4, 1)
    s = ImageSet(x, np.arange(5, dtype=np.int64), ("a",) * 5, tuple("vwxyz"))
    assert len(s) == 5 and s.shape == (4, 4, 1)
    sub = s.subset(np.array([4, 0]))
    assert sub.names == ("z", "v") and sub.labels.tolist() == [4, 0]
    assert np.array_equal(sub.images[0], x[4])
    assert len(s.subset(slice(1, 3))) == 2
    assert s.subset(np.array([True, False, True, False, False])).names == ("v", "x")
    assert "n=5" in repr(s)


@pytest.mark.parametrize(
    "images, labels",
    [
        (np.zeros((2, 4, 4), np.uint8), None),  # 3-D
        (np.zeros((2, 4, 4, 2), np.uint8), None),  # 2 channels
        (np.zeros((2, 4, 4, 1), np.float64), None),  # float64
        (np.zeros((2, 4, 4, 1), np.uint8), np.zeros(3, np.int64)),  # label count
    ],
)
def test_imageset_rejects_bad_arrays(images, labels):
    with pytest.raises(AekitError, match="expected"):
        ImageSet(images, labels)


# --------------------------------------------------------------------------- splits


def test_split_off_stratified_exact_and_disjoint():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), [50, 30, 20])
    rest, drawn = split_off(np.arange(100), 0.1, rng, labels)
    assert len(drawn) == 10 and len(rest) == 90
    assert set(rest).isdisjoint(drawn) and set(rest) | set(drawn) == set(range(100))
    assert np.bincount(labels[drawn]).tolist() == [5, 3, 2]


def test_make_splits_seeded_limit_keeps_val_and_test():
    x = np.zeros((200, 2, 2, 1), np.uint8)
    x[:, 0, 0, 0] = np.arange(200)
    pool = ImageSet(x, np.arange(200, dtype=np.int64) % 4)
    a = make_splits(pool, seed=3)
    b = make_splits(pool, seed=3)
    c = make_splits(pool, seed=3, limit=7)
    d = make_splits(pool, seed=4)
    ids = [tuple(s.images[:, 0, 0, 0]) for s in a]
    assert ids == [tuple(s.images[:, 0, 0, 0]) for s in b]
    assert [len(s) for s in a] == [144, 16, 40]
    assert len(c[0]) == 7 and set(c[0].images[:, 0, 0, 0]) <= set(ids[0])
    assert tuple(c[1].images[:, 0, 0, 0]) == ids[1] and tuple(c[2].images[:, 0, 0, 0]) == ids[2]
    assert ids != [tuple(s.images[:, 0, 0, 0]) for s in d]


@pytest.mark.parametrize(
    "kwargs",
    [{"val_fraction": 1.0}, {"test_fraction": -0.1}, {"limit": 0}, {"seed": -1}, {"seed": 1.5}],
)
def test_make_splits_rejects_bad_arguments(kwargs):
    with pytest.raises(AekitError, match="expected"):
        make_splits(ImageSet(np.zeros((10, 2, 2, 1), np.uint8)), **kwargs)


# --------------------------------------------------------------------------- digits


def test_digits_shapes_dtype_and_disjoint_splits():
    s = load_dataset("digits")
    assert [len(s.train), len(s.val), len(s.test)] == [1294, 144, 359]
    assert s.train.shape == (8, 8, 1) and s.train.images.dtype == np.uint8
    assert s.train.images.max() == 255 and s.train.labels.dtype == np.int64
    assert s.train.class_names == tuple("0123456789")
    # The three splits partition the dataset: together they hold every (image, label) exactly
    # as often as the dataset does (compared as multisets, since digits has duplicate images).
    from sklearn.datasets import load_digits

    d = load_digits()
    full = np.round(d.images * 255 / 16).astype(np.uint8).reshape(len(d.target), -1)

    def rows(images, labels):
        return sorted(r.tobytes() + bytes([int(y)]) for r, y in zip(images, labels, strict=True))

    parts = [p.images.reshape(len(p), -1) for p in (s.train, s.val, s.test)]
    labels = np.concatenate([s.train.labels, s.val.labels, s.test.labels])
    assert rows(np.concatenate(parts), labels) == rows(full, d.target)
    assert s.info["source"] == "sklearn" and s.info["splits"]["test"] == 359
    json.dumps(s.info)  # must be JSON-able for the run record


def test_digits_seeded_determinism_and_limit():
    a, b = load_dataset("digits", seed=1), load_dataset("digits", seed=1)
    assert np.array_equal(a.train.images, b.train.images)
    assert np.array_equal(a.test.labels, b.test.labels)
    c = load_dataset("digits", seed=1, limit=50)
    assert len(c.train) == 50 and np.array_equal(c.test.images, a.test.images)
    assert not np.array_equal(load_dataset("digits", seed=2).test.labels, a.test.labels)
    assert np.array_equal(load_split("digits", "val", seed=1).images, a.val.images)


def test_digits_conversions():
    s = load_dataset("digits", image_size=16, channels=3, limit=5)
    assert s.train.shape == (16, 16, 3) and s.test.shape == (16, 16, 3)


def test_dataset_names_and_unknown_name():
    assert {"digits", "mnist", "fashion-mnist", "kmnist", "cifar10", "cifar10-subset"} <= set(
        dataset_names()
    )
    with pytest.raises(AekitError, match="expected a built-in dataset .* got 'nope'"):
        load_dataset("nope")
    with pytest.raises(AekitError, match="split"):
        load_split("digits", "training")


def test_resolve_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("AEKIT_DATA", str(tmp_path))
    assert resolve_data_dir() == tmp_path
    assert resolve_data_dir(tmp_path / "x") == tmp_path / "x"
    monkeypatch.delenv("AEKIT_DATA")
    assert resolve_data_dir().parts[-3:] == (".cache", "aekit", "data")


# --------------------------------------------------------------------------- conversions


def test_to_channels_matches_pillow_luma():
    from PIL import Image

    rgb = np.random.default_rng(0).integers(0, 256, (1, 5, 7, 3), dtype=np.uint8)
    expected = np.asarray(Image.fromarray(rgb[0]).convert("L"))
    assert np.array_equal(to_channels(rgb, 1)[0, ..., 0], expected)
    assert to_channels(rgb[..., :1], 3).shape == (1, 5, 7, 3)


def test_resize_uint8_and_float():
    x = np.random.default_rng(0).random((2, 8, 6, 3)).astype(np.float32)
    y = resize_images(x, (4, 3))
    assert y.shape == (2, 4, 3, 3) and y.dtype == np.float32 and 0 <= y.min() <= y.max() <= 1
    u = resize_images((x * 255).astype(np.uint8), (16, 12))
    assert u.shape == (2, 16, 12, 3) and u.dtype == np.uint8
    assert parse_size(5) == (5, 5) and parse_size((3, 4)) == (3, 4)
    for bad in (0, (1, 2, 3), "8", (2.5, 2)):
        with pytest.raises(AekitError):
            parse_size(bad)


# --------------------------------------------------------------------------- arrays


@pytest.mark.parametrize(
    "shape, expected",
    [((5, 6), (1, 5, 6, 1)), ((5, 6, 3), (1, 5, 6, 3)), ((4, 5, 6), (4, 5, 6, 1)),
     ((4, 5, 6, 1), (4, 5, 6, 1))],
)
def test_as_images_shapes(shape, expected):
    assert as_images(np.zeros(shape, np.uint8)).shape == expected


@pytest.mark.parametrize(
    "array, message",
    [
        (np.full((2, 3, 3), np.nan, np.float32), "NaN"),
        (np.full((2, 3, 3), np.inf, np.float64), "NaN/Inf"),
        (np.full((2, 3, 3), -0.5, np.float32), r"\[0, 1\]"),
        (np.full((2, 3, 3), 200.0, np.float32), "divide by 255"),
        (np.zeros((2, 3, 3), np.int64), "dtype int64"),
        (np.zeros((2, 3, 8, 8), np.uint8), "channel-first"),
        (np.zeros((2, 3, 3, 3, 3), np.uint8), "5-D"),
        (np.zeros((0, 3, 3), np.uint8), "at least one"),
    ],
)
def test_as_images_rejects(array, message):
    with pytest.raises(AekitError, match=message):
        as_images(array)


def test_npy_and_npz_sources(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (50, 6, 6), dtype=np.uint8)
    np.save(tmp_path / "a.npy", x)
    s = load_dataset(str(tmp_path / "a.npy"), seed=0)
    assert [len(s.train), len(s.val), len(s.test)] == [36, 4, 10] and s.train.labels is None
    assert s.train.names[0].startswith("a_") and s.name == str(tmp_path / "a.npy")
    assert s.info["files"][0]["sha256"] and s.info["test_fraction"] == 0.2

    xf = rng.random((40, 6, 6, 3)).astype(np.float32)
    np.savez(tmp_path / "b.npz", images=xf, labels=np.arange(40) % 2)
    s = load_dataset(tmp_path / "b.npz", val_fraction=0.25, test_fraction=0.5)
    assert s.train.images.dtype == np.float32 and [len(s.train), len(s.val), len(s.test)] == [
        15, 5, 20
    ]
    assert set(s.test.labels.tolist()) == {0, 1}

    np.savez(tmp_path / "c.npz", x_train=x[:30], y_train=np.zeros(30, np.int64), x_test=x[30:],
             class_names=np.array(["only"]))
    s = load_dataset(tmp_path / "c.npz")
    assert len(s.test) == 20 and len(s.train) + len(s.val) == 30 and s.test.labels is None
    assert s.train.class_names == ("only",) and s.info["own_test_split"]


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"x": np.full((4, 5, 5), np.nan, np.float32)}, "NaN"),
        ({"x": np.full((4, 5, 5), 1.5)}, r"\[0, 1\]"),
        ({"x": np.zeros((4, 5, 5), np.uint8), "y": np.zeros(3, np.int64)}, "one label per image"),
        ({"x": np.zeros((4, 5, 5), np.uint8), "y": np.full(4, -1)}, "non-negative"),
        ({"pixels": np.zeros((4, 5, 5), np.uint8)}, "got keys"),
        ({"x_train": np.zeros((4, 5, 5), np.uint8)}, "x_test"),
    ],
)
def test_npz_rejects(tmp_path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(AekitError, match=message):
        load_dataset(tmp_path / "bad.npz")


def test_array_files_never_unpickle_and_corrupt_files_fail(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(AekitError, match="pickled"):
        load_array_file(tmp_path / "obj.npy")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(AekitError, match="expected a valid"):
        load_dataset(tmp_path / "junk.npz")
    with pytest.raises(AekitError, match="no such file or folder"):
        load_dataset(str(tmp_path / "missing.npz"))


def test_npz_channel_mismatch_between_splits(tmp_path):
    np.savez(tmp_path / "m.npz", x_train=np.zeros((4, 5, 5), np.uint8),
             x_test=np.zeros((4, 5, 5, 3), np.uint8))
    with pytest.raises(AekitError, match="one image shape"):
        load_dataset(tmp_path / "m.npz")
    assert load_dataset(tmp_path / "m.npz", channels=3).train.shape == (5, 5, 3)
