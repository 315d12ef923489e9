"""Read the built-in datasets of :mod:`aekit.data.registry` from their distribution files.

Each reader returns the dataset's *own* splits (``{"train": ..., "test": ...}``, or ``{"all":
...}`` for the 8x8 digits, which have none); :mod:`aekit.data.splits` carves validation later.
Only the files of the requested splits are opened, so KMNIST's test split loads even where its
training images are missing.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from aekit.data.arrays import arrays_to_sets, read_arrays
from aekit.data.download import ensure_file, hash_file
from aekit.data.idx import read_idx
from aekit.data.imageset import ImageSet
from aekit.data.registry import DatasetSpec, FileSpec
from aekit.errors import AekitError

DEFAULT_DATA_DIR = Path("~/.cache/aekit/data")


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The data folder: ``data_dir`` if given, else ``$AEKIT_DATA``, else ``~/.cache/aekit/data``.

    Args:
        data_dir: An explicit folder (``--data-dir``), or ``None``.
    """
    raw = data_dir if data_dir is not None else os.environ.get("AEKIT_DATA") or DEFAULT_DATA_DIR
    path = Path(raw).expanduser()
    if path.exists() and not path.is_dir():
        raise AekitError(f"expected the data dir {path} to be a folder, got a file")
    return path


def dataset_folders(spec: DatasetSpec, data_dir: str | os.PathLike | None) -> list[Path]:
    """Folders that may hold ``spec``'s files; the first is where downloads go.

    ``<data_dir>/<name>/`` is the default; ``data_dir`` itself is accepted too (a user pointing
    straight at the folder of files), and wins when it already holds some of them.
    """
    base = resolve_data_dir(data_dir)
    candidates = [base / f for f in (spec.folders or (spec.name,))] + [base]
    names = {f.name for alts in spec.files.values() for f in alts}
    holding = [c for c in candidates if any((c / n).is_file() for n in names)]
    return holding + [c for c in candidates if c not in holding]


def load_builtin(
    spec: DatasetSpec,
    splits: Sequence[str] = ("train", "test"),
    *,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    progress: bool = True,
) -> tuple[dict[str, ImageSet], dict]:
    """Load the requested official splits of a built-in dataset.

    Args:
        spec: The registry entry.
        splits: Which official splits to read (``"train"``, ``"test"``).
        data_dir: Data folder (see :func:`resolve_data_dir`).
        download: Download missing files from the mirrors.
        progress: Show download progress bars.

    Returns:
        ``(sets, info)``: split name -> images, and ``{"source": ..., "files": [...]}`` with the
        checksum record of every file read.
    """
    if spec.kind == "sklearn-digits":
        return {"all": _digits(spec)}, {"source": "sklearn", "files": []}
    folders = dataset_folders(spec, data_dir)
    files: list[dict] = []

    def fetch(role: str) -> tuple[Path, FileSpec]:
        path, fspec = ensure_file(
            spec.name, spec.files[role], folders, spec.mirrors,
            download=download, progress=progress, no_download=spec.no_download,
        )
        files.append({"role": role, "name": fspec.name, "path": str(path),
                      "size": path.stat().st_size,
                      "md5": fspec.md5, "verified": fspec.md5 is not None})
        return path, fspec

    if spec.kind == "idx":
        sets = {s: _idx_split(spec, s, fetch) for s in splits}
    elif spec.kind == "cifar-binary":
        sets = _cifar_binary(spec, fetch("archive")[0], splits)
    elif spec.kind == "npz-splits":
        path, _ = fetch("arrays")
        sets = _npz_splits(spec, path, files[-1])
        sets = {s: sets[s] for s in splits}
    else:
        raise AekitError(f"expected a known dataset kind, got {spec.kind!r} for {spec.name}")
    return sets, {"source": str(folders[0].resolve()), "files": files}


def _digits(spec: DatasetSpec) -> ImageSet:
    from sklearn.datasets import load_digits  # sklearn is slow to import; only digits needs it

    d = load_digits()
    # Values are 0..16 (counts of set pixels in 4x4 blocks); map them onto the usual 0..255.
    images = np.round(d.images * (255 / 16)).astype(np.uint8)[..., None]
    return ImageSet(images, d.target.astype(np.int64), spec.class_names)


