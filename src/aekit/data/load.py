"""``load_dataset`` / ``load_split``: one entry point for built-in names, folders and array files.

    name ──► built-in?  ──► builtin.load_builtin ─┐        (official train/test, checksums)
         └─► folder?    ──► folders.load_folder ──┼─► convert ─► splits.make_splits ─► Splits
         └─► .npy/.npz? ──► arrays.load_array_file┘   (channels, size)   (seeded val/test)

The kinds of source are tried in the order of :data:`aekit.registry.SOURCES` (see
:mod:`aekit.data.sources`), so a built-in name wins over a same-named folder in the working
directory; write ``./mnist`` to mean the folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from aekit.config import DataConfig
from aekit.data.builtin import resolve_data_dir
from aekit.data.convert import check_channels, parse_size, resize_images, to_channels
from aekit.data.imageset import ImageSet, Splits
from aekit.data.registry import BUILTINS, canonical_name
from aekit.data.seriessplits import SeriesSplits, load_series_splits
from aekit.data.sources import accepted, find_source
from aekit.data.splits import check_fraction, make_splits
from aekit.data.tablesplits import TableSplits, is_table_source, load_table_splits
from aekit.errors import AekitError

SPLIT_NAMES = ("train", "val", "test")


def load_dataset(
    name: str | os.PathLike,
    *,
    data_dir: str | os.PathLike | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    seed: int = 0,
    download: bool = True,
    limit: int | None = None,
    image_size: int | tuple[int, int] | None = None,
    channels: int | None = None,
    progress: bool = True,
) -> Splits:
    """Load a dataset and split it into train / val / test.

    Args:
        name: A built-in name (see :func:`aekit.data.dataset_names`), a folder of images
            (optionally one sub-folder per class), or a ``.npy`` / ``.npz`` file.
        data_dir: Where built-in datasets live (``--data-dir``); default ``$AEKIT_DATA``, else
            ``~/.cache/aekit/data``. Files are looked for in ``<data_dir>/<name>/`` and in
            ``data_dir`` itself.
        val_fraction: Share of the training images held out for validation (seeded).
        test_fraction: Share of all images drawn as test when the source has no test split.
        seed: Seed of every random draw; the same seed gives the same splits.
        download: Download missing built-in files (never when ``AEKIT_OFFLINE=1``).
        limit: Keep only the first ``limit`` training images after the seeded shuffle.
        image_size: Resize to this ``(H, W)`` (or square int); required for folders of
            mixed sizes.
        channels: Force 1 (grayscale) or 3 (RGB) channels.
        progress: Show download progress bars.

    Returns:
        The splits, with ``info`` describing source, verified files, sizes and seed.

    Raises:
        AekitError: Unknown name, missing or corrupt files, bad arguments.
    """
    sets, info, display = _load_sets(name, ("train", "test"), data_dir=data_dir,
                                     download=download, progress=progress,
                                     size=parse_size(image_size), channels=check_channels(channels),
                                     fractions=(val_fraction, test_fraction))
    pool = sets.get("train", sets.get("all"))
    train, val, test = make_splits(pool, test=sets.get("test"), val=sets.get("val"),
                                   val_fraction=val_fraction, test_fraction=test_fraction,
                                   seed=seed, limit=limit)
    info.update(
        splits={"train": len(train), "val": len(val), "test": len(test)},
        own_test_split="test" in sets,
        own_val_split="val" in sets,
        seed=seed,
        val_fraction=float(val_fraction),
        test_fraction=None if "test" in sets else float(test_fraction),
        limit=limit,
        image_shape=list(train.shape),
        dtype=str(train.images.dtype),
        class_names=list(train.class_names) if train.class_names else None,
    )
    return Splits(display, train, val, test, info)


def load_split(
    name: str | os.PathLike,
    split: str,
    *,
    data_dir: str | os.PathLike | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    seed: int = 0,
    download: bool = True,
    limit: int | None = None,
    image_size: int | tuple[int, int] | None = None,
    channels: int | None = None,
    progress: bool = True,
) -> ImageSet:
    """Load one split; the same images as ``getattr(load_dataset(...), split)``.

    For a dataset with its own test split, ``split="test"`` reads only the test files, so it
    works where the training files are missing (KMNIST in the shared data folder).

    Args:
        name: As for :func:`load_dataset`.
        split: ``"train"``, ``"val"`` or ``"test"``.
        data_dir: As for :func:`load_dataset`; so are the remaining arguments.
        val_fraction: See :func:`load_dataset`.
        test_fraction: See :func:`load_dataset`.
        seed: See :func:`load_dataset`.
        download: See :func:`load_dataset`.
        limit: See :func:`load_dataset`.
        image_size: See :func:`load_dataset`.
        channels: See :func:`load_dataset`.
        progress: See :func:`load_dataset`.
    """
    if split not in SPLIT_NAMES:
        raise AekitError(f"expected split to be one of {', '.join(SPLIT_NAMES)}, got {split!r}")
    key = canonical_name(str(name)) if isinstance(name, str) else None
    if split == "test" and key is not None and BUILTINS[key].kind != "sklearn-digits":
        sets, _, _ = _load_sets(key, ("test",), data_dir=data_dir, download=download,
                                progress=progress, size=parse_size(image_size),
                                channels=check_channels(channels),
                                fractions=(val_fraction, test_fraction))
        return sets["test"]
    splits = load_dataset(name, data_dir=data_dir, val_fraction=val_fraction,
                          test_fraction=test_fraction, seed=seed, download=download, limit=limit,
                          image_size=image_size, channels=channels, progress=progress)
    return getattr(splits, split)


def _load_sets(name, official, *, data_dir, download, progress, size, channels, fractions):
    """Read a source's own sets, converted; return ``(sets, info, display_name)``."""
    for label, value in zip(("val_fraction", "test_fraction"), fractions, strict=True):
        check_fraction(label, value)  # fail before minutes of I/O, not after
    source = find_source(name)
    if source is None:
        path = Path(name).expanduser()
        what = "a file of another type" if path.exists() else "no such file or folder"
        raise AekitError(f"expected {accepted()}, got {str(name)!r} ({what}); check the name or path")
    sets, info, display = source.load(name, official, data_dir=data_dir, download=download, progress=progress,
                                      size=size, channels=channels)
    sets = {k: ImageSet(resize_images(to_channels(v.images, channels), size), v.labels,
                        v.class_names, v.names) for k, v in sets.items()}
    shapes = {k: v.shape for k, v in sets.items()}
    if len(set(shapes.values())) > 1:
        raise AekitError(
            f"expected every split of {display} to have one image shape, got {shapes}; pass "
            "image_size and channels to convert them"
        )
    info["name"] = display
    return sets, info, display


