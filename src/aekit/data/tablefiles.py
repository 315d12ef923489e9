"""Tables as files and frames: ``read_table`` reads CSV, TSV, Parquet, ``.npy``/``.npz`` arrays, a
pandas DataFrame or a 2-D array into a :class:`Table` (features, labels, ids), with clear errors.

pandas (and pyarrow for Parquet) are imported only when a table is read (``pip install aekit[tables]``).
The preprocessing of a table's columns is :mod:`aekit.data.tables`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import AekitError

SHOWN = 5  # how many offending rows an error lists


def pandas_module():
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - depends on the environment
        raise AekitError("tables need pandas: pip install 'aekit[tables]'") from None
    return pd


def row_list(positions: Any) -> str:
    positions = [int(p) for p in positions]
    shown = ", ".join(str(p) for p in positions[:SHOWN])
    more = f" and {len(positions) - SHOWN} more" if len(positions) > SHOWN else ""
    return f"row(s) {shown}{more}"


# --------------------------------------------------------------------------- reading
@dataclass
class Table:
    """A table as read: the feature columns, and the labels and ids kept out of them.

    Attributes:
        features: the feature frame (``pandas.DataFrame``), index reset to ``0..N-1``.
        labels: the label column as a NumPy array, or ``None``.
        ids: the id column as a NumPy array, or ``None``.
        source: where the table came from, in words.
    """

    features: Any
    labels: np.ndarray | None = None
    ids: np.ndarray | None = None
    source: str = "a DataFrame"
    id_column: str | None = None
    label_column: str | None = None

    def __len__(self) -> int:
        return len(self.features)


def frame_of_array(array: np.ndarray, what: str) -> Any:
    pd = pandas_module()
    if array.ndim != 2:
        raise AekitError(f"{what}: expected a 2-D (N, D) array; got shape {array.shape}")
    return pd.DataFrame(array, columns=[f"f{i}" for i in range(array.shape[1])])


def _read_npz(path: Path) -> tuple[Any, np.ndarray | None]:
    with np.load(path, allow_pickle=False) as data:
        names = list(data.keys())
        key = "X" if "X" in names else ("x" if "x" in names else (names[0] if len(names) == 1 else None))
        if key is None:
            raise AekitError(f"{path}: expected an array named X (or a single array); found {', '.join(names)}")
        frame = frame_of_array(np.asarray(data[key]), str(path))
        labels = np.asarray(data["y"]) if key == "X" and "y" in names else None
    return frame, labels


def _read_file(path: Path) -> tuple[Any, np.ndarray | None]:
    """A table file's frame (and an ``.npz``'s labels), with unreadable files as clear errors."""
    pd = pandas_module()
    suffix = path.suffix.lower()
    readers = {".csv": lambda: pd.read_csv(path), ".tsv": lambda: pd.read_csv(path, sep="\t"),
               ".tab": lambda: pd.read_csv(path, sep="\t"),
               ".parquet": lambda: pd.read_parquet(path, engine="pyarrow"),
               ".pq": lambda: pd.read_parquet(path, engine="pyarrow"),
               ".npy": lambda: frame_of_array(np.load(path, allow_pickle=False), str(path))}
    if suffix == ".npz":
        return _read_npz(path)
    if suffix not in readers:
        raise AekitError(f"{path}: unknown table format {suffix or '(no suffix)'}; expected .csv, .tsv, "
                         ".parquet, .npy or .npz")
    try:
        return readers[suffix](), None
    except AekitError:
        raise
    except (ValueError, OSError, UnicodeDecodeError) as err:  # pandas' and pyarrow's parse errors are ValueErrors
        raise AekitError(f"{path}: not a readable {suffix[1:].upper()} table ({type(err).__name__}: "
                         f"{str(err).strip()[:200]})") from None


def read_table(path_or_frame: Any, *, label_column: str | None = None, id_column: str | None = None,
               min_rows: int = 2) -> Table:
    """Read a table: CSV (``.csv``), TSV (``.tsv``/``.tab``), Parquet (``.parquet``/``.pq``),
    NumPy ``.npy`` / ``.npz`` (an (N, D) array; in ``.npz`` the array ``X``, with labels ``y``
    when present), a ``pandas.DataFrame`` or a 2-D NumPy array. Array columns are named
    ``f0, f1, ...``.

    Args:
        path_or_frame: a path, a DataFrame or an array.
        label_column: a column holding labels, kept out of the features (``Table.labels``).
        id_column: a column holding row ids, kept out of the features (``Table.ids``).
        min_rows: fewer rows are an error (2 to train on; 1 to score).
    """
    pd = pandas_module()
    labels = None
    if isinstance(path_or_frame, pd.DataFrame):
        frame, source = path_or_frame.copy(deep=False), "a DataFrame"  # renaming columns must not touch the caller's
    elif isinstance(path_or_frame, np.ndarray):
        frame, source = frame_of_array(path_or_frame, "table"), f"an array of shape {path_or_frame.shape}"
    elif isinstance(path_or_frame, (str, Path)):
        path = Path(path_or_frame)
        source = str(path)
        if not path.is_file():
            raise AekitError(f"table file {path} does not exist" if not path.exists() else f"{path} is not a file")
        frame, labels = _read_file(path)
    else:
        raise AekitError(f"expected a path, a pandas DataFrame or a 2-D array; got {type(path_or_frame).__name__}")
    frame.columns = [str(c) for c in frame.columns]
    for role, name in (("label_column", label_column), ("id_column", id_column)):
        if name is not None and name not in frame.columns:
            raise AekitError(f"{role}: no column {name!r} in {source}; its columns are "
                             f"{', '.join(map(repr, frame.columns))}")
    if label_column is not None and label_column == id_column:
        raise AekitError(f"label_column and id_column are both {label_column!r}; expected two different columns")
    if label_column is not None:
        labels = frame[label_column].to_numpy()
    ids = frame[id_column].to_numpy() if id_column is not None else None
    features = frame.drop(columns=[c for c in (label_column, id_column) if c is not None]).reset_index(drop=True)
    if len(features) < min_rows:
        rows = f"{min_rows} row{'s' if min_rows > 1 else ''}"
        raise AekitError(f"{source}: expected at least {rows}; got {len(features)}")
    if features.shape[1] < 1:
        raise AekitError(f"{source}: expected at least one feature column besides the label and id columns")
    return Table(features=features, labels=labels, ids=ids, source=source, id_column=id_column,
                 label_column=label_column)
