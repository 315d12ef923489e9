"""Preprocessing that travels with the model.

A saved model records how training turned pixels into tensors: the input shape, the channel
order, the scaling of uint8 pixels (``/255``) and, optionally, per-channel standardisation.
Every inference path goes through :meth:`Preprocessing.to_model`, so a model never sees inputs
scaled differently from training, and :meth:`Preprocessing.from_model` hands outputs back in the
space the caller used (uint8 in -> uint8 out, float in -> float out, same layout).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from ..errors import AekitError

UINT8_SCALE = 255.0


@dataclass(frozen=True)
class InputSpace:
    """How the caller's input looked, so outputs can be returned the same way."""

    is_torch: bool
    is_uint8: bool
    float_dtype: Any
    layout: str  # "chw", "hwc", "hw" or "flat" (per sample)
    batched: bool


def stat_tensors(mean: tuple[float, ...] | None, std: tuple[float, ...] | None, shape: tuple[int, ...],
                 device: Any, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Recorded per-channel (or per-feature) ``mean`` and ``std`` as tensors of ``shape`` (``-1``
    on the channel axis) on ``device``; ``None`` when the data is not standardised."""
    if mean is None or std is None:
        return None
    return (torch.tensor(mean, device=device, dtype=dtype).view(shape),
            torch.tensor(std, device=device, dtype=dtype).view(shape))


@dataclass(frozen=True)
class Preprocessing:
    """Recorded input format: shape, channel order, scaling and optional normalisation.

    Model space is ``(pixels / 255 - mean) / std`` for uint8 pixels (``pixels - mean) / std`` for
    floats in [0, 1]); without normalisation, ``mean`` and ``std`` are ``None`` and model space is
    simply intensities in [0, 1].

    Args:
        input_shape: ``(C, H, W)`` the model was trained on.
        channel_order: ``"L"`` (grayscale) or ``"RGB"``.
        mean: per-channel mean in [0, 1] units, or ``None``.
        std: per-channel standard deviation in [0, 1] units, or ``None``.
    """

    input_shape: tuple[int, int, int]
    channel_order: str = "L"
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    uint8_scale: float = UINT8_SCALE

    def __post_init__(self) -> None:
        c = self.input_shape[0]
        expected_order = {1: "L", 3: "RGB"}.get(c)
        if self.channel_order != expected_order and not (c not in (1, 3) and self.channel_order == "raw"):
            raise AekitError(
                f"preprocessing: channel_order {self.channel_order!r} does not fit {c} channels "
                f"(expected {expected_order or 'raw'})"
            )
        for name in ("mean", "std"):
            value = getattr(self, name)
            if value is not None and len(value) != c:
                raise AekitError(f"preprocessing.{name}: expected {c} values; got {len(value)}")
        if self.std is not None and min(self.std) <= 0:
            raise AekitError(f"preprocessing.std: expected positive values; got {self.std}")

    # ----------------------------------------------------------------- construction
    @classmethod
    def fit(cls, images: np.ndarray, *, normalize: bool = False) -> Preprocessing:
        """Record the format of training images (N, H, W, C) and, if asked, their channel stats."""
        if images.ndim != 4:
            raise AekitError(f"expected training images of shape (N, H, W, C); got {images.shape}")
        n, h, w, c = images.shape
        order = {1: "L", 3: "RGB"}.get(c, "raw")
        mean = std = None
        if normalize:
            scale = UINT8_SCALE if images.dtype == np.uint8 else 1.0
            # Accumulate in float64 over chunks: exact enough and bounded memory on big sets.
            total = np.zeros(c)
            total_sq = np.zeros(c)
            for start in range(0, n, 4096):
                chunk = images[start:start + 4096].astype(np.float64) / scale
                total += chunk.sum(axis=(0, 1, 2))
                total_sq += (chunk ** 2).sum(axis=(0, 1, 2))
            count = n * h * w
            mean_arr = total / count
            std_arr = np.sqrt(np.maximum(total_sq / count - mean_arr ** 2, 1e-12))
            mean = tuple(float(v) for v in mean_arr)
            std = tuple(float(max(v, 1e-3)) for v in std_arr)
        return cls(input_shape=(c, h, w), channel_order=order, mean=mean, std=std)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocessing:
        known = {"input_shape", "channel_order", "mean", "std", "uint8_scale"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise AekitError(f"preprocessing: unknown key(s) {', '.join(unknown)}")
        if "input_shape" not in data:
            raise AekitError("preprocessing: missing key input_shape")
        return cls(
            input_shape=tuple(int(s) for s in data["input_shape"]),  # type: ignore[arg-type]
            channel_order=data.get("channel_order", "L"),
            mean=None if data.get("mean") is None else tuple(float(v) for v in data["mean"]),
            std=None if data.get("std") is None else tuple(float(v) for v in data["std"]),
            uint8_scale=float(data.get("uint8_scale", UINT8_SCALE)),
        )

    kind = "image"

    # ----------------------------------------------------------------- fast internal path
    def to_storage(self, images: np.ndarray) -> torch.Tensor:
        """(N, H, W, C) images -> the (N, C, H, W) tensor of the same dtype the trainer batches by index."""
        return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous()

    def model_range(self, device: torch.device | str | None = None) -> tuple[Any, Any]:
        """Where intensities 0 and 1 land in model space (corruptions clip there)."""
        stats = self._stats(device)
        if stats is None:
            return (0.0, 1.0)
        return (-stats[0] / stats[1], (1.0 - stats[0]) / stats[1])

    def output_space(self, *, is_torch: bool, batched: bool, as_float: bool = False) -> InputSpace:
        """How :meth:`from_model` returns decoded codes: (N, H, W, C), uint8 unless ``as_float``."""
        return InputSpace(is_torch, not as_float, torch.float32, "hwc", batched)

    def _stats(self, device, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor] | None:
        return stat_tensors(self.mean, self.std, (1, -1, 1, 1), device, dtype)

    def batch_to_model(self, batch: torch.Tensor) -> torch.Tensor:
        """Trusted (B, C, H, W) uint8 or [0, 1] float tensor -> model space, no validation."""
        x = batch.float().div_(self.uint8_scale) if batch.dtype == torch.uint8 else batch.float()
        stats = self._stats(x.device)
        if stats is not None:
            x = (x - stats[0]) / stats[1]
        return x

    def model_to_unit(self, y: torch.Tensor) -> torch.Tensor:
        """Model space -> intensities in [0, 1] (clamped), (B, C, H, W)."""
        stats = self._stats(y.device, y.dtype)
        if stats is not None:
            y = y * stats[1] + stats[0]
        return y.clamp(0.0, 1.0)

    # ----------------------------------------------------------------- user-facing path
    def layouts_text(self) -> str:
        c, h, w = self.input_shape
        options = [f"({h}, {w}, {c})", f"({c}, {h}, {w})"]
        if c == 1:
            options.insert(0, f"({h}, {w})")
        options.append(f"flat ({c * h * w},)")
        return ", ".join(options)

    def _layout(self, shape: tuple[int, ...], prefer_channels_last: bool) -> tuple[str, bool] | None:
        c, h, w = self.input_shape
        per_sample = {"chw": (c, h, w), "hwc": (h, w, c), "flat": (c * h * w,)}
        if c == 1:
            per_sample["hw"] = (h, w)
        order = ["hwc", "hw", "chw", "flat"] if prefer_channels_last else ["chw", "hw", "hwc", "flat"]
        for layout in order:
            if layout not in per_sample:
                continue
            want = per_sample[layout]
            if shape == want:
                return layout, False
            if len(shape) == len(want) + 1 and shape[1:] == want:
                return layout, True
        return None

    def describe_input(self) -> str:
        c, h, w = self.input_shape
        kind = {"L": "grayscale", "RGB": "RGB"}.get(self.channel_order, f"{c}-channel")
        return f"{h}x{w} {kind} images"

    def to_model(self, images: Any, device: torch.device | str | None = None) -> tuple[torch.Tensor, InputSpace]:
        """Images as users have them -> model-space tensor (N, C, H, W) and how to give them back.

        Accepts NumPy arrays or torch tensors, one image or a batch, uint8 pixels (0..255) or
        floats already in [0, 1], channel-last (NumPy's habit), channel-first (torch's habit),
        2-D grayscale or flat vectors. Anything else raises :class:`AekitError` that names what
        was expected and what was received.
        """
        is_torch = isinstance(images, torch.Tensor)
        if not is_torch:
            if isinstance(images, list | tuple):
                images = np.stack([np.asarray(im) for im in images])
            images = np.asarray(images)
        dtype = images.dtype
        shape = tuple(int(s) for s in images.shape)
        if shape and shape[0] == 0:
            raise AekitError("expected at least one image; got an empty batch")
        found = self._layout(shape, prefer_channels_last=not is_torch)
        if found is None:
            raise AekitError(
                f"this model expects {self.describe_input()}: shape {self.layouts_text()} per image, "
                f"optionally with a leading batch dimension; got an array of shape {shape}"
            )
        layout, batched = found
        t = images if is_torch else torch.from_numpy(np.ascontiguousarray(images))
        if t.dtype == torch.uint8:
            is_uint8, float_dtype = True, None
        elif t.is_floating_point():
            is_uint8, float_dtype = False, t.dtype
            tf = t.float()
            if not bool(torch.isfinite(tf).all()):
                raise AekitError("expected finite pixel values; got NaN or Inf in the input")
            lo, hi = float(tf.min()), float(tf.max())
            if lo < -1e-6 or hi > 1 + 1e-6:
                raise AekitError(
                    "expected uint8 pixels (0..255) or floats in [0, 1]; "
                    f"got {str(dtype).replace('torch.', '')} values in [{lo:.4g}, {hi:.4g}]"
                    + ("; divide by 255 first" if hi <= 255 and lo >= 0 else "")
                )
        else:
            raise AekitError(
                f"expected uint8 pixels (0..255) or floats in [0, 1]; got dtype {str(dtype).replace('torch.', '')}"
                + ("; cast to uint8 first" if "int" in str(dtype) else "")
            )
        if not batched:
            t = t.unsqueeze(0)
        c, h, w = self.input_shape
        if layout == "hwc":
            t = t.permute(0, 3, 1, 2)
        elif layout in ("hw", "flat"):
            t = t.reshape(t.shape[0], c, h, w)
        if device is not None:
            t = t.to(device)
        space = InputSpace(is_torch, is_uint8, float_dtype, layout, batched)
        return self.batch_to_model(t.contiguous()), space

    def from_model(self, y: torch.Tensor, space: InputSpace) -> Any:
        """Model-space output (N, C, H, W) -> the caller's space (dtype, layout, array type)."""
        unit = self.model_to_unit(y.detach().float())
        if space.layout == "hwc":
            unit = unit.permute(0, 2, 3, 1)
        elif space.layout == "hw":
            unit = unit[:, 0]
        elif space.layout == "flat":
            unit = unit.reshape(unit.shape[0], -1)
        if not space.batched:
            unit = unit[0]
        if space.is_uint8:
            out = unit.mul(self.uint8_scale).round_().to(torch.uint8)
        else:
            out = unit.to(space.float_dtype)
        out = out.cpu().contiguous()
        return out if space.is_torch else out.numpy()
