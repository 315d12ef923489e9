"""Image folders, read_images and write_image, on PNG/JPEG files the tests write."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aekit.data import load_dataset, read_images, write_image
from aekit.data.folders import decode_image
from aekit.errors import AekitError


def gray(seed: int, h: int = 8, w: int = 8) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8)


def rgb(seed: int, h: int = 8, w: int = 8) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def save(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def test_flat_grayscale_folder(tmp_path):
    for i in range(10):
        save(tmp_path / f"img{i:02d}.png", gray(i))
    (tmp_path / "README.txt").write_text("not an image")  # ignored
    s = load_dataset(str(tmp_path), val_fraction=0.2, test_fraction=0.2, seed=0)
    assert [len(s.train), len(s.val), len(s.test)] == [6, 2, 2]
    assert s.train.shape == (8, 8, 1) and s.train.labels is None
    everything = sorted(s.train.names + s.val.names + s.test.names)
    assert everything == [f"img{i:02d}" for i in range(10)]
    i = int(s.test.names[0][3:])
    assert np.array_equal(s.test.images[0, ..., 0], gray(i))  # pixels survive exactly


def test_class_subfolders_give_labels_and_rgb(tmp_path):
    for c, name in enumerate(["cat", "dog"]):
        for i in range(6):
            save(tmp_path / name / f"{i}.png", rgb(10 * c + i))
    save(tmp_path / "cat" / "nested" / "deep.png", gray(99))  # gray among colour -> RGB
    s = load_dataset(tmp_path, val_fraction=0.0, test_fraction=0.5)
    assert s.train.class_names == ("cat", "dog") and s.train.shape == (8, 8, 3)
    assert sorted(np.concatenate([s.train.labels, s.test.labels]).tolist()) == [0] * 7 + [1] * 6
    assert np.bincount(s.test.labels).tolist() in ([3, 3], [4, 3], [3, 4])  # stratified
    assert load_dataset(tmp_path, channels=1).train.shape == (8, 8, 1)


def test_rgb_files_with_equal_channels_are_grayscale(tmp_path):
    for i in range(3):
        save(tmp_path / f"{i}.png", np.repeat(gray(i)[..., None], 3, axis=2))
    s = read_images([tmp_path])
    assert s.shape == (8, 8, 1) and np.array_equal(s.images[1, ..., 0], gray(1))
    assert read_images([tmp_path], channels=3).shape == (8, 8, 3)


def test_mixed_sizes_need_image_size(tmp_path):
    save(tmp_path / "a.png", gray(0, 8, 8))
    save(tmp_path / "b.png", gray(1, 12, 10))
    save(tmp_path / "c.png", gray(2, 8, 8))
    with pytest.raises(AekitError, match=r"8x8 \(.*a.png\) and 12x10 \(.*b.png\).*image_size"):
        load_dataset(tmp_path)
    s = load_dataset(tmp_path, image_size=(6, 5), val_fraction=0, test_fraction=0.34)
    assert s.train.shape == (6, 5, 1) and len(s.train) + len(s.test) == 3


def test_corrupt_empty_missing_and_mixed_layout(tmp_path):
    save(tmp_path / "good" / "a.png", gray(0))
    data = (tmp_path / "good" / "a.png").read_bytes()
    (tmp_path / "good" / "b.png").write_bytes(data[: len(data) // 2])  # truncated PNG
    with pytest.raises(AekitError, match=r"b\.png.*corrupt"):
        load_dataset(tmp_path / "good")
    (tmp_path / "good" / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    with pytest.raises(AekitError, match=r"b\.png"):
        load_dataset(tmp_path / "good")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    with pytest.raises(AekitError, match="got none .*notes.txt"):
        load_dataset(tmp_path / "empty")
    with pytest.raises(AekitError, match="no such file or folder"):
        load_dataset(tmp_path / "absent")
    save(tmp_path / "mixed" / "loose.png", gray(1))
    save(tmp_path / "mixed" / "cls" / "x.png", gray(2))
    with pytest.raises(AekitError, match="either image files or one sub-folder per class"):
        load_dataset(tmp_path / "mixed")


def test_decode_modes(tmp_path):
    rgba = np.dstack([rgb(0), np.full((8, 8), 128, np.uint8)])
    assert decode_image(save(tmp_path / "a.png", rgba)).shape == (8, 8, 3)
    wide = (gray(1).astype(np.uint16) * 257).astype(np.uint16)
    Image.fromarray(wide).save(tmp_path / "w.png")
    assert np.array_equal(decode_image(tmp_path / "w.png"), gray(1))
    Image.fromarray(rgb(2)).convert("P").save(tmp_path / "p.png")
    assert decode_image(tmp_path / "p.png").shape == (8, 8, 3)
    assert decode_image(save(tmp_path / "b.bmp", gray(3))).shape == (8, 8)


def test_read_images_files_folders_and_arrays(tmp_path):
    save(tmp_path / "one.png", gray(0))
    save(tmp_path / "dir" / "two.png", gray(1))
    save(tmp_path / "dir" / "three.png", gray(2))
    np.save(tmp_path / "arr.npy", np.stack([gray(3), gray(4)]))
    s = read_images([tmp_path / "one.png", tmp_path / "dir", tmp_path / "arr.npy"])
    assert s.names == ("one", "three", "two", "arr_0000", "arr_0001")  # folders expand sorted
    assert s.shape == (8, 8, 1) and s.images.dtype == np.uint8 and s.labels is None
    assert np.array_equal(s.images[4, ..., 0], gray(4))
    assert read_images(str(tmp_path / "one.png"), size=4).shape == (4, 4, 1)
    floats = read_images([tmp_path / "one.png", _save_npy(tmp_path / "f.npy", gray(5) / 255.0)])
    assert floats.images.dtype == np.float32
    assert np.allclose(floats.images[0, ..., 0], gray(0) / 255)


def _save_npy(path: Path, array: np.ndarray) -> Path:
    np.save(path, array)
    return path


def test_read_images_errors_and_duplicate_names(tmp_path):
    save(tmp_path / "a" / "x.png", gray(0, 8, 8))
    save(tmp_path / "b" / "x.png", gray(1, 9, 9))
    with pytest.raises(AekitError, match=r"8x8 .*and 9x9"):
        read_images([tmp_path / "a", tmp_path / "b"])
    s = read_images([tmp_path / "a", tmp_path / "b"], size=8)
    assert s.names == ("x", "x-2")
    with pytest.raises(AekitError, match="no such path"):
        read_images([tmp_path / "nothing.png"])
    with pytest.raises(AekitError, match="at least one"):
        read_images([])
    np.savez(tmp_path / "s.npz", x_train=np.zeros((2, 5, 5), np.uint8),
             x_test=np.zeros((2, 5, 5), np.uint8))
    with pytest.raises(AekitError, match="split arrays"):
        read_images([tmp_path / "s.npz"])
    with pytest.raises(AekitError, match="channels"):
        read_images([tmp_path / "a"], channels=2)


@pytest.mark.parametrize("suffix", [".png", ".bmp"])
@pytest.mark.parametrize("shape", [(6, 7), (6, 7, 1), (6, 7, 3)])
def test_write_image_round_trip(tmp_path, suffix, shape):
    a = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    path = tmp_path / "out" / f"img{suffix}"
    write_image(path, a)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left behind
    back = np.asarray(Image.open(path))
    assert np.array_equal(back, a.reshape(back.shape))


def test_write_image_jpeg_float_and_errors(tmp_path):
    write_image(tmp_path / "a.jpg", rgb(0) / 255.0)
    assert Image.open(tmp_path / "a.jpg").format == "JPEG"
    with pytest.raises(AekitError, match="ending in"):
        write_image(tmp_path / "a.gifx", gray(0))
    with pytest.raises(AekitError, match="shape"):
        write_image(tmp_path / "a.png", np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(AekitError, match=r"\[0, 1\]"):
        write_image(tmp_path / "a.png", np.full((4, 4), 2.0))
    with pytest.raises(AekitError, match="dtype"):
        write_image(tmp_path / "a.png", np.zeros((4, 4), np.int32))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jpg"]


def test_large_folders_decode_in_parallel_and_in_order(tmp_path):
    for i in range(70):  # above the threshold where decoding moves to a thread pool
        save(tmp_path / f"{i:03d}.png", np.full((4, 4), i, np.uint8))
    s = read_images(tmp_path)
    assert s.names == tuple(f"{i:03d}" for i in range(70))
    assert s.images[:, 0, 0, 0].tolist() == list(range(70))
