"""The real datasets in the shared data folder ($AEKIT_DATA, else ../shared/data from the repo).

Skipped only when that folder is absent. Downloads are switched off (AEKIT_OFFLINE=1) so these
tests never touch the network nor write into the shared folder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from aekit.data import load_dataset, load_split, read_idx
from aekit.errors import AekitError

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("AEKIT_DATA") or REPO.parent / "shared" / "data")

pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason=f"no shared data folder at {DATA}")


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("AEKIT_OFFLINE", "1")


def test_mnist_shapes_checksums_and_first_label():
    s = load_dataset("mnist", data_dir=DATA, progress=False)
    assert [len(s.train), len(s.val), len(s.test)] == [54000, 6000, 10000]
    assert s.train.images.shape == (54000, 28, 28, 1) and s.train.images.dtype == np.uint8
    assert s.test.labels.dtype == np.int64 and set(np.unique(s.test.labels)) == set(range(10))
    assert [f["md5"] for f in s.info["files"]] == [
        "f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
        "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c",
    ]
    assert all(f["verified"] for f in s.info["files"])
    json.dumps(s.info)
    labels = read_idx(DATA / "mnist" / "train-labels-idx1-ubyte.gz", expect_ndim=1)
    assert labels[0] == 5
    assert load_dataset("mnist", data_dir=DATA, val_fraction=0).train.labels[0] == 5


def test_cifar10_subset_shapes_and_array_checksums():
    s = load_dataset("cifar10-subset", data_dir=DATA)
    assert [len(s.train), len(s.val), len(s.test)] == [3600, 400, 1000]
    assert s.train.shape == (32, 32, 3) and s.test.labels[:4].tolist() == [3, 8, 8, 0]
    assert s.info["files"][0]["verified"] and "images" in s.info["files"][0]["sha256_arrays"]
    full = load_dataset("cifar10-subset", data_dir=DATA, val_fraction=0)
    assert full.train.labels[:5].tolist() == [6, 9, 9, 4, 1]  # the official first labels


def test_kmnist_train_missing_but_test_split_loads():
    with pytest.raises(AekitError) as err:
        load_dataset("kmnist", data_dir=DATA)
    msg = str(err.value)
    assert "train-images-idx3-ubyte.gz" in msg and str(DATA / "kmnist") in msg
    assert "AEKIT_OFFLINE" in msg and "codh.rois.ac.jp" in msg
    test = load_split("kmnist", "test", data_dir=DATA)
    assert test.images.shape == (10000, 28, 28, 1) and len(test.labels) == 10000


def test_data_dir_may_point_at_the_dataset_folder():
    assert len(load_split("mnist", "test", data_dir=DATA / "mnist")) == 10000
