"""The built-in datasets, as data: file names, sizes, checksums and download mirrors.

Nothing here does I/O. Keeping the registry as plain frozen dataclasses means a test (or a user
with a local mirror) can point a dataset at another base URL with ``dataclasses.replace``.

Checksums are the published ones: MNIST and KMNIST MD5s as used by torchvision and the
``datasets-mila`` git-annex keys, Fashion-MNIST from zalandoresearch/fashion-mnist, CIFAR-10 from
https://www.cs.toronto.edu/~kriz/cifar.html (binary version; the pickled python version is never
used, because aekit never unpickles).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aekit.errors import AekitError


@dataclass(frozen=True)
class FileSpec:
    """One distribution file.

    Args:
        name: File name, as on the server and on disk.
        md5: Published MD5 of the file, checked on every load.
        size: Size in bytes, checked before the (slower) MD5.
    """

    name: str
    md5: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class DatasetSpec:
    """A built-in dataset.

    Args:
        name: Registry name, also the default sub-folder of the data dir.
        kind: How to read it: ``"sklearn-digits"``, ``"idx"``, ``"cifar-binary"`` or
            ``"npz-splits"``.
        files: Role (``"train_images"``, ``"test_labels"``, ``"archive"``...) -> accepted files, in
            order of preference; the first is the one downloaded.
        mirrors: Base URLs tried in order; a file's URL is ``mirror + file.name``.
        folders: Sub-folders of the data dir that may hold the files (the first is the download
            target); the data dir itself is also accepted.
        class_names: Name of each label.
        array_sha256: For ``npz-splits``: SHA-256 of each array's raw bytes (the ``.npz`` file
            itself has no stable checksum, since zip archives store write times).
        no_download: Why the dataset cannot be downloaded, when ``mirrors`` is empty.
    """

    name: str
    kind: str
    files: dict[str, tuple[FileSpec, ...]] = field(default_factory=dict)
    mirrors: tuple[str, ...] = ()
    folders: tuple[str, ...] = ()
    class_names: tuple[str, ...] | None = None
    array_sha256: dict[str, str] = field(default_factory=dict)
    no_download: str = ""


_DIGITS = tuple(str(i) for i in range(10))


def _idx_files(sizes_md5: dict[str, tuple[int, str]]) -> dict[str, tuple[FileSpec, ...]]:
    roles = {
        "train_images": "train-images-idx3-ubyte.gz",
        "train_labels": "train-labels-idx1-ubyte.gz",
        "test_images": "t10k-images-idx3-ubyte.gz",
        "test_labels": "t10k-labels-idx1-ubyte.gz",
    }
    return {r: (FileSpec(n, sizes_md5[n][1], sizes_md5[n][0]),) for r, n in roles.items()}


_KMNIST_IDX = _idx_files(
    {
        "train-images-idx3-ubyte.gz": (18165135, "bdb82020997e1d708af4cf47b453dcf7"),
        "train-labels-idx1-ubyte.gz": (29497, "e144d726b3acfaa3e44228e80efcd344"),
        "t10k-images-idx3-ubyte.gz": (3041136, "5c965bf0a639b31b8f53240b1b52f4d7"),
        "t10k-labels-idx1-ubyte.gz": (5120, "7320c461ea6c1c855c0b718fb2a4b134"),
    }
)
# KMNIST is also published as .npz files (one array "arr_0" each); either format is accepted.
_KMNIST_NPZ = {
    "train_images": FileSpec("kmnist-train-imgs.npz", "a183fbc01ed9a345513b145673d3d0bb", 18384171),
    "train_labels": FileSpec("kmnist-train-labels.npz", "b0e1d240e8afec72b50437fc3bc5908a", 29700),
    "test_images": FileSpec("kmnist-test-imgs.npz", "dace6de62ca8b90843cc45366337d02e", 3079479),
    "test_labels": FileSpec("kmnist-test-labels.npz", "3ae489a79983d0fe386152684e3b5412", 5304),
}

BUILTINS: dict[str, DatasetSpec] = {
    "digits": DatasetSpec("digits", "sklearn-digits", class_names=_DIGITS),
    "mnist": DatasetSpec(
        "mnist",
        "idx",
        files=_idx_files(
            {
                "train-images-idx3-ubyte.gz": (9912422, "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
                "train-labels-idx1-ubyte.gz": (28881, "d53e105ee54ea40749a09fcbcd1e9432"),
                "t10k-images-idx3-ubyte.gz": (1648877, "9fb629c4189551a2d022fa330f9573f3"),
                "t10k-labels-idx1-ubyte.gz": (4542, "ec29112dd5afa0611ce80d1b7f02629c"),
            }
        ),
        mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
        folders=("mnist", "MNIST/raw"),  # MNIST/raw: where torchvision keeps the same files
        class_names=_DIGITS,
    ),
    "fashion-mnist": DatasetSpec(
        "fashion-mnist",
        "idx",
        files=_idx_files(
            {
                "train-images-idx3-ubyte.gz": (26421880, "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
                "train-labels-idx1-ubyte.gz": (29515, "25c81989df183df01b3e8a0aad5dffbe"),
                "t10k-images-idx3-ubyte.gz": (4422102, "bef4ecab320f06d8554ea6380940ec79"),
                "t10k-labels-idx1-ubyte.gz": (5148, "bb300cfdad3c16e7a12a480ee83cd310"),
            }
        ),
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        folders=("fashion-mnist", "FashionMNIST/raw"),
        class_names=(
            "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
        ),
    ),
    "kmnist": DatasetSpec(
        "kmnist",
        "idx",
        files={role: _KMNIST_IDX[role] + (_KMNIST_NPZ[role],) for role in _KMNIST_IDX},
        mirrors=("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
        folders=("kmnist", "KMNIST/raw"),
        # Romanised hiragana, in the order of the official kmnist_classmap.csv.
        class_names=("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
    ),
    "cifar10": DatasetSpec(
        "cifar10",
        "cifar-binary",
        files={"archive": (FileSpec("cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530",
                                    170052171),)},
        mirrors=("https://www.cs.toronto.edu/~kriz/",),
        folders=("cifar10", "cifar-10"),
        class_names=(
            "airplane", "automobile", "bird", "cat", "deer",
            "dog", "frog", "horse", "ship", "truck",
        ),
    ),
    "cifar10-subset": DatasetSpec(
        "cifar10-subset",
        "npz-splits",
        files={"arrays": (FileSpec("cifar10-subset.npz"),)},
        folders=("cifar10-subset",),
        class_names=(
            "airplane", "automobile", "bird", "cat", "deer",
            "dog", "frog", "horse", "ship", "truck",
        ),
        array_sha256={
            "images": "43a65562ae69a1208d54474110f83b7edad16a0f90d72e8fac7c8a9f7bbedf92",
            "labels": "f4a3baa6ae69f542bdce84f318aa328d44d42cef8c33d92e1878a7f9c0eddd38",
        },
        no_download=(
            "this 5,000-image subset was rebuilt from ConvNetJS sprites and has no download "
            "source (see shared/data/README.md); use 'cifar10' for the full, downloadable dataset"
        ),
    ),
}


def dataset_names() -> list[str]:
    """Names of the built-in datasets, in registry order."""
    return list(BUILTINS)


def canonical_name(name: str) -> str | None:
    """Map a user-typed name (``"Fashion_MNIST"``, ``"fashionmnist"``) to a registry name.

    Args:
        name: What the user typed.

    Returns:
        The registry name, or ``None`` when ``name`` is not a built-in dataset.
    """
    key = name.strip().lower().replace("_", "-")
    aliases = {
        "fashionmnist": "fashion-mnist", "cifar-10": "cifar10", "cifar10subset": "cifar10-subset",
    }
    key = aliases.get(key, key)
    return key if key in BUILTINS else None


def get_spec(name: str) -> DatasetSpec:
    """Return the spec of a built-in dataset.

    Args:
        name: A built-in name (see :func:`dataset_names`).

    Raises:
        AekitError: ``name`` is not a built-in dataset.
    """
    key = canonical_name(name)
    if key is None:
        raise AekitError(
            f"expected a built-in dataset name, got {name!r}; valid: {', '.join(BUILTINS)}"
        )
    return BUILTINS[key]
