"""Tables: the preprocessing of their columns, saved with the model (reading: :mod:`aekit.data.tablefiles`).

A table is a frame of named columns. Numeric columns are standardised (``scaling="standard"``:
mean and std; ``"robust"``: median and interquartile range); categorical columns (object,
string, category, bool) become one-hot columns over the vocabulary seen in training. Model space
is the float32 ``(N, D')`` concatenation of the columns in their recorded order, so a
table is vector-shaped and the MLP architectures take it. Everything fitted (statistics,
vocabularies, imputed values) is plain JSON in the model's record; nothing is pickled.

At inference the frame must have exactly the recorded columns (any order): a missing, extra or
renamed column, a text value in a numeric column, an unseen category (unless ``unseen="other"``)
or a missing value (unless ``impute`` was chosen) is an error that names what is wrong.

pandas is imported only when a table is read or encoded (``pip install aekit[tables]``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..errors import AekitError
from .preprocess import InputSpace
from .tablefiles import SHOWN, Table, frame_of_array, pandas_module, row_list

KIND = "table"
SCALINGS = ("standard", "robust", "none")
UNSEEN = ("error", "other")
IMPUTE = (None, "median", "mean", "constant")
OTHER = "<other>"  # the category an unseen value maps to under unseen="other"
NUMERIC_SHARE = 0.9  # a text column with at least this share of numbers is a numeric column with typos


# --------------------------------------------------------------------------- columns
@dataclass(frozen=True)
class Column:
    """One recorded column: numeric (``center``/``scale``) or categorical (``categories``).

    ``fill`` is the value a missing entry takes (``None``: missing values are an error); for a
    categorical column it is a category. ``other`` adds an explicit slot for unseen categories.
    """

    name: str
    type: str  # "numeric" or "categorical"
    dtype: str  # the training frame's dtype, to give outputs back as they came
    center: float = 0.0
    scale: float = 1.0
    categories: tuple[Any, ...] = ()
    other: bool = False
    fill: Any = None

    @property
    def width(self) -> int:
        return 1 if self.type == "numeric" else len(self.categories) + int(self.other)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type, "dtype": self.dtype, "fill": self.fill}
        if self.type == "numeric":
            out.update(center=self.center, scale=self.scale)
        else:
            out.update(categories=list(self.categories), other=self.other)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Column:
        known = {"name", "type", "dtype", "fill", "center", "scale", "categories", "other"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise AekitError(f"preprocessing.columns: unknown key(s) {', '.join(unknown)}")
        if data.get("type") not in ("numeric", "categorical"):
            raise AekitError(f"preprocessing.columns.type: expected numeric or categorical; got {data.get('type')!r}")
        return cls(name=str(data["name"]), type=data["type"], dtype=str(data.get("dtype", "")),
                   center=float(data.get("center", 0.0)), scale=float(data.get("scale", 1.0)),
                   categories=tuple(data.get("categories", ())), other=bool(data.get("other", False)),
                   fill=data.get("fill"))


def _native(value: Any) -> Any:
    """A category as a JSON value (NumPy scalars -> Python)."""
    return value.item() if hasattr(value, "item") else value


def _missing(series: Any) -> np.ndarray:
    """Missing entries: NaN/None, and empty or blank strings."""
    pd = pandas_module()
    blank = series.map(lambda v: isinstance(v, str) and not v.strip()).to_numpy(dtype=bool)
    return pd.isna(series).to_numpy(dtype=bool) | blank


def _is_categorical(series: Any) -> bool:
    pd = pandas_module()
    t = pd.api.types
    return bool(t.is_bool_dtype(series) or t.is_object_dtype(series) or t.is_string_dtype(series)
                or isinstance(series.dtype, pd.CategoricalDtype))


# --------------------------------------------------------------------------- preprocessing
@dataclass(frozen=True)
class TablePreprocessing:
    """Recorded table format: the columns (name, order, type) and what was fitted on each.

    Args:
        columns: the recorded :class:`Column` s, in the frame's order.
        scaling: ``standard``, ``robust`` or ``none``.
        unseen: ``error`` or ``other`` (unseen categories go to an explicit slot).
        impute: ``None`` (missing values are an error), ``median``, ``mean`` or ``constant``.
    """

    columns: tuple[Column, ...]
    scaling: str = "standard"
    unseen: str = "error"
    impute: str | None = None
    input_shape: tuple[int] = field(init=False)

    kind = KIND

    def __post_init__(self) -> None:
        if not self.columns:
            raise AekitError("preprocessing.columns: expected at least one column")
        for name, value, allowed in (("scaling", self.scaling, SCALINGS), ("unseen", self.unseen, UNSEEN),
                                     ("impute", self.impute, IMPUTE)):
            if value not in allowed:
                raise AekitError(f"preprocessing.{name}: expected one of {', '.join(map(str, allowed))}; "
                                 f"got {value!r}")
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise AekitError(f"preprocessing.columns: duplicate column names in {names}")
        for c in self.columns:
            if c.type == "numeric" and not c.scale > 0:
                raise AekitError(f"preprocessing.columns: column {c.name!r} has scale {c.scale}; expected > 0")
            if c.type == "categorical" and c.width < 1:
                raise AekitError(f"preprocessing.columns: column {c.name!r} has no categories")
        object.__setattr__(self, "input_shape", (sum(c.width for c in self.columns),))

    @property
    def features(self) -> int:
        return int(self.input_shape[0])

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    # ----------------------------------------------------------------- construction
    @classmethod
    def fit(cls, rows: Any, *, normalize: bool = True, scaling: str = "standard", unseen: str = "error",
            impute: str | None = None, fill_value: float = 0.0, categories_from: Any = None) -> TablePreprocessing:
        """Record the columns of a training table (a DataFrame, :class:`Table` or 2-D array) and
        fit each: numeric centre/scale (``normalize=False``: none), categorical vocabulary, and
        the value missing entries take when ``impute`` is set (numeric: the column's median, mean
        or ``fill_value``; categorical: its most frequent category).

        ``categories_from`` (the whole table the training rows were drawn from) adds its
        categories to the vocabularies, so a rare category that fell into the validation or test
        share is known rather than an error; every statistic is still fitted on ``rows`` alone."""
        if scaling not in SCALINGS:
            raise AekitError(f"scaling: expected one of {', '.join(SCALINGS)}; got {scaling!r}")
        if unseen not in UNSEEN:
            raise AekitError(f"unseen: expected one of {', '.join(UNSEEN)}; got {unseen!r}")
        scaling = scaling if normalize else "none"
        frame = _as_frame(rows, None)
        if len(frame) < 2:
            raise AekitError(f"expected at least 2 training rows; got {len(frame)}")
        if impute not in IMPUTE:
            raise AekitError(f"impute: expected one of none, median, mean, constant; got {impute!r}")
        if impute is None:
            _check_no_missing(frame, frame.columns)
        columns = []
        for name in frame.columns:
            series = frame[name]
            missing = _missing(series)
            present = series[~missing]
            if len(present) == 0:
                raise AekitError(f"column {name!r} has no values in the training rows")
            if _is_categorical(series):
                _refuse_stray_text(name, series, missing)
                counts = {_native(k): int(v) for k, v in present.map(_native).value_counts(sort=False).items()}
                fill = max(counts, key=counts.__getitem__) if impute is not None else None
                if categories_from is not None:
                    extra = _as_frame(categories_from, None)[name]
                    for value in extra[~_missing(extra)].map(_native).unique():
                        counts.setdefault(_native(value), 0)
                categories = tuple(sorted(counts, key=lambda v: (str(type(v)), str(v))))
                columns.append(Column(name=str(name), type="categorical", dtype=str(series.dtype),
                                      categories=categories, other=unseen == "other", fill=fill))
                continue
            if not pandas_module().api.types.is_numeric_dtype(series):
                raise AekitError(f"column {name!r}: unsupported type {series.dtype}; expected numbers or categories")
            values = present.to_numpy(dtype=np.float64)
            if not np.isfinite(values).all():
                raise AekitError(f"column {name!r}: expected finite numbers; got Inf at "
                                 f"{row_list(np.flatnonzero(~missing)[~np.isfinite(values)])}")
            center, scale = 0.0, 1.0
            if scaling == "standard":
                center, scale = float(values.mean()), float(values.std())
            elif scaling == "robust":
                q1, median, q3 = np.percentile(values, [25, 50, 75])
                center, scale = float(median), float(q3 - q1)
            # A constant column gets scale 1: it carries nothing, and dividing by ~0 would blow it up.
            scale = scale if scale > 1e-12 else 1.0
            fill = {None: None, "median": float(np.median(values)), "mean": float(values.mean()),
                    "constant": float(fill_value)}[impute]
            columns.append(Column(name=str(name), type="numeric", dtype=str(series.dtype), center=center,
                                  scale=scale, fill=fill))
        return cls(columns=tuple(columns), scaling=scaling, unseen=unseen, impute=impute)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": KIND, "input_shape": list(self.input_shape), "scaling": self.scaling,
                "unseen": self.unseen, "impute": self.impute, "columns": [c.to_dict() for c in self.columns]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TablePreprocessing:
        known = {"kind", "input_shape", "scaling", "unseen", "impute", "columns"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise AekitError(f"preprocessing: unknown key(s) {', '.join(unknown)} for table data")
        if not isinstance(data.get("columns"), list):
            raise AekitError("preprocessing: missing key columns (a list) for table data")
        out = cls(columns=tuple(Column.from_dict(c) for c in data["columns"]), scaling=data.get("scaling", "standard"),
                  unseen=data.get("unseen", "error"), impute=data.get("impute"))
        if "input_shape" in data and list(data["input_shape"]) != list(out.input_shape):
            raise AekitError(f"preprocessing.input_shape: the columns give {list(out.input_shape)}; "
                             f"the record says {list(data['input_shape'])}")
        return out

    # ----------------------------------------------------------------- encoding
    def encode(self, rows: Any) -> np.ndarray:
        """A table as users have it -> model space, float32 (N, D'), every check applied."""
        frame = _as_frame(rows, self.names)
        self._check_columns(frame)
        if self.impute is None:
            _check_no_missing(frame, self.names)
        parts = []
        for c in self.columns:
            series = frame[c.name]
            missing = _missing(series)
            if c.type == "numeric":
                parts.append(((self._numbers(series, missing, c) - c.center) / c.scale)[:, None])
            else:
                parts.append(self._one_hot(series, missing, c))
        return np.ascontiguousarray(np.concatenate(parts, axis=1), dtype=np.float32)

    def _check_columns(self, frame: Any) -> None:
        got = [str(c) for c in frame.columns]
        missing = [n for n in self.names if n not in got]
        extra = [n for n in got if n not in self.names]
        if missing or extra:
            parts = ([f"missing column(s) {', '.join(map(repr, missing))}"] if missing else []) + \
                    ([f"unexpected column(s) {', '.join(map(repr, extra))}"] if extra else [])
            hint = " (renamed?)" if missing and extra else ""
            raise AekitError(f"this model expects {self.describe_input()}; {'; '.join(parts)}{hint}")
        if len(frame) == 0:
            raise AekitError("expected at least one row; got an empty table")

    @staticmethod
    def _numbers(series: Any, missing: np.ndarray, c: Column) -> np.ndarray:
        pd = pandas_module()
        if pd.api.types.is_bool_dtype(series):
            raise AekitError(f"column {c.name!r} is numeric; got booleans")
        if not pd.api.types.is_numeric_dtype(series):
            values = pd.to_numeric(series.where(~missing), errors="coerce").to_numpy(dtype=np.float64)
            bad = np.flatnonzero(np.isnan(values) & ~missing)
            if len(bad):
                examples = ", ".join(repr(series.iloc[i]) for i in bad[:SHOWN])
                raise AekitError(f"column {c.name!r} is numeric; got text at {row_list(bad)} ({examples})")
        else:
            values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        if np.isinf(values).any():
            raise AekitError(f"column {c.name!r}: expected finite numbers; got Inf at "
                             f"{row_list(np.flatnonzero(np.isinf(values)))}")
        if missing.any():
            values = np.where(missing, c.fill, values)
        return values

    def _one_hot(self, series: Any, missing: np.ndarray, c: Column) -> np.ndarray:
        slot = {str(v): i for i, v in enumerate(c.categories)}
        keys = [str(c.fill) if m else str(_native(v)) for v, m in zip(series.tolist(), missing, strict=True)]
        index = np.array([slot.get(k, -1) for k in keys], dtype=np.int64)
        unseen = np.flatnonzero(index < 0)
        if len(unseen):
            if not c.other:
                values = list(dict.fromkeys(keys[i] for i in unseen))
                raise AekitError(f"column {c.name!r}: unseen categor{'y' if len(values) == 1 else 'ies'} "
                                 f"{', '.join(map(repr, values[:SHOWN]))} at {row_list(unseen)}; known: "
                                 f"{', '.join(map(repr, c.categories[:20]))}"
                                 f"{' ...' if len(c.categories) > 20 else ''} (fit with unseen='other' to "
                                 "map them to an 'other' slot)")
            index[unseen] = len(c.categories)
        out = np.zeros((len(index), c.width), dtype=np.float32)
        out[np.arange(len(index)), index] = 1.0
        return out

    def decode(self, y: np.ndarray) -> Any:
        """Model space (N, D') -> a DataFrame with the recorded columns: numeric columns in their
        units, categorical columns as the arg-max category (``"<other>"`` for the other slot)."""
        pd = pandas_module()
        y = np.asarray(y, dtype=np.float64)
        out, at = {}, 0
        for c in self.columns:
            block = y[:, at:at + c.width]
            at += c.width
            if c.type == "numeric":
                out[c.name] = block[:, 0] * c.scale + c.center
                continue
            vocab = list(c.categories) + ([OTHER] if c.other else [])
            values = [vocab[i] for i in block.argmax(axis=1)]
            if c.dtype == "bool" and not c.other:
                out[c.name] = np.array(values, dtype=bool)
            elif c.dtype == "category":
                out[c.name] = pd.Categorical(values, categories=vocab)
            else:
                out[c.name] = np.array(values, dtype=object)
        return pd.DataFrame(out, columns=self.names)

    def column_totals(self, per_feature: np.ndarray) -> np.ndarray:
        """Per-feature values in model space (N, D') -> per recorded column (N, columns): a
        categorical column's one-hot slots are summed, so each column gets one contribution."""
        per_feature = np.asarray(per_feature)
        edges = np.cumsum([0] + [c.width for c in self.columns])
        return np.add.reduceat(per_feature, edges[:-1], axis=1)

    # ----------------------------------------------------------------- fast internal path
    def to_storage(self, rows: Any) -> torch.Tensor:
        """A training table -> the float32 model-space tensor the trainer batches by index."""
        return torch.from_numpy(self.encode(rows))

    def batch_to_model(self, batch: torch.Tensor) -> torch.Tensor:
        """Stored rows are already in model space (encoding a table is not a tensor operation)."""
        return batch.float()

    def model_to_data(self, y: torch.Tensor) -> torch.Tensor:
        """Model space is the tensor form of a table; :meth:`decode` gives the table back."""
        return y

    def model_range(self, device: torch.device | str | None = None) -> tuple[Any, Any]:
        """Where corruptions clip in model space: nowhere, standardised columns have no fixed range."""
        return (float("-inf"), float("inf"))

    # ----------------------------------------------------------------- user-facing path
    def describe_input(self) -> str:
        shown = ", ".join(f"{c.name} ({c.type})" for c in self.columns[:20])
        more = f", ... ({len(self.columns)} in all)" if len(self.columns) > 20 else ""
        return f"a table with the columns {shown}{more}"

    def to_model(self, rows: Any, device: torch.device | str | None = None) -> tuple[torch.Tensor, InputSpace]:
        """A table (DataFrame, :class:`Table`, or an (N, D) array of a table's numeric columns in
        the recorded order) -> model-space (N, D') tensor and how to give outputs back."""
        t = torch.from_numpy(self.encode(rows))
        if device is not None:
            t = t.to(device)
        return t, InputSpace(False, False, torch.float32, "table", True)

    def output_space(self, *, is_torch: bool, batched: bool, as_float: bool = True) -> InputSpace:
        """How :meth:`from_model` returns decoded codes: a DataFrame."""
        return InputSpace(is_torch, False, torch.float32, "table", True)

    def from_model(self, y: torch.Tensor, space: InputSpace) -> Any:
        """Model-space output (N, D') -> a DataFrame with the recorded columns."""
        return self.decode(y.detach().float().cpu().numpy())


def _as_frame(rows: Any, names: list[str] | None) -> Any:
    pd = pandas_module()
    if isinstance(rows, Table):
        rows = rows.features
    if isinstance(rows, pd.DataFrame):
        frame = rows.reset_index(drop=True)
        frame.columns = [str(c) for c in frame.columns]
        return frame
    if hasattr(rows, "detach"):
        rows = rows.detach().cpu().numpy()
    array = np.asarray(rows)
    if array.ndim != 2:
        raise AekitError(f"expected a table: a DataFrame or a 2-D array; got shape {array.shape}")
    if names is None:
        return frame_of_array(array, "table")
    if array.shape[1] != len(names):
        raise AekitError(f"expected {len(names)} columns ({', '.join(map(repr, names))}); "
                         f"got an array with {array.shape[1]}")
    return pd.DataFrame(array, columns=names)


def _refuse_stray_text(name: Any, series: Any, missing: np.ndarray) -> None:
    """A text column whose values are nearly all numbers is a numeric column with typos ("12,5",
    "n/a", "?"): one-hot encoding every number as a category would hide that, so it is an error."""
    pd = pandas_module()
    if pd.api.types.is_bool_dtype(series) or isinstance(series.dtype, pd.CategoricalDtype):
        return
    numbers = pd.to_numeric(series.where(~missing), errors="coerce").to_numpy(dtype=np.float64)
    text = np.flatnonzero(np.isnan(numbers) & ~missing)
    present = int((~missing).sum())
    if len(text) and present - len(text) >= NUMERIC_SHARE * present:
        examples = ", ".join(repr(series.iloc[i]) for i in text[:SHOWN])
        raise AekitError(f"column {name!r} holds numbers, with text at {row_list(text)} ({examples}); fix or "
                         "blank those values (blanks are missing values: see impute), or make the column "
                         "all text to treat it as categories")


def check_stray_text(frame: Any) -> None:
    """Refuse numeric columns with stray text anywhere in a whole table (see :func:`_refuse_stray_text`),
    before it is split: in a split without the text, the column would look like categories."""
    for name in frame.columns:
        if _is_categorical(frame[name]):
            _refuse_stray_text(name, frame[name], _missing(frame[name]))


def _check_no_missing(frame: Any, names: Any) -> None:
    holes = {str(n): np.flatnonzero(_missing(frame[n])) for n in names if n in frame.columns}
    holes = {n: rows for n, rows in holes.items() if len(rows)}
    if holes:
        where = "; ".join(f"{n!r} at {row_list(r)}" for n, r in list(holes.items())[:SHOWN])
        raise AekitError(f"missing values (NaN or empty) in column(s) {where}; fill them, or fit with "
                         "impute='median', 'mean' or 'constant'")


def is_table(x: Any) -> bool:
    """Whether ``x`` is a table (a pandas DataFrame or a :class:`Table`), without importing pandas."""
    return isinstance(x, Table) or (type(x).__name__ == "DataFrame" and type(x).__module__.startswith("pandas"))


def table_features(x: Any, what: str = "x") -> Any:
    """The feature frame of a table as users have it (DataFrame, :class:`Table` or 2-D array),
    index reset; errors name ``what``."""
    try:
        frame = _as_frame(x, None)
    except AekitError as err:
        raise AekitError(f"{what}: {err}") from None
    if len(frame) < 1:
        raise AekitError(f"{what}: expected at least one row; got none")
    return frame
