"""Latent codes as files: ``.npy`` (the array), ``.csv`` and ``.parquet`` (names, ``z0..``, labels)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import AekitError
from ..fileio import atomic_write_bytes, atomic_write_csv, read_csv_rows

# --------------------------------------------------------------------- files (aekit encode / decode)
CODE_FORMATS = (".npy", ".csv", ".parquet")


def _require_pyarrow():
    try:
        import pyarrow  # noqa: F401
        import pyarrow.parquet as pq
    except ImportError:
        raise AekitError("writing or reading .parquet needs pyarrow: pip install pyarrow (or use .npy / .csv)") \
            from None
    return pq


def write_codes(path: str | os.PathLike, codes: np.ndarray, names: Any = None, labels: Any = None, *,
                name_column: str = "name") -> Path:
    """Codes to ``.npy`` (the array only), ``.csv`` or ``.parquet`` (``name``, ``z0..``, ``label`` columns;
    a table's rows are keyed by ``name_column``, its id column)."""

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in CODE_FORMATS:
        raise AekitError(f"expected an output ending in {', '.join(CODE_FORMATS)}; got {path.name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    codes = np.asarray(codes, dtype=np.float32)
    names = list(names) if names is not None else [f"image_{i:05d}" for i in range(len(codes))]
    columns = [f"z{i}" for i in range(codes.shape[1])]
    if suffix == ".npy":
        import io

        buf = io.BytesIO()
        np.save(buf, codes, allow_pickle=False)
        atomic_write_bytes(path, buf.getvalue())
    elif suffix == ".csv":
        rows = [[name_column, *columns] + (["label"] if labels is not None else [])]
        for i, row in enumerate(codes):
            rows.append([str(names[i]), *(repr(float(v)) for v in row)]
                        + ([_label(labels[i])] if labels is not None else []))
        atomic_write_csv(path, rows)
    else:
        pq = _require_pyarrow()
        import io

        import pyarrow as pa

        table = {name_column: [str(n) for n in names], **{c: codes[:, i] for i, c in enumerate(columns)}}
        if labels is not None:
            table["label"] = pa.array([_label(v) for v in labels])
        buf = io.BytesIO()
        pq.write_table(pa.table(table), buf)
        atomic_write_bytes(path, buf.getvalue())
    return path


def _label(value: Any) -> Any:
    """A label as written: class indices as ints, a table's labels as they were."""
    value = value.item() if hasattr(value, "item") else value
    return int(value) if isinstance(value, (int, np.integer)) else value


def read_codes(path: str | os.PathLike, latent_dim: int | None = None) -> tuple[np.ndarray, list[str] | None]:
    """Codes and names (``None`` for ``.npy``) from a file :func:`write_codes` wrote (or any such table)."""
    path = Path(path)
    if not path.is_file():
        raise AekitError(f"no such codes file: {path}")
    suffix = path.suffix.lower()
    names = None
    if suffix == ".npy":
        try:
            codes = np.load(path, allow_pickle=False)
        except ValueError as err:
            raise AekitError(f"{path} is not a readable .npy array ({err})") from None
    elif suffix == ".csv":
        lines = read_csv_rows(path)
        if not lines:
            raise AekitError(f"{path} is empty")
        head = lines[0]
        z_cols = [i for i, h in enumerate(head) if h.startswith("z") and h[1:].isdigit()]
        if not z_cols:
            raise AekitError(f"expected columns z0, z1, ... in {path}; got {', '.join(head[:5])}")
        rows = lines[1:]
        try:
            codes = np.array([[float(r[i]) for i in z_cols] for r in rows], dtype=np.float32)
        except (ValueError, IndexError) as err:
            raise AekitError(f"{path}: expected a number in every z column of every row ({err})") from None
        if "name" in head:
            names = [r[head.index("name")] for r in rows]
    elif suffix == ".parquet":
        pq = _require_pyarrow()
        table = pq.read_table(path).to_pydict()
        z_cols = sorted((c for c in table if c.startswith("z") and c[1:].isdigit()), key=lambda c: int(c[1:]))
        if not z_cols:
            raise AekitError(f"expected columns z0, z1, ... in {path}")
        codes = np.array([table[c] for c in z_cols], dtype=np.float32).T
        names = [str(n) for n in table["name"]] if "name" in table else None
    else:
        raise AekitError(f"expected codes in {', '.join(CODE_FORMATS)}; got {path.name}")
    codes = np.asarray(codes, dtype=np.float32)
    if codes.ndim == 1:
        codes = codes[None]
    if codes.ndim != 2 or (latent_dim is not None and codes.shape[1] != latent_dim):
        want = f"(N, {latent_dim})" if latent_dim is not None else "(N, k)"
        raise AekitError(f"expected codes of shape {want} in {path}; got {codes.shape}")
    return codes, names
