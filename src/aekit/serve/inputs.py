"""What a request may carry, and turning it into arrays: limits, PNG decoding, JSON arrays, options.

Everything here runs on untrusted bytes, so each step checks before it spends: the body size
before reading it all, a PNG's header (width x height) before decoding its pixels, a JSON
array's element type and count before handing it to the model. Each failure is a
:class:`RequestError` carrying the HTTP status and a message of the form "expected X, got Y".
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from ..viz.grids import PNG_SIGNATURE


class RequestError(Exception):
    """A bad request: answered with ``status`` (4xx) and ``message``, never a traceback."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Limits:
    """What one request may ask for.

    Args:
        max_body_bytes: largest request body (uploads and JSON alike).
        max_side: largest width or height of an uploaded image, checked from its header.
        max_batch: most images (or codes) in one request, and most generated / listed images.
        max_steps: most images in an interpolation.
        max_iterations: most inpainting passes.
        timeout_s: longest time to read a request body, and to run its inference.
        workers: inferences run at the same time (in a thread pool, off the event loop).
    """

    max_body_bytes: int = 4 << 20
    max_side: int = 1024
    max_batch: int = 256
    max_steps: int = 64
    max_iterations: int = 10
    timeout_s: float = 30.0
    workers: int = 4


@dataclass
class Payload:
    """A request after reading its body: JSON, uploaded files (PNGs) plus form fields, or raw bytes."""

    content_type: str
    json_body: bytes | None = None
    files: list[tuple[str, bytes]] = field(default_factory=list)  # (file or field name, bytes)
    fields: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None  # an application/octet-stream body


# --------------------------------------------------------------------- images
def decode_png(data: bytes, channels: int, limits: Limits, what: str = "the upload") -> np.ndarray:
    """PNG bytes -> (H, W, C) uint8 in the model's colour mode (``L`` or ``RGB``).

    Colour and alpha are converted the way PIL converts modes (canvas exports are RGBA); the
    size is checked from the header before any pixel is decoded.
    """
    if not data.startswith(PNG_SIGNATURE):
        head = data[:8]
        raise RequestError(415, f"expected a PNG image in {what} (starting with the PNG signature); "
                                f"got {len(data)} bytes starting with {head!r}")
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as im:
            width, height = im.size
            if width < 1 or height < 1 or max(width, height) > limits.max_side:
                raise RequestError(413, f"expected an image of at most {limits.max_side}x{limits.max_side} "
                                        f"pixels in {what}; got {width}x{height}")
            mode = "L" if channels == 1 else "RGB"
            pixels = np.asarray(im if im.mode == mode else im.convert(mode))
    except RequestError:
        raise
    except Exception as err:  # PIL raises many types on corrupt data; all mean the same to the client
        raise RequestError(400, f"could not decode {what} as a PNG ({type(err).__name__}: {err})") from None
    return pixels[..., None] if pixels.ndim == 2 else pixels


def parse_json(body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    try:
        data = json.loads(body)
    except RecursionError:
        raise RequestError(400, "expected a JSON object; got JSON nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise RequestError(400, f"expected a JSON object; the body is not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise RequestError(400, f"expected a JSON object such as {{\"images\": [...]}}; got {type(data).__name__}")
    return data


def json_array(value: Any, name: str, *, integers_are_pixels: bool = True) -> np.ndarray:
    """A nested JSON list -> a NumPy array: integers 0..255 as uint8 pixels, else float32.

    Integers mean 0..255 pixels, so write intensities in [0, 1] with a decimal point (``0.0``).
    """
    if not isinstance(value, list):
        raise RequestError(422, f"expected '{name}' to be a (nested) JSON array of numbers; got {type(value).__name__}")
    try:
        array = np.asarray(value)
    except (ValueError, TypeError, OverflowError, RecursionError):
        raise RequestError(422, f"expected '{name}' to be a rectangular array of numbers; got ragged or "
                                "mixed nested lists") from None
    if array.size == 0:
        raise RequestError(422, f"expected '{name}' to hold at least one value; got an empty array")
    if array.dtype == bool and not integers_are_pixels:  # a mask may be true / false
        return array.astype(np.float32)
    if array.dtype == bool or array.dtype.kind not in "iuf":
        raise RequestError(422, f"expected '{name}' to hold numbers; got {array.dtype.kind!r} values "
                                f"({'booleans' if array.dtype == bool else 'strings or nulls'})")
    if array.dtype.kind in "iu" and integers_are_pixels:
        low, high = int(array.min()), int(array.max())
        if low < 0 or high > 255:
            raise RequestError(422, f"expected integer pixels in 0..255 in '{name}' (or floats in [0, 1]); "
                                    f"got values in [{low}, {high}]")
        return array.astype(np.uint8)
    return array.astype(np.float32)


# --------------------------------------------------------------------- options
@dataclass(frozen=True)
class Option:
    """One request option: its parser (string or JSON value -> value), default and help."""

    parse: Callable[[Any], Any]
    default: Any
    help: str


def _number(kind: type, low: float, high: float) -> Callable[[Any], Any]:
    def parse(value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError(f"a number, not {value!r}")
        try:
            number = kind(value) if not (kind is int and isinstance(value, float)) else None
        except (TypeError, ValueError):
            number = None
        if number is None or (isinstance(number, float) and not math.isfinite(number)):
            raise ValueError(f"{'an integer' if kind is int else 'a finite number'}, got {value!r}")
        if not low <= number <= high:
            raise ValueError(f"a value in [{low:g}, {high:g}], got {number!r}")
        return number
    return parse


def integer(low: float, high: float) -> Callable[[Any], int]:
    return _number(int, low, high)


def real(low: float, high: float) -> Callable[[Any], float]:
    return _number(float, low, high)


def text(max_length: int = 200, choices: tuple[str, ...] | None = None) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if not isinstance(value, str) or len(value) > max_length:
            raise ValueError(f"a string of at most {max_length} characters, got {str(value)[:60]!r}")
        if choices is not None and value not in choices:
            raise ValueError(f"one of {', '.join(choices)}, got {value!r}")
        return value
    return parse


def parse_options(options: dict[str, Option], given: dict[str, Any], reserved: set[str]) -> dict[str, Any]:
    """Validate the request's options against the endpoint's; unknown keys are an error."""
    unknown = sorted(set(given) - set(options) - reserved)
    if unknown:
        valid = ", ".join(sorted(set(options) | reserved)) or "none"
        raise RequestError(422, f"unknown option(s) {', '.join(map(repr, unknown))}; valid: {valid}")
    out = {}
    for name, option in options.items():
        if name not in given or given[name] is None:
            out[name] = option.default
            continue
        try:
            out[name] = option.parse(given[name])
        except ValueError as err:
            raise RequestError(422, f"option '{name}': expected {err}") from None
    return out