def _read_part(path: Path, ndim: int) -> np.ndarray:
    """Read an IDX file, or a KMNIST-style ``.npz`` holding one array ``arr_0``."""
    if path.suffix != ".npz":
        return read_idx(path, expect_ndim=ndim)
    arrays = read_arrays(path)
    a = arrays.get("arr_0") if isinstance(arrays, dict) else None
    if a is None or a.ndim != ndim or a.dtype != np.uint8:
        got = "no arr_0" if a is None else f"{a.dtype} {a.shape}"
        raise AekitError(f"expected a {ndim}-D uint8 array arr_0 in {path}, got {got}")
    return a


def _idx_split(spec: DatasetSpec, split: str, fetch) -> ImageSet:
    image_path, _ = fetch(f"{split}_images")
    label_path, _ = fetch(f"{split}_labels")
    images, labels = _read_part(image_path, 3), _read_part(label_path, 1)
    if len(images) != len(labels):
        raise AekitError(
            f"expected as many labels as images, got {len(images)} images in {image_path} and "
            f"{len(labels)} labels in {label_path}; one file is corrupt or from another dataset"
        )
    return _checked_set(spec, images[..., None], labels, str(label_path))


def _checked_set(spec: DatasetSpec, images: np.ndarray, labels: np.ndarray, where: str) -> ImageSet:
    if images.dtype != np.uint8:
        raise AekitError(f"expected uint8 pixels in {spec.name}, got {images.dtype}")
    n_classes = len(spec.class_names or ())
    if n_classes and len(labels) and int(labels.max()) >= n_classes:
        raise AekitError(
            f"expected labels 0..{n_classes - 1} in {where}, got {int(labels.max())}; "
            "the file is corrupt or from another dataset"
        )
    return ImageSet(images, labels.astype(np.int64), spec.class_names)


_CIFAR_RECORD = 1 + 3 * 32 * 32  # one label byte, then the 32x32 R, G and B planes


def _cifar_binary(spec: DatasetSpec, path: Path, splits: Sequence[str]) -> dict[str, ImageSet]:
    wanted = {f"data_batch_{i}.bin": "train" for i in range(1, 6)} | {"test_batch.bin": "test"}
    wanted = {k: v for k, v in wanted.items() if v in splits}
    blobs: dict[str, bytes] = {}
    try:
        # Stream through the gzip once; only regular members with the expected names are read,
        # so nothing is extracted to disk and no path in the archive is ever trusted.
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                base = member.name.rsplit("/", 1)[-1]
                if base in wanted and member.isfile():
                    blobs[base] = tar.extractfile(member).read()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise AekitError(
            f"expected a readable cifar-10-binary.tar.gz at {path}, got a corrupt archive ({e}); "
            "delete it so it is downloaded again"
        ) from e
    missing = sorted(set(wanted) - set(blobs))
    if missing:
        raise AekitError(f"expected {', '.join(missing)} inside {path}, got no such member")
    out = {}
    for split in splits:
        data = b"".join(blobs[k] for k in sorted(wanted) if wanted[k] == split)
        if len(data) % _CIFAR_RECORD:
            raise AekitError(
                f"expected {split} records of {_CIFAR_RECORD} bytes in {path}, got {len(data)} "
                "bytes (not a multiple); the archive is corrupt"
            )
        records = np.frombuffer(data, dtype=np.uint8).reshape(-1, _CIFAR_RECORD)
        images = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # CHW -> HWC
        out[split] = _checked_set(spec, np.ascontiguousarray(images), records[:, 0], str(path))
    return out


def _npz_splits(spec: DatasetSpec, path: Path, record: dict) -> dict[str, ImageSet]:
    arrays = read_arrays(path)
    if not isinstance(arrays, dict):
        raise AekitError(f"expected an .npz archive at {path}, got a single .npy array")
    for key, expected in spec.array_sha256.items():
        got = hashlib.sha256(arrays[key].tobytes()).hexdigest() if key in arrays else "missing"
        if got != expected:
            raise AekitError(
                f"checksum mismatch for array {key!r} in {path}: expected sha256 {expected}, got "
                f"{got}; the file is corrupt or a different version: replace it with the original"
            )
    record.update(sha256_arrays=dict(spec.array_sha256), verified=True,
                  file_sha256=hash_file(path, "sha256"))
    sets = arrays_to_sets(arrays, str(path))
    if "train" not in sets or "test" not in sets:
        raise AekitError(
            f"expected train and test rows (split 0 and 1) in {path}, got {list(sets)}"
        )
    return {s: ImageSet(v.images, v.labels, spec.class_names) for s, v in sets.items()}
