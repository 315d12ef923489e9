"""Corruptions: noise added to a clean batch, for denoising training and for demos.

A corruption is written as a short spec string, ``name:param[:param]``, and a list of them is
applied in order (Gaussian then masking is ``("gaussian:0.3", "masking:0.2")``):

==========================  ==============================================================
``gaussian:SIGMA``          add N(0, SIGMA²) to every value
``salt_pepper:AMOUNT[:R]``  set a share AMOUNT of pixels to the maximum (salt, a share R of
                            them, default 0.5) or the minimum (pepper)
``masking:FRACTION``        set a share FRACTION of pixels to 0 (Vincent et al. 2008)
``blocks:SIZE[:COUNT]``     set COUNT (default 1) random SIZE x SIZE squares to 0, for
                            inpainting; SIZE may be a range ``MIN-MAX`` drawn per block
``speckle:SIGMA``           multiplicative noise: x + x * N(0, SIGMA²)
==========================  ==============================================================

Noise levels are in intensity units (pixels scaled to [0, 1]), whatever the model's
normalisation; results are clipped to the data range. Salt-and-pepper, masking and blocks act
on whole pixels (every channel of a chosen pixel). All randomness comes from the
``torch.Generator`` passed in, so a seeded generator gives the same noise, and the training
loop's generator gives fresh noise every batch while the clean batch stays the target.

Each corruption is one function registered with :func:`register_corruption` (in
:data:`aekit.registry.CORRUPTIONS`): its name, how its parameters parse, the tensor operation
and how the web viewer offers it. Config validation, ``aekit train --help`` and the viewer's
keys all read that registry, so a corruption registered from outside aekit works by name.

Reference: P. Vincent, H. Larochelle, Y. Bengio, P.-A. Manzagol, "Extracting and composing
robust features with denoising autoencoders", ICML 2008.

Example::

    chain = parse_corruptions(["gaussian:0.5"])
    noisy = chain(x, torch.Generator().manual_seed(0))          # model-space batch, same shape
    noisy_u8 = corrupt_images(images_u8, "salt_pepper:0.3", seed=1)  # images as users have them
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import AekitError
from ..registry import CORRUPTIONS

Range = tuple[Any, Any]  # (low, high): floats, or (1, C, 1, 1) tensors for per-channel ranges


@dataclass(frozen=True)
class Corruption:
    """One corruption with its parameters; call it on unit-range batches (values in [0, 1])."""

    name: str
    level: float
    extra: float | None = None
    size_max: int | None = None  # blocks: the top of a MIN-MAX size range

    @property
    def spec(self) -> str:
        """The spec string this corruption parses from (``parse_corruption(c.spec) == c``)."""
        def num(v: float) -> str:
            return str(int(v)) if float(v).is_integer() else repr(float(v))
        first = num(self.level) if self.size_max is None else f"{num(self.level)}-{self.size_max}"
        return f"{self.name}:{first}" + (f":{num(self.extra)}" if self.extra is not None else "")

    def apply_unit(self, u: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Corrupt ``u`` (B, C, H, W) with values in [0, 1]; returns a new tensor in [0, 1]."""
        return CORRUPTIONS.get(self.name).apply(u, self, generator)

    def block_mask(self, shape: Sequence[int], generator: torch.Generator | None = None,
                   device: torch.device | str | None = None) -> torch.Tensor:
        """(B, 1, H, W) boolean mask of ``COUNT`` random squares per image (True = occluded)."""
        if self.name != "blocks":
            raise AekitError(f"block_mask: expected a blocks corruption; got {self.spec}")
        b, _, h, w = (int(s) for s in shape)
        count = int(self.extra or 1)
        lo = int(self.level)
        hi = int(self.size_max if self.size_max is not None else lo)
        sizes = torch.randint(lo, hi + 1, (b, count), generator=generator, device=device)
        sizes_h, sizes_w = sizes.clamp(max=h), sizes.clamp(max=w)
        # top-left corners uniform over the positions where the whole block fits
        y0 = (torch.rand((b, count), generator=generator, device=device) * (h - sizes_h + 1)).floor()
        x0 = (torch.rand((b, count), generator=generator, device=device) * (w - sizes_w + 1)).floor()
        yy = torch.arange(h, device=device).view(1, 1, h, 1)
        xx = torch.arange(w, device=device).view(1, 1, 1, w)
        y0, x0 = y0[..., None, None], x0[..., None, None]
        inside = ((yy >= y0) & (yy < y0 + sizes_h[..., None, None])
                  & (xx >= x0) & (xx < x0 + sizes_w[..., None, None]))  # (B, count, H, W)
        return inside.any(dim=1, keepdim=True)


