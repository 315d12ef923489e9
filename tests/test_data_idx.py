"""IDX files, the CIFAR-10 binary archive and built-in datasets read from files the tests write."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest

from aekit.data import BUILTINS, FileSpec, load_dataset, load_split, read_idx, write_idx
from aekit.data.idx import parse_idx
from aekit.errors import AekitError

IDX_NAMES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


def file_spec(path: Path) -> FileSpec:
    data = path.read_bytes()
    return FileSpec(path.name, hashlib.md5(data).hexdigest(), len(data))


def tiny_mnist(folder: Path, n_train: int = 40, n_test: int = 12) -> dict[str, np.ndarray]:
    """Write four tiny MNIST-format files; return the arrays written."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": (np.arange(n_train) % 10).astype(np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": (np.arange(n_test) % 10).astype(np.uint8),
    }
    for role, name in IDX_NAMES.items():
        write_idx(folder / name, arrays[role])
    return arrays


def use_spec(monkeypatch, name: str, folder: Path, **changes) -> None:
    """Point a built-in at the files in ``folder`` (real checksums would not match them)."""
    spec = BUILTINS[name]
    files = {role: tuple(file_spec(folder / f.name) if (folder / f.name).exists() else f
                         for f in alts) for role, alts in spec.files.items()}
    changes.setdefault("mirrors", ())
    monkeypatch.setitem(BUILTINS, name, dataclasses.replace(spec, files=files, **changes))


# --------------------------------------------------------------------------- IDX format


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("suffix", [".gz", ""])
def test_idx_round_trip(tmp_path, dtype, suffix):
    a = (np.arange(2 * 3 * 4) - 5).astype(dtype).reshape(2, 3, 4)
    path = tmp_path / f"a.idx{suffix}"
    write_idx(path, a)
    b = read_idx(path, expect_ndim=3)
    assert b.dtype == np.dtype(dtype) and np.array_equal(a, b) and b.flags.writeable


def test_idx_header_matches_the_mnist_magic(tmp_path):
    write_idx(tmp_path / "x.gz", np.zeros((3, 28, 28), np.uint8))
    raw = gzip.decompress((tmp_path / "x.gz").read_bytes())
    assert int.from_bytes(raw[:4], "big") == 2051 and int.from_bytes(raw[4:8], "big") == 3


