"""Preprocessing of feature vectors (rows of a table), saved with the model.

A vector sample is ``(D,)`` floats. Model space is the standardised features
``(x - mean) / std`` with the mean and standard deviation of each feature fitted on the
training split (or the raw features without ``normalize``). Unlike images there is no fixed
range: any finite value is a valid input, and outputs come back in the caller's units and
dtype.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import AekitError
from .preprocess import InputSpace, stat_tensors

KIND = "vector"


@dataclass(frozen=True)
class VectorPreprocessing:
    """Recorded vector format: the feature count and, optionally, per-feature standardisation.

    Args:
        input_shape: ``(D,)``.
        mean: per-feature mean, or ``None`` (no standardisation).
        std: per-feature standard deviation (``> 0``), or ``None``.
    """

    input_shape: tuple[int]
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    kind = KIND

    def __post_init__(self) -> None:
        if len(self.input_shape) != 1 or int(self.input_shape[0]) < 1:
            raise AekitError(f"preprocessing.input_shape: expected (D,) for vectors; got {self.input_shape!r}")
        d = int(self.input_shape[0])
        for name in ("mean", "std"):
            value = getattr(self, name)
            if value is not None and len(value) != d:
                raise AekitError(f"preprocessing.{name}: expected {d} values; got {len(value)}")
        if (self.mean is None) != (self.std is None):
            raise AekitError("preprocessing: expected both mean and std, or neither")
        if self.std is not None and min(self.std) <= 0:
            raise AekitError(f"preprocessing.std: expected positive values; got min {min(self.std)}")

    @property
    def features(self) -> int:
        return int(self.input_shape[0])

    # ----------------------------------------------------------------- construction
    @classmethod
    def fit(cls, rows: np.ndarray, *, normalize: bool = True) -> VectorPreprocessing:
        """Record the feature count of training rows (N, D) and, if asked, each feature's mean and std."""
        if rows.ndim != 2:
            raise AekitError(f"expected training rows of shape (N, D); got {rows.shape}")
        rows64 = rows.astype(np.float64)
        if not np.isfinite(rows64).all():
            bad = np.argwhere(~np.isfinite(rows64))[:5].tolist()
            raise AekitError(f"expected finite feature values; got NaN or Inf at (row, column) {bad}")
        mean = std = None
        if normalize:
            mean = tuple(float(v) for v in rows64.mean(0))
            # A constant feature gets std 1: it carries nothing, and dividing by ~0 would blow it up.
            std = tuple(float(v) if v > 1e-12 else 1.0 for v in rows64.std(0))
        return cls(input_shape=(int(rows.shape[1]),), mean=mean, std=std)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": KIND, "input_shape": list(self.input_shape),
                "mean": None if self.mean is None else list(self.mean),
                "std": None if self.std is None else list(self.std)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VectorPreprocessing:
        known = {"kind", "input_shape", "mean", "std"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise AekitError(f"preprocessing: unknown key(s) {', '.join(unknown)} for vector data")
        if "input_shape" not in data:
            raise AekitError("preprocessing: missing key input_shape")
        return cls(
            input_shape=tuple(int(s) for s in data["input_shape"]),  # type: ignore[arg-type]
            mean=None if data.get("mean") is None else tuple(float(v) for v in data["mean"]),
            std=None if data.get("std") is None else tuple(float(v) for v in data["std"]),
        )

    # ----------------------------------------------------------------- fast internal path
    def to_storage(self, rows: np.ndarray) -> torch.Tensor:
        """(N, D) rows -> the float32 tensor the trainer batches by index."""
        return torch.from_numpy(np.ascontiguousarray(rows, dtype=np.float32))

    def _stats(self, device, dtype=torch.float32):
        return stat_tensors(self.mean, self.std, (1, -1), device, dtype)

    def batch_to_model(self, batch: torch.Tensor) -> torch.Tensor:
        """Trusted (B, D) features -> model space, no validation."""
        x = batch.float()
        stats = self._stats(x.device)
        return x if stats is None else (x - stats[0]) / stats[1]

    def model_to_data(self, y: torch.Tensor) -> torch.Tensor:
        """Model space -> the features' own units, (B, D)."""
        stats = self._stats(y.device, y.dtype)
        return y if stats is None else y * stats[1] + stats[0]

    def model_range(self, device: torch.device | str | None = None) -> tuple[Any, Any]:
        """Where corruptions clip in model space: nowhere, features have no fixed range."""
        return (float("-inf"), float("inf"))

    # ----------------------------------------------------------------- user-facing path
    def describe_input(self) -> str:
        return f"rows of {self.features} features"

    def to_model(self, rows: Any, device: torch.device | str | None = None) -> tuple[torch.Tensor, InputSpace]:
        """Rows as users have them ((N, D) or one (D,), NumPy or torch, any float or int dtype) ->
        model-space (N, D) tensor and how to give outputs back."""
        is_torch = isinstance(rows, torch.Tensor)
        if not is_torch:
            rows = np.asarray(rows)
            if rows.dtype == object or not (np.issubdtype(rows.dtype, np.number) or rows.dtype == bool):
                raise AekitError(f"expected numeric features; got an array of dtype {rows.dtype}")
        shape = tuple(int(s) for s in rows.shape)
        if len(shape) == 1 and shape[0] == self.features:
            batched = False
        elif len(shape) == 2 and shape[1] == self.features:
            batched = True
        else:
            raise AekitError(f"this model expects {self.describe_input()}: shape (N, {self.features}) or "
                             f"({self.features},); got an array of shape {shape}")
        if batched and shape[0] == 0:
            raise AekitError("expected at least one row; got an empty batch")
        t = rows if is_torch else torch.from_numpy(np.ascontiguousarray(rows))
        float_dtype = t.dtype if t.is_floating_point() else torch.float32
        t = t.float()
        if not bool(torch.isfinite(t).all()):
            raise AekitError("expected finite feature values; got NaN or Inf in the input")
        if not batched:
            t = t.unsqueeze(0)
        if device is not None:
            t = t.to(device)
        return self.batch_to_model(t.contiguous()), InputSpace(is_torch, False, float_dtype, "flat", batched)

    def output_space(self, *, is_torch: bool, batched: bool, as_float: bool = True) -> InputSpace:
        """How :meth:`from_model` returns decoded codes: float32 rows."""
        return InputSpace(is_torch, False, torch.float32, "flat", batched)

    def from_model(self, y: torch.Tensor, space: InputSpace) -> Any:
        """Model-space output (N, D) -> the caller's space (dtype, array type, batched or not)."""
        out = self.model_to_data(y.detach().float())
        if not space.batched:
            out = out[0]
        out = out.to(space.float_dtype or torch.float32).cpu().contiguous()
        return out if space.is_torch else out.numpy()
