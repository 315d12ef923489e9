"""Tables as training data: ``--dataset rows.csv`` -> seeded train / val / test splits of rows.

A table file (CSV, TSV, Parquet) or an array file holding rows ``(N, D)`` is read with
:func:`aekit.data.tablefiles.read_table` (``label_column`` and ``id_column`` kept out of the
features) and split like images are (:mod:`aekit.data.splits`: a seeded test share, then a
seeded validation share of the rest). Each split is a :class:`TableSet` whose ``samples`` is the
feature frame, so the trainer treats it like an :class:`~aekit.data.imageset.ImageSet`'s images.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import AekitError
from .download import hash_file
from .splits import check_fraction, split_off
from .tablefiles import read_table
from .tables import check_stray_text

TABLE_SUFFIXES = (".csv", ".tsv", ".tab", ".parquet", ".pq")


@dataclass(eq=False)
class TableSet:
    """Rows of one split: the feature frame, with the labels and ids kept out of it.

    Attributes:
        samples: the feature ``pandas.DataFrame`` (index ``0..N-1``).
        labels: one label per row (from ``label_column``), or ``None``.
        names: one id per row as text (from ``id_column``), or ``None``.
    """

    samples: Any
    labels: np.ndarray | None = None
    names: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return len(self.samples)

    def subset(self, index: np.ndarray) -> TableSet:
        return TableSet(self.samples.iloc[index].reset_index(drop=True),
                        None if self.labels is None else self.labels[index],
                        None if self.names is None else tuple(np.asarray(self.names, dtype=object)[index]))


@dataclass(eq=False)
class TableSplits:
    """Train / val / test rows of one table and the JSON-able description for the run record."""

    name: str
    train: TableSet
    val: TableSet
    test: TableSet
    info: dict = field(default_factory=dict)
    everything: Any = None  # every feature row (the vocabularies of categorical columns come from all of them)
    kind = "table"


def rows_in_array_file(path: Path) -> bool:
    """Whether a ``.npy`` / ``.npz`` holds rows ``(N, D)`` (its ``X``, or its only array) rather than images."""
    try:
        if path.suffix.lower() == ".npy":
            return np.load(path, mmap_mode="r", allow_pickle=False).ndim == 2
        with np.load(path, allow_pickle=False) as data:
            names = list(data.keys())
            key = "X" if "X" in names else ("x" if "x" in names else (names[0] if len(names) == 1 else None))
            return key is not None and data[key].ndim == 2
    except (OSError, ValueError):
        return False  # not readable here: the image loader gives the clear error


def is_table_source(name: str | os.PathLike) -> bool:
    """Whether ``--dataset`` names a table: a CSV/TSV/Parquet file, or an array file of rows ``(N, D)``."""
    path = Path(name).expanduser()
    suffix = path.suffix.lower()
    if suffix in TABLE_SUFFIXES:
        return True
    return suffix in (".npy", ".npz") and path.is_file() and rows_in_array_file(path)


def load_table_splits(name: str | os.PathLike, *, label_column: str | None = None, id_column: str | None = None,
                      val_fraction: float = 0.1, test_fraction: float = 0.2, seed: int = 0,
                      limit: int | None = None) -> TableSplits:
    """Read a table and split its rows: ``test_fraction`` drawn as test (stratified by the labels
    when there are few distinct ones), then ``val_fraction`` of the rest as validation, seeded."""
    check_fraction("val_fraction", val_fraction)
    check_fraction("test_fraction", test_fraction)
    path = Path(name).expanduser()
    table = read_table(path, label_column=label_column, id_column=id_column)
    check_stray_text(table.features)
    n = len(table)
    labels = table.labels
    strata = labels if labels is not None and len(np.unique(labels.astype(str))) <= 20 else None
    rng = np.random.default_rng(seed)
    rest, test = split_off(np.arange(n), test_fraction, rng, None if strata is None else strata.astype(str))
    rest_strata = None if strata is None else strata[rest].astype(str)
    train, val = split_off(rest, val_fraction, rng, rest_strata)
    train = np.sort(train)
    if limit is not None:
        train = train[:limit]
    if len(train) < 2:
        raise AekitError(f"{path}: {n} row(s) leave {len(train)} for training after the test and validation "
                         "shares; expected at least 2 (use more rows, or --set data.test_fraction=0)")
    ids = None if table.ids is None else tuple(str(v) for v in table.ids)
    whole = TableSet(table.features, labels, ids)
    parts = {k: whole.subset(np.sort(v)) for k, v in (("train", train), ("val", val), ("test", test))}
    info = {
        "source": str(path.resolve()), "kind": "table",
        "files": [{"name": path.name, "path": str(path.resolve()), "size": path.stat().st_size,
                   "sha256": hash_file(path, "sha256"), "verified": False}],
        "columns": [str(c) for c in table.features.columns], "label_column": label_column, "id_column": id_column,
        "splits": {k: len(v) for k, v in parts.items()}, "own_test_split": False, "seed": seed,
        "val_fraction": float(val_fraction), "test_fraction": float(test_fraction), "limit": limit,
        "sample_shape": [int(table.features.shape[1])], "dtype": "table",
    }
    return TableSplits(str(name), parts["train"], parts["val"], parts["test"], info, everything=table.features)