def test_idx_errors(tmp_path):
    write_idx(tmp_path / "labels.gz", np.zeros(5, np.uint8))
    with pytest.raises(AekitError, match="expected a 3-D IDX file .*magic 2049"):
        read_idx(tmp_path / "labels.gz", expect_ndim=3)
    with pytest.raises(AekitError, match="expected an IDX file"):
        parse_idx(b"\x12\x34\x08\x01" + bytes(8))
    with pytest.raises(AekitError, match="expected an IDX file"):
        parse_idx(b"")
    good = gzip.decompress((tmp_path / "labels.gz").read_bytes())
    with pytest.raises(AekitError, match="truncated"):
        parse_idx(good[:-1])
    with pytest.raises(AekitError, match="trailing"):
        parse_idx(good + b"\x00")
    with pytest.raises(AekitError, match="header"):
        parse_idx(b"\x00\x00\x08\x03" + bytes(4))
    blob = gzip.compress(good)
    (tmp_path / "cut.gz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(AekitError, match="gzip"):
        read_idx(tmp_path / "cut.gz")
    (tmp_path / "bad.gz").write_bytes(b"\x1f\x8b" + b"garbage" * 10)
    with pytest.raises(AekitError, match="gzip"):
        read_idx(tmp_path / "bad.gz")
    with pytest.raises(AekitError, match="readable IDX"):
        read_idx(tmp_path / "missing.gz")


# --------------------------------------------------------------------------- MNIST-format files


def test_mnist_format_from_local_folder(tmp_path, monkeypatch):
    arrays = tiny_mnist(tmp_path / "mnist")
    use_spec(monkeypatch, "mnist", tmp_path / "mnist")
    s = load_dataset("mnist", data_dir=tmp_path, progress=False)
    assert [len(s.train), len(s.val), len(s.test)] == [36, 4, 12]
    assert s.train.shape == (28, 28, 1) and s.train.labels.dtype == np.int64
    assert np.array_equal(s.test.images[..., 0], arrays["test_images"])
    assert all(f["verified"] for f in s.info["files"]) and len(s.info["files"]) == 4
    assert s.info["source"] == str((tmp_path / "mnist").resolve())
    # val_fraction=0 keeps the file order, so train image 0 is file image 0.
    s0 = load_dataset("mnist", data_dir=tmp_path, val_fraction=0)
    assert np.array_equal(s0.train.images[..., 0], arrays["train_images"]) and len(s0.val) == 0
    # data_dir may also point straight at the folder holding the files.
    assert len(load_split("mnist", "test", data_dir=tmp_path / "mnist")) == 12


def test_mnist_count_mismatch_and_bad_labels(tmp_path, monkeypatch):
    tiny_mnist(tmp_path)
    write_idx(tmp_path / IDX_NAMES["test_labels"], np.zeros(11, np.uint8))
    use_spec(monkeypatch, "mnist", tmp_path)
    with pytest.raises(AekitError, match="12 images .* 11 labels"):
        load_split("mnist", "test", data_dir=tmp_path)
    write_idx(tmp_path / IDX_NAMES["test_labels"], np.full(12, 42, np.uint8))
    use_spec(monkeypatch, "mnist", tmp_path)
    with pytest.raises(AekitError, match="labels 0..9"):
        load_split("mnist", "test", data_dir=tmp_path)


def test_checksum_mismatch_on_disk(tmp_path, monkeypatch):
    tiny_mnist(tmp_path)
    use_spec(monkeypatch, "mnist", tmp_path)
    path = tmp_path / IDX_NAMES["test_labels"]
    path.write_bytes(path.read_bytes()[:-3] + b"abc")  # same size, different bytes
    expected = BUILTINS["mnist"].files["test_labels"][0].md5
    with pytest.raises(AekitError, match=f"expected md5 {expected}.*got md5 .*delete it"):
        load_split("mnist", "test", data_dir=tmp_path)


def test_kmnist_npz_alternative_and_missing_train(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (9, 28, 28), dtype=np.uint8)
    np.savez_compressed(tmp_path / "kmnist-test-imgs.npz", arr_0=x)
    np.savez_compressed(tmp_path / "kmnist-test-labels.npz", arr_0=np.arange(9, dtype=np.uint8))
    use_spec(monkeypatch, "kmnist", tmp_path, mirrors=BUILTINS["kmnist"].mirrors)
    monkeypatch.setenv("AEKIT_OFFLINE", "1")  # the real mirror stays in the message, untried
    test = load_split("kmnist", "test", data_dir=tmp_path)
    assert np.array_equal(test.images[..., 0], x) and test.class_names[0] == "o"
    with pytest.raises(AekitError) as err:
        load_dataset("kmnist", data_dir=tmp_path)
    msg = str(err.value)
    assert "train-images-idx3-ubyte.gz or kmnist-train-imgs.npz" in msg
    assert str(tmp_path) in msg and "AEKIT_OFFLINE" in msg and "--data-dir" in msg


# --------------------------------------------------------------------------- CIFAR-10 binary


def cifar_archive(path: Path, per_batch: int = 3, corrupt: bool = False) -> np.ndarray:
    """Write a tiny cifar-10-binary.tar.gz; return the test images (N, 32, 32, 3)."""
    rng = np.random.default_rng(2)
    test_images = None
    with tarfile.open(path, "w:gz") as tar:
        for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
            chw = rng.integers(0, 256, (per_batch, 3, 32, 32), dtype=np.uint8)
            labels = (np.arange(per_batch) % 10).astype(np.uint8)
            data = np.concatenate([labels[:, None], chw.reshape(per_batch, -1)], axis=1).tobytes()
            if corrupt and name == "test_batch.bin":
                data = data[:-5]
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
            if name == "test_batch.bin":
                test_images = chw.transpose(0, 2, 3, 1)
    return test_images


def test_cifar10_binary_archive(tmp_path, monkeypatch):
    folder = tmp_path / "cifar10"
    folder.mkdir()
    test_images = cifar_archive(folder / "cifar-10-binary.tar.gz")
    use_spec(monkeypatch, "cifar10", folder)
    s = load_dataset("cifar10", data_dir=tmp_path, val_fraction=0.2)
    assert [len(s.train), len(s.val), len(s.test)] == [12, 3, 3]
    assert s.test.shape == (32, 32, 3) and np.array_equal(s.test.images, test_images)
    assert s.train.class_names[0] == "airplane"
    assert load_split("cifar10", "test", data_dir=tmp_path, channels=1).shape == (32, 32, 1)


def test_cifar10_corrupt_archives(tmp_path, monkeypatch):
    cifar_archive(tmp_path / "cifar-10-binary.tar.gz", corrupt=True)
    use_spec(monkeypatch, "cifar10", tmp_path)
    with pytest.raises(AekitError, match="not a multiple"):
        load_split("cifar10", "test", data_dir=tmp_path)
    (tmp_path / "cifar-10-binary.tar.gz").write_bytes(b"\x1f\x8b\x08\x00" + bytes(64))
    use_spec(monkeypatch, "cifar10", tmp_path)
    with pytest.raises(AekitError, match="corrupt archive"):
        load_split("cifar10", "test", data_dir=tmp_path)