# --------------------------------------------------------------------------- the registry entry
Apply = Callable[[torch.Tensor, Corruption, "torch.Generator | None"], torch.Tensor]
Parse = Callable[[str, list[str]], Corruption]


@dataclass(frozen=True)
class Bounds:
    """The values a parameter may take, worded for the error message.

    ``Bounds("a noise level SIGMA", 0)`` reads "expected a noise level SIGMA ≥ 0";
    ``Bounds("a share of pixels", 0, 1)`` reads "expected a share of pixels in [0, 1]".
    """

    what: str
    low: float
    high: float | None = None

    def check(self, spec: str, value: float) -> None:
        if value < self.low or (self.high is not None and value > self.high):
            where = f"≥ {self.low:g}" if self.high is None else f"in [{self.low:g}, {self.high:g}]"
            raise AekitError(f"corruption {spec!r}: expected {self.what} {where}, got {value}")


@dataclass(frozen=True)
class CorruptionKind:
    """A registered corruption: how its spec parses, what it does, how the web viewer offers it.

    Attributes:
        name: the spec's first word (``gaussian`` in ``gaussian:0.5``).
        apply: ``apply(u, c, generator)``: corrupt a (B, C, H, W) batch ``u`` in [0, 1] with the
            parameters of ``c`` (a :class:`Corruption`), drawing only from ``generator``;
            returns a new tensor in [0, 1].
        usage: the spec's form for help texts and errors, e.g. ``gaussian:SIGMA``.
        parse: ``parse(spec, params) -> Corruption`` from the ``:``-separated parameters.
        key: the viewer's key for it (``None``: not offered in the viewer).
        label: the viewer's name for it.
        strength: the viewer's parameter step per key press (``{strength}`` in ``viewer_spec``).
        max_strength: where the viewer's parameter stops growing.
        viewer_spec: the spec the viewer sends after ``level`` presses, with ``{strength}``
            (``min(strength * level, max_strength)``, 2 decimals), ``{level}`` (the presses) and
            ``{size}`` (a quarter of the image height, at least 2 pixels) filled in.
        unbounded: the same corruption on data with no fixed range (standardised features of
            vectors), applied in model space without clipping; ``None``: images only.
    """

    name: str
    apply: Apply
    usage: str
    parse: Parse
    key: str | None = None
    label: str = ""
    strength: float = 0.1
    max_strength: float = 1.0
    viewer_spec: str = "{name}:{strength}"
    unbounded: Apply | None = None


def register_corruption(name: str, *, usage: str | None = None, level: Bounds | None = None,
                        extra: Bounds | bool | None = None, parse: Parse | None = None, key: str | None = None,
                        label: str | None = None, strength: float = 0.1, max_strength: float = 1.0,
                        viewer_spec: str = "{name}:{strength}",
                        unbounded: Apply | None = None) -> Callable[[Apply], Apply]:
    """Register ``apply(u, c, generator)`` as the corruption ``name``; the function is returned unchanged.

    By default a spec is ``name:LEVEL`` (``name:LEVEL[:EXTRA]`` with ``extra``), both numbers,
    checked against the given :class:`Bounds` (``extra=True``: any number); pass ``parse`` for
    other forms. Example, from outside aekit::

        @register_corruption("dropout_rows", level=Bounds("a share of rows", 0, 1), key="d")
        def dropout_rows(u, c, generator):
            rows = torch.rand(u.shape[0], 1, u.shape[2], 1, generator=generator) < c.level
            return u.masked_fill(rows, 0.0)

        aekit.fit(images, preset="denoising", corruption=("dropout_rows:0.2",))

    See :class:`CorruptionKind` for the viewer's arguments.
    """
    def add(apply: Apply) -> Apply:
        parser = parse or (lambda spec, params: _parse_level(spec, params, name, level, extra))
        form = usage or (f"{name}:LEVEL" + ("[:EXTRA]" if extra else ""))
        CORRUPTIONS.register(name, CorruptionKind(name, apply, form, parser, key, label or name.replace("_", " "),
                                                  strength, max_strength, viewer_spec, unbounded))
        return apply
    return add


def usage() -> str:
    """Every registered corruption's spec form, for help texts and errors."""
    return ", ".join(kind.usage for kind in CORRUPTIONS.values())


