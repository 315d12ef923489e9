"""The HTTP endpoints, as data: each is a name, its options and a thin adapter over a task.

An adapter takes a :class:`Call` (the model, the request's images or arrays, its validated
options) and returns a dict; arrays in it go back as JSON lists (or, for ``images``, as a PNG
when one is asked for). No model logic lives here: the adapters call :class:`aekit.Model` and
the functions in :mod:`aekit.tasks`, which apply the recorded preprocessing.

Each request's images pass the recorded preprocessing once (:func:`model_batch`): adapters
hand that tensor to the model's module, or in [0, 1] to the tasks' ``*_unit`` functions,
rather than the raw images to a :class:`aekit.Model` method, which would check and convert
them again. (``/score`` and ``/compress`` still do: :func:`~aekit.tasks.anomaly.pixel_errors`
and :class:`~aekit.codec.codec.Codec` take only images as users have them.)

Adding an endpoint is one entry in :data:`ENDPOINTS`: a name, a summary, an adapter and its
options; ``takes="bytes"`` receives one uploaded file and bytes in an answer go back base64-encoded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from ..codec.codec import Codec
from ..data.pixels import as_unit
from ..data.preprocess import InputSpace
from ..errors import AekitError, NotFittedError
from ..metrics import mse_per_sample, psnr_from_mse
from ..model import Model
from ..objectives.corruptions import parse_corruptions
from ..tasks.anomaly import SCORES, AnomalyDetector, model_space_errors, resolve_score
from ..tasks.evaluate import reconstruct_unit
from ..tasks.generate import SAMPLERS, generate, has_prior
from ..tasks.inpaint import box_mask, inpaint_unit, mask_tensor
from ..tasks.interpolate import METHODS, interpolate_codes
from ..tasks.series import SeriesDetector
from .inputs import Limits, Option, RequestError, integer, json_array, real, text


@dataclass
class Call:
    """One request, ready for a task.

    Attributes:
        model: the model it is for.
        images: the images sent, as sent (JSON: any layout the model accepts, uint8 or [0, 1]
            floats; PNG uploads: (N, H, W, C) uint8), or ``None``.
        data: the JSON body's other fields (e.g. ``codes``, ``mask``).
        options: validated options (the endpoint's defaults filled in).
        limits: the server's limits.
    """

    model: Model
    images: np.ndarray | None
    data: dict[str, Any]
    options: dict[str, Any]
    limits: Limits


@dataclass(frozen=True)
class Endpoint:
    """``POST /{name}``: ``run(call) -> dict``.

    ``takes``: ``images`` (``call.images``), ``codes`` (``call.data["codes"]``), ``bytes`` (one uploaded
    file, ``call.data["file"]``), ``series`` (``call.data["series"]``, for models of a time series) or
    ``nothing``. Values that are bytes go back base64-encoded in JSON.
    """

    name: str
    summary: str
    run: Callable[[Call], dict[str, Any]]
    takes: str = "images"
    options: dict[str, Option] = field(default_factory=dict)
    description: str = ""


# --------------------------------------------------------------------- helpers
def model_batch(call: Call) -> tuple[torch.Tensor, InputSpace]:
    """The request's images in model space (N, C, H, W), checked, and how to give images back.

    The request's one pass through :meth:`Preprocessing.to_model`: it raises the errors that
    name what the model expects, then the batch limit is checked before any inference.
    """
    x_model, space = call.model.preprocessing.to_model(call.images)
    check_batch(x_model.shape[0], call.limits)
    return x_model, space


def unit_batch(call: Call) -> tuple[torch.Tensor, InputSpace]:
    """The request's images as (N, C, H, W) intensities in [0, 1], and how to give images back."""
    x_model, space = model_batch(call)
    return call.model.preprocessing.model_to_unit(x_model), space


@torch.inference_mode()
def run_module(call: Call, fn: Callable[[torch.Tensor], torch.Tensor], x_model: torch.Tensor,
               batch_size: int = 1024) -> torch.Tensor:
    """``fn`` (a method of the model's module) over model-space inputs, in batches on the model's device."""
    device = call.model.device
    return torch.cat([fn(batch.to(device)) for batch in x_model.split(batch_size)])


def encode_batch(call: Call, x_model: torch.Tensor) -> torch.Tensor:
    """Codes (N, k) float32 on the CPU of model-space inputs (posterior means for a VAE)."""
    return run_module(call, call.model.module.encode, x_model).float().cpu()


def reconstruct_batch(call: Call, x_model: torch.Tensor, space: InputSpace) -> Any:
    """Reconstructions of model-space inputs, in the caller's space (dtype, layout)."""
    y = run_module(call, lambda x: call.model.module(x).x_hat, x_model)
    return call.model.preprocessing.from_model(y, space)


def from_unit(call: Call, unit: torch.Tensor, space: InputSpace) -> Any:
    """(N, C, H, W) intensities -> the caller's space (dtype, layout)."""
    prep = call.model.preprocessing
    return prep.from_model(prep.batch_to_model(unit), space)


def check_batch(n: int, limits: Limits, what: str = "images") -> None:
    if n > limits.max_batch:
        raise RequestError(413, f"expected at most {limits.max_batch} {what} per request; got {n}; "
                                "split the batch")


def psnr(mse: torch.Tensor) -> list[float]:
    return psnr_from_mse(mse.double().clamp_min(1e-12)).tolist()


# --------------------------------------------------------------------- adapters
def _reconstruct(call: Call) -> dict[str, Any]:
    x_model, space = model_batch(call)
    out = reconstruct_batch(call, x_model, space)
    err = (as_unit(call.images) - as_unit(out)) ** 2  # in the caller's space: what they get back
    mse = err.reshape(len(err), -1).mean(axis=1) if space.batched else err.mean()[None]
    return {"images": out, "mse": mse.astype(float).tolist()}


def _denoise(call: Call) -> dict[str, Any]:
    x_model, space = model_batch(call)
    noise = call.options["noise"]
    if not noise:
        return {"images": reconstruct_batch(call, x_model, space)}
    x = call.model.preprocessing.model_to_unit(x_model)
    noisy = parse_corruptions(noise)(x, torch.Generator().manual_seed(call.options["seed"]))
    y = reconstruct_unit(call.model, noisy)
    return {"images": from_unit(call, y, space), "noisy": from_unit(call, noisy, space),
            "noise": list(parse_corruptions(noise).specs),
            "psnr_noisy": psnr(mse_per_sample(x, noisy)), "psnr_output": psnr(mse_per_sample(x, y))}


def _inpaint(call: Call) -> dict[str, Any]:
    _, h, w = call.model.input_shape
    box, mask = call.options["box"], call.data.get("mask")
    if (box is None) == (mask is None):
        raise RequestError(422, "expected exactly one of 'box' (x,y,w,h in pixels) or 'mask' (an (H, W) or "
                                "(N, H, W) array, non-zero = missing)")
    mask = box_mask(h, w, box) if box is not None else json_array(mask, "mask", integers_are_pixels=False) != 0
    x, space = unit_batch(call)
    filled = inpaint_unit(call.model, x, mask_tensor(mask, x.shape[0], h, w), iterations=call.options["iterations"])
    return {"images": from_unit(call, filled, space)}


def _encode(call: Call) -> dict[str, Any]:
    x_model, space = model_batch(call)
    codes = encode_batch(call, x_model).numpy()
    return {"codes": codes if space.batched else codes[0], "latent": call.model.config.model.latent}


def _decode(call: Call) -> dict[str, Any]:
    if "codes" not in call.data:
        raise RequestError(422, f"expected 'codes': an (N, {call.model.latent_dim}) or ({call.model.latent_dim},) "
                                "JSON array of numbers")
    codes = json_array(call.data["codes"], "codes", integers_are_pixels=False)
    check_batch(codes.shape[0] if codes.ndim == 2 else 1, call.limits, "codes")
    return {"images": call.model.decode(codes)}


def _generate(call: Call) -> dict[str, Any]:
    o = call.options
    check_batch(o["n"], call.limits)
    return {"images": generate(call.model, o["n"], temperature=o["temperature"], sampler=o["sampler"],
                               seed=o["seed"])}


def _interpolate(call: Call) -> dict[str, Any]:
    x_model, space = model_batch(call)
    if x_model.shape[0] != 2:
        raise RequestError(422, f"expected exactly 2 images (the two ends); got {x_model.shape[0]}")
    steps = call.options["steps"]
    check_batch(steps, call.limits)
    z_a, z_b = encode_batch(call, x_model)
    path = interpolate_codes(z_a, z_b, steps, call.options["method"])
    return {"images": call.model.decode(path.numpy(), as_float=not space.is_uint8)}


def _score(call: Call) -> dict[str, Any]:
    x_model, _ = model_batch(call)  # validates shape, values and batch size: the request's one pass
    try:
        detector = AnomalyDetector.from_model(call.model)
    except NotFittedError:
        detector = None  # no threshold saved: scores only
    kind = call.options["score"]
    if detector is not None and kind in ("auto", detector.score_):
        scores = detector.model_space_scores(x_model)
        labels = (scores > detector.threshold_).astype(int)
        return {"scores": scores.tolist(), "score": detector.score_, "threshold": detector.threshold_,
                "anomaly": labels.tolist()}
    scores, _ = model_space_errors(call.model, x_model, kind)
    return {"scores": scores.tolist(), "score": resolve_score(call.model, kind), "threshold": None, "anomaly": None}


@lru_cache(maxsize=16)
def _codec(model: Model, step: float) -> Codec:
    """A served model's codec, built once: building one hashes all the model's weights."""
    return Codec(model, step)


def _compress(call: Call) -> dict[str, Any]:
    x_model, _ = model_batch(call)
    return {"file": _codec(call.model, call.options["step"]).compress_codes(encode_batch(call, x_model).numpy())}


def _decompress(call: Call) -> dict[str, Any]:
    data = call.data["file"]
    return {"images": _codec(call.model, call.options["step"]).decompress(data, "the uploaded file")}


def series_of(value: Any) -> Any:
    """A series sent as JSON: ``{"timestamp": [...], "value": [...], ...}`` (columns, like a CSV's) or an
    array (T,) / (T, C) of numbers."""
    if isinstance(value, dict):
        import pandas as pd

        lengths = {k: len(v) if isinstance(v, list) else None for k, v in value.items()}
        if not value or any(n is None for n in lengths.values()) or len(set(lengths.values())) != 1:
            raise AekitError(f"expected 'series' as columns of equal length, e.g. {{\"timestamp\": [...], "
                             f"\"value\": [...]}}; got lengths {lengths}")
        return pd.DataFrame(value)
    return json_array(value, "series")


def _detect(call: Call) -> dict[str, Any]:
    if "series" not in call.data:
        raise AekitError("expected JSON {\"series\": {\"timestamp\": [...], \"value\": [...]}} (columns) or "
                         "{\"series\": [...]} (an array (T,) or (T, C))")
    series = series_of(call.data["series"])
    n = len(series)
    if n > call.limits.max_batch * 1000:
        raise AekitError(f"expected at most {call.limits.max_batch * 1000} samples per request; got {n}")
    detector = SeriesDetector.from_model(call.model)
    found = detector.detect(series)
    s = found.scores
    return {"n": len(s.series), "score": detector.score_, "threshold": detector.threshold_,
            "scores": [None if not np.isfinite(v) else float(v) for v in s.scores],
            "anomaly": found.flags, "intervals": found.intervals, "layout": s.layout.describe()}


SEED = Option(integer(0, 2**63 - 1), 0, "random seed (same seed, same noise / samples)")

ENDPOINTS: dict[str, Endpoint] = {
    "encode": Endpoint("encode", "images -> latent codes (posterior means for a VAE)", _encode),
    "decode": Endpoint("decode", "latent codes -> images", _decode, takes="codes"),
    "reconstruct": Endpoint(
        "reconstruct", "images -> reconstructions, with each image's reconstruction error (per-pixel MSE)",
        _reconstruct),
    "denoise": Endpoint(
        "denoise", "noisy images -> cleaned images; with 'noise', clean images are corrupted on the server first",
        _denoise, options={
            "noise": Option(text(), None, "corrupt the inputs first, e.g. gaussian:0.5, salt_pepper:0.2, "
                                          "masking:0.3, blocks:8:2; the response then has 'noisy' and PSNRs"),
            "seed": SEED,
        }),
    "inpaint": Endpoint(
        "inpaint", "fill the masked pixels of images; the known pixels come back unchanged", _inpaint,
        options={
            "box": Option(text(40), None, "the hole as x,y,w,h in pixels (or send 'mask' in the JSON body)"),
            "iterations": Option(integer(1, Limits.max_iterations), 1, "passes through the model"),
        }),
    "generate": Endpoint(
        "generate", "new images from the model's sampler (VAE prior, or a mixture fitted on training codes)",
        _generate, takes="nothing", options={
            "n": Option(integer(1, 1 << 20), 16, "how many images"),
            "temperature": Option(real(0.0, 10.0), 1.0, "scale of the sampled spread"),
            "sampler": Option(text(10, SAMPLERS), "auto", "auto, prior or gmm"),
            "seed": SEED,
        }),
    "interpolate": Endpoint(
        "interpolate", "two images -> decoded images along the path between their codes", _interpolate,
        options={
            "steps": Option(integer(2, 1 << 20), 10, "images on the path, both ends included"),
            "method": Option(text(10, METHODS), "linear", "linear or slerp (great circle)"),
        }),
}


ENDPOINTS["score"] = Endpoint(
    "score", "anomaly scores of images (higher = more unusual), with the saved threshold's verdict when the model "
    "has one (aekit detect RUN --fit NORMAL --save)", _score,
    options={"score": Option(text(10, SCORES), "auto", "auto (the saved detector's, else mse / the VAE's "
                                                       "negative ELBO), mse, bce, ssim or elbo")})
STEP = Option(real(1e-3, 1e3), 1.0, "quantisation step the model's code tables were fitted for")
ENDPOINTS["compress"] = Endpoint(
    "compress", "images -> one .aek file (an archive for several images), base64 in JSON; needs code tables "
    "saved with the model (aekit compress RUN --fit-codec)", _compress, options={"step": STEP})
ENDPOINTS["detect"] = Endpoint(
    "detect", "a time series (JSON columns or an array) -> per-timestamp anomaly scores, flags and anomaly intervals, "
    "with the threshold saved with a series model (aekit train --window)", _detect, takes="series")
ENDPOINTS["decompress"] = Endpoint(
    "decompress", "an uploaded .aek file -> its images", _decompress, takes="bytes", options={"step": STEP})


def model_info(name: str, model: Model, test_count: int, latent_range: list[list[float]] | None) -> dict[str, Any]:
    """What ``GET /models`` says about one model."""
    prep = model.preprocessing
    if prep.kind == "series":
        return {"name": name, "preset": model.config.preset, "kind": "series", "input_shape": list(model.input_shape),
                "channels": list(prep.channels), "window": prep.window, "preprocessing": prep.to_dict(),
                "latent": model.config.model.latent, "latent_dim": model.latent_dim, "vae": has_prior(model),
                "latent_range": latent_range, "test_images": 0, "path": str(model.path) if model.path else None}
    return {
        "name": name, "preset": model.config.preset, "kind": prep.kind, "input_shape": list(model.input_shape),
        "channel_order": getattr(prep, "channel_order", None),
        "columns": getattr(prep, "names", None) if prep.kind == "table" else None,
        "preprocessing": prep.to_dict(), "latent": model.config.model.latent, "latent_dim": model.latent_dim,
        "vae": has_prior(model), "latent_range": latent_range, "test_images": test_count,
        "path": str(model.path) if model.path else None,
    }