def default_dataset(data_dir: str | os.PathLike | None) -> str:
    """MNIST when its files are found locally, else scikit-learn's bundled digits."""
    root = resolve_data_dir(data_dir)
    for folder in (root / "mnist", root):
        if (folder / "train-images-idx3-ubyte.gz").is_file() and (folder / "t10k-images-idx3-ubyte.gz").is_file():
            return "mnist"
    return "digits"


def load_splits(data: DataConfig, *, seed: int, progress: bool = True) -> Splits | TableSplits | SeriesSplits:
    """The splits a run's :class:`~aekit.config.DataConfig` describes (``dataset="default"`` resolved):
    a time series split in time when ``data.window`` is set (:mod:`aekit.data.seriessplits`), rows
    of a table (:mod:`aekit.data.tablesplits`) when the dataset is a table file, else images."""
    if data.window is None and data.dataset != "default" and is_table_source(data.dataset):
        return load_table_splits(data.dataset, label_column=data.label_column, id_column=data.id_column,
                                 val_fraction=data.val_fraction, test_fraction=data.test_fraction, seed=seed,
                                 limit=data.limit)
    if data.label_column is not None or data.id_column is not None:
        read_as = "a time series (window is set)" if data.window is not None else "images"
        raise AekitError(f"label_column and id_column name columns of a table; {data.dataset!r} is not a table "
                         f"file (.csv, .tsv, .parquet, or .npy/.npz of rows): it is read as {read_as}")
    if data.window is not None:
        return load_series_splits(data)
    size = data.image_size
    if size is not None and len(size) == 1:
        size = (size[0], size[0])
    name = default_dataset(data.data_dir) if data.dataset == "default" else data.dataset
    return load_dataset(
        name, data_dir=data.data_dir, val_fraction=data.val_fraction, test_fraction=data.test_fraction,
        seed=seed, limit=data.limit, image_size=size, channels=data.image_channels, progress=progress,
    )