def _number(text: str, spec: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise AekitError(f"corruption {spec!r}: expected a number, got {text!r}; valid: {usage()}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise AekitError(f"corruption {spec!r}: expected a finite number, got {text!r}")
    return value


def _check_count(spec: str, params: list[str], allowed: int) -> None:
    if not 1 <= len(params) <= allowed:
        raise AekitError(f"corruption {spec!r}: expected {allowed if allowed == 1 else '1 or 2'} "
                         f"parameter(s) after the name; valid: {usage()}")


def _parse_level(spec: str, params: list[str], name: str, level: Bounds | None,
                 extra: Bounds | bool | None) -> Corruption:
    """``name:LEVEL[:EXTRA]``: one number, and a second one when ``extra`` allows it."""
    _check_count(spec, params, 2 if extra else 1)
    second = _number(params[1], spec) if len(params) == 2 else None
    first = _number(params[0], spec)
    if level is not None:
        level.check(spec, first)
    if isinstance(extra, Bounds) and second is not None:
        extra.check(spec, second)
    return Corruption(name, first, second)


def parse_corruption(spec: str) -> Corruption:
    """Parse one spec string (``"gaussian:0.5"``, ``"salt_pepper:0.3:0.5"``, ``"blocks:6-14:2"``).

    Raises:
        AekitError: unknown name, wrong parameter count or a value out of range.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise AekitError(f"expected a corruption spec such as 'gaussian:0.5'; got {spec!r}; valid: {usage()}")
    name, *params = [p.strip() for p in spec.strip().split(":")]
    name = name.lower().replace("-", "_")
    if name not in CORRUPTIONS:
        raise AekitError(f"unknown corruption {spec!r}; valid: {usage()}")
    return CORRUPTIONS.get(name).parse(spec, params)


# --------------------------------------------------------------------------- the built-in corruptions
def _uniform(shape: tuple[int, ...], x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.rand(shape, generator=generator, device=x.device, dtype=x.dtype)


def _pixel_mask(x: torch.Tensor, share: float, generator: torch.Generator | None) -> torch.Tensor:
    """(B, 1, H, W) boolean mask choosing each pixel with probability ``share``."""
    b, _, h, w = x.shape
    return _uniform((b, 1, h, w), x, generator) < share


SHARE = Bounds("a share of pixels", 0, 1)


def _gaussian_unbounded(x: torch.Tensor, c: Corruption, generator: torch.Generator | None) -> torch.Tensor:
    """Add N(0, SIGMA²) in model space: SIGMA standard deviations of each standardised feature."""
    return x + c.level * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)


def _masking_unbounded(x: torch.Tensor, c: Corruption, generator: torch.Generator | None) -> torch.Tensor:
    """Set a share FRACTION of the values to 0: each masked feature to its training mean."""
    return x.masked_fill(_uniform(x.shape, x, generator) < c.level, 0.0)


def _speckle_unbounded(x: torch.Tensor, c: Corruption, generator: torch.Generator | None) -> torch.Tensor:
    return x + x * c.level * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)


@register_corruption("gaussian", usage="gaussian:SIGMA", level=Bounds("a noise level SIGMA", 0), key="g",
                     strength=0.1, max_strength=2.0, unbounded=_gaussian_unbounded)
def additive_gaussian(u: torch.Tensor, c: Corruption, generator: torch.Generator | None) -> torch.Tensor:
    """Add N(0, SIGMA²) to every value."""
    noise = torch.randn(u.shape, generator=generator, device=u.device, dtype=u.dtype)
    return (u + c.level * noise).clamp_(0.0, 1.0)


@register_corruption("salt_pepper", usage="salt_pepper:AMOUNT[:SALT_RATIO]", level=SHARE,
                     extra=Bounds("a salt ratio", 0, 1), key="s", label="salt & pepper", strength=0.06)
def salt_and_pepper(u: torch.Tensor, c: Corruption, generator: torch.Generator | None) -> torch.Tensor:
    """Set a share AMOUNT of pixels to 1 (salt, a share SALT_RATIO of them, default ½) or 0 (pepper)."""
    hit = _pixel_mask(u, c.level, generator)
    salt = _uniform(hit.shape, u, generator) < (0.5 if c.extra is None else c.extra)
    out = torch.where(hit & salt, torch.ones_like(u), u)
    return torch.where(hit & ~salt, torch.zeros_like(u), out)


@register_corruption("masking", usage="masking:FRACTION", level=SHARE, key="m", strength=0.1,
                     unbounded=_masking_unbounded)
def masking(u: torch.Tensor, c: Corruption, generator: torch.Generator | None) -> torch.Tensor:
    """Set a share FRACTION of pixels to 0 (Vincent et al. 2008)."""
    return u.masked_fill(_pixel_mask(u, c.level, generator), 0.0)


def _parse_blocks(spec: str, params: list[str]) -> Corruption:
    """``blocks:SIZE[:COUNT]`` with SIZE a whole number of pixels or a range ``MIN-MAX``."""
    _check_count(spec, params, 2)
    extra = _number(params[1], spec) if len(params) == 2 else None
    low, _, high = params[0].partition("-")
    size, size_max = _number(low, spec), (_number(high, spec) if high else None)
    if not size.is_integer() or size < 1 or (size_max is not None and (not size_max.is_integer()
                                                                       or size_max < size)):
        raise AekitError(f"corruption {spec!r}: expected a block size in pixels ≥ 1 (or MIN-MAX with "
                         f"MIN ≤ MAX), got {params[0]!r}")
    if extra is not None and (not extra.is_integer() or extra < 1):
        raise AekitError(f"corruption {spec!r}: expected a whole number of blocks ≥ 1, got {params[1]!r}")
    return Corruption("blocks", size, extra, None if size_max is None else int(size_max))


@register_corruption("blocks", usage="blocks:SIZE[:COUNT] (SIZE may be MIN-MAX)", parse=_parse_blocks, key="b",
                     viewer_spec="blocks:{size}:{level}")
def blocks(u: torch.Tensor, c: Corruption, generator: torch.Generator | None) -> torch.Tensor:
    """Set COUNT random SIZE x SIZE squares to 0, for inpainting (see :meth:`Corruption.block_mask`)."""
    return u.masked_fill(c.block_mask(u.shape, generator, u.device), 0.0)


@register_corruption("speckle", usage="speckle:SIGMA", level=Bounds("a noise level SIGMA", 0),
                     unbounded=_speckle_unbounded)
def speckle(u: torch.Tensor, c: Corruption, generator: torch.Generator | None) -> torch.Tensor:
    """Multiplicative noise: x + x * N(0, SIGMA²)."""
    noise = torch.randn(u.shape, generator=generator, device=u.device, dtype=u.dtype)
    return (u + u * c.level * noise).clamp_(0.0, 1.0)


class CorruptionChain:
    """Corruptions applied in order to model-space batches, clipped to the data range.

    Args:
        corruptions: what to apply, in order.
        data_range: ``(low, high)`` of model space: ``(0, 1)`` for plain intensities, or the
            per-channel images of 0 and 1 under the recorded normalisation (see
            :func:`model_space_range`), or ``(-inf, inf)`` for data with no fixed range (standardised
            vectors), which is corrupted in model space itself. Noise levels are relative to the range.
    """

    def __init__(self, corruptions: Sequence[Corruption], data_range: Range = (0.0, 1.0)):
        self.corruptions = tuple(corruptions)
        self.data_range = data_range
        # Data with no fixed range (standardised vectors): corrupt model space itself, unclipped.
        self.unbounded = all(isinstance(v, float) for v in data_range) and data_range == (-math.inf, math.inf)
        if self.unbounded:
            images_only = [c.spec for c in self.corruptions if CORRUPTIONS.get(c.name).unbounded is None]
            if images_only:
                takes = [k.name for k in CORRUPTIONS.values() if k.unbounded is not None]
                raise AekitError(f"corruption {', '.join(images_only)} works on images only (intensities in [0, 1]); "
                                 f"for data with no fixed range such as table features use {', '.join(takes)}")

    @property
    def specs(self) -> tuple[str, ...]:
        return tuple(c.spec for c in self.corruptions)

    def __bool__(self) -> bool:
        return bool(self.corruptions)

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Corrupt a (B, C, H, W) model-space batch; returns a new tensor (``x`` is untouched)."""
        if not self.corruptions:
            return x
        if self.unbounded:
            out = x.detach()
            for corruption in self.corruptions:
                out = CORRUPTIONS.get(corruption.name).unbounded(out, corruption, generator)
            return out
        low, high = self.data_range
        plain = isinstance(low, float | int) and isinstance(high, float | int) and (low, high) == (0, 1)
        u = x.detach() if plain else (x.detach() - low) / (high - low)
        for corruption in self.corruptions:
            u = corruption.apply_unit(u, generator)
        return u if plain else u * (high - low) + low

    def __repr__(self) -> str:
        return f"CorruptionChain({', '.join(self.specs) or 'none'})"


def parse_corruptions(specs: str | Sequence[str], data_range: Range = (0.0, 1.0)) -> CorruptionChain:
    """A chain from spec strings: a sequence, or one string joined by ``+`` or ``,``."""
    if isinstance(specs, str):
        specs = [s for s in specs.replace("+", ",").split(",") if s.strip()]
    return CorruptionChain([parse_corruption(s) for s in specs], data_range)


def model_space_range(preprocessing: Any, device: torch.device | str | None = None) -> Range:
    """Where corruptions clip in model space: the preprocessing's own ``model_range`` (for images,
    where intensities 0 and 1 land; for standardised vectors, nowhere)."""
    return preprocessing.model_range(device)


def corrupt_images(images: Any, specs: str | Sequence[str], *, seed: int | None = 0,
                   generator: torch.Generator | None = None) -> Any:
    """Corrupt images as users have them; same dtype, layout and array type come back.

    Args:
        images: a NumPy array or torch tensor of uint8 pixels or floats in [0, 1], any layout
            (one image or a batch; channel-last or channel-first; 2-D grayscale).
        specs: corruption spec(s), e.g. ``"gaussian:0.5"`` or ``["gaussian:0.3", "masking:0.2"]``.
        seed: seeds the noise (ignored when ``generator`` is given; ``None``: unseeded).
        generator: a torch generator to draw from (e.g. one per web session).

    Example:
        >>> noisy = corrupt_images(digits_uint8, "salt_pepper:0.3", seed=1)   # uint8 in, uint8 out
    """
    import numpy as np

    chain = parse_corruptions(specs)
    is_torch = isinstance(images, torch.Tensor)
    t = images if is_torch else torch.from_numpy(np.ascontiguousarray(np.asarray(images)))
    if t.dtype != torch.uint8 and not t.is_floating_point():
        raise AekitError(f"expected uint8 pixels or floats in [0, 1]; got dtype {t.dtype}")
    unit = t.float().div(255.0) if t.dtype == torch.uint8 else t.float()
    if t.is_floating_point() and (not bool(torch.isfinite(unit).all()) or unit.numel() and
                                  (float(unit.min()) < 0 or float(unit.max()) > 1)):
        raise AekitError("expected float pixels in [0, 1] (or uint8); got values outside it or NaN")
    bchw, restore = _as_bchw(unit, channels_last=not is_torch)
    if generator is None:
        generator = torch.Generator()
        if seed is None:
            generator.seed()
        else:
            generator.manual_seed(int(seed))
    out = restore(chain(bchw.contiguous(), generator))
    out = out.mul(255.0).round().to(torch.uint8) if t.dtype == torch.uint8 else out.to(t.dtype)
    out = out.contiguous()
    return out if is_torch else out.numpy()


def _as_bchw(unit: torch.Tensor, *, channels_last: bool):
    """View images as (B, C, H, W) plus the function that undoes it.

    NumPy arrays are read channel-last when their last axis is 1 or 3 (else a 3-D array is a
    batch of grayscale images), torch tensors channel-first when that axis is 1 or 3; the
    channel axis matters because salt-and-pepper and masking pick whole pixels.
    """
    shape = tuple(unit.shape)
    last = shape[-1] in (1, 3) if unit.ndim >= 3 else False
    if unit.ndim == 2:  # (H, W)
        return unit[None, None], lambda y: y[0, 0]
    if unit.ndim == 3 and (last if channels_last else shape[0] not in (1, 3) and last):  # (H, W, C)
        return unit.permute(2, 0, 1)[None], lambda y: y[0].permute(1, 2, 0)
    if unit.ndim == 3 and not channels_last and shape[0] in (1, 3):  # (C, H, W)
        return unit[None], lambda y: y[0]
    if unit.ndim == 3:  # (N, H, W)
        return unit[:, None], lambda y: y[:, 0]
    if unit.ndim == 4 and last and (channels_last or shape[1] not in (1, 3)):  # (N, H, W, C)
        return unit.permute(0, 3, 1, 2), lambda y: y.permute(0, 2, 3, 1)
    if unit.ndim == 4:  # (N, C, H, W)
        return unit, lambda y: y
    raise AekitError(f"expected images of shape (H, W), (H, W, C), (N, H, W) or (N, H, W, C); got {shape}")
