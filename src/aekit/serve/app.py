"""The FastAPI app: saved models behind HTTP, plus the static web viewer.

::

    client ──POST /reconstruct (PNG, multipart PNGs or JSON arrays)──▶ read body (capped, timed)
           ◀── JSON arrays / a PNG ── thread pool: decode ─▶ task (aekit.tasks) ─▶ encode

Only reading the body happens on the event loop; decoding, inference and encoding the answer
run in a worker thread (at most ``Limits.workers`` at once, each bounded by ``Limits.timeout_s``),
so a slow request never stalls the others. Models are only read while serving (eval mode, no
state changes, one ``torch.Generator`` per request), so the threads need no lock.

Status codes: 400 unreadable body, 404 unknown model, 406 a PNG asked for a batch, 408 body not
received in time, 413 too large (bytes, pixels or batch), 415 unsupported content type, 422 a
well-formed request the model cannot take (wrong shape, NaN, unknown option), 503 inference
over the time limit. A 500 means a bug.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import torch
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import UploadFile

from .._version import __version__
from ..errors import AekitError
from ..io import Model
from ..objectives.corruptions import NAMES as NOISE_TYPES
from .endpoints import ENDPOINTS, Call, Endpoint, model_info
from .inputs import Limits, Payload, RequestError, decode_png, encode_png, json_array, parse_json, parse_options

STATIC = Path(__file__).parent / "static"
_thread_state = threading.local()
QUERY_KEYS = {"model", "format"}


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: refuse bodies over ``max_bytes`` (by Content-Length, or while streaming)."""

    def __init__(self, app: Any, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            response = JSONResponse({"detail": too_large_message(self.max_bytes, length.decode("latin-1"))}, 413)
            return await response(scope, receive, send)
        seen = 0

        async def limited_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge()
            return message

        return await self.app(scope, limited_receive, send)


def too_large_message(limit: int, got: str = "more") -> str:
    return f"expected a request body of at most {limit} bytes; got {got}; send fewer or smaller images"


@dataclass
class Served:
    """A model as the server holds it, with the test images the viewer steps through."""

    name: str
    model: Model
    test_images: np.ndarray | None = None  # (N, H, W, C) uint8
    test_labels: np.ndarray | None = None
    test_note: str = ""
    latent_range: list[list[float]] | None = None


def load_test_images(model: Model, count: int, data_dir: str | None = None) -> tuple[Any, Any, str]:
    """The first ``count`` test images of the model's dataset, as uint8, or ``None`` and why not."""
    if count <= 0:
        return None, None, "test images turned off"
    from ..data import load_split

    data = model.config.data
    size = None if data.image_size is None else tuple(data.image_size) * (2 if len(data.image_size) == 1 else 1)
    try:
        test = load_split(data.dataset, "test", data_dir=data_dir or data.data_dir, seed=model.config.train.seed,
                          val_fraction=data.val_fraction, test_fraction=data.test_fraction, image_size=size,
                          channels=data.image_channels, download=False, progress=False)
    except (AekitError, OSError) as err:
        return None, None, f"no test images of {data.dataset!r}: {err}"
    images = test.images[:count]
    if images.dtype != np.uint8:
        images = np.round(np.clip(images, 0, 1) * 255).astype(np.uint8)
    c, h, w = model.input_shape
    if images.shape[1:] != (h, w, c):
        return None, None, f"the test images are {images.shape[1:]}, the model takes {(h, w, c)}"
    labels = None if test.labels is None else np.asarray(test.labels[:count])
    return images, labels, f"{len(images)} test images of {data.dataset}"


def latent_range(model: Model, images: np.ndarray | None, max_dim: int = 64) -> list[list[float]] | None:
    """Slider ranges per latent dimension: ±3 for a VAE, else the test codes' 1-99% range, widened."""
    if model.latent_dim > max_dim:
        return None
    if model.config.model.latent == "gaussian":
        return [[-3.0, 3.0]] * model.latent_dim
    if images is None or len(images) < 10:
        return None
    codes = np.asarray(model.encode(images))
    low, high = np.percentile(codes, 1, axis=0), np.percentile(codes, 99, axis=0)
    pad = 0.15 * np.maximum(high - low, 1e-3)
    return [[float(a), float(b)] for a, b in zip(low - pad, high + pad, strict=True)]


# --------------------------------------------------------------------- request handling
async def read_payload(request: Request, limits: Limits) -> Payload:
    """Read the body (the one step on the event loop), within the size and time limits."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        with anyio.fail_after(limits.timeout_s):
            if ctype == "multipart/form-data":
                payload = Payload(ctype)
                form = await request.form(max_files=limits.max_batch + 1, max_fields=64,
                                          max_part_size=limits.max_body_bytes)
                try:
                    for key, value in form.multi_items():
                        if isinstance(value, UploadFile):
                            payload.files.append((value.filename or key, await value.read()))
                        else:
                            payload.fields[key] = value
                finally:
                    await form.close()
                return payload
            body = await request.body()
    except TimeoutError:
        raise RequestError(408, f"expected the request body within {limits.timeout_s:g} s; it did not arrive") \
            from None
    if ctype == "application/json":
        return Payload(ctype, json_body=body)
    if ctype == "image/png":
        return Payload(ctype, files=[("body", body)])
    if ctype == "application/octet-stream":
        return Payload(ctype, raw=body)
    if ctype == "" and not body:
        return Payload(ctype)
    raise RequestError(415, f"expected Content-Type application/json, image/png, multipart/form-data or "
                            f"application/octet-stream; "
                            f"got {ctype or 'none'!r}")


def output_format(query: str | None, accept: str) -> str:
    if query is not None:
        if query not in ("json", "png"):
            raise RequestError(422, f"expected format=json or format=png; got {query!r}")
        return query
    return "png" if accept.split(",")[0].strip().lower() == "image/png" else "json"


def gather_images(endpoint: Endpoint, served: Served, payload: Payload, data: dict[str, Any],
                  limits: Limits) -> np.ndarray | None:
    if endpoint.takes != "images":
        if (payload.files and endpoint.takes != "bytes") or "images" in data:
            raise RequestError(422, f"/{endpoint.name} takes no images")
        return None
    if payload.files and "images" in data:
        raise RequestError(422, "expected images either as PNG uploads or as a JSON 'images' array, not both")
    if payload.files:
        if len(payload.files) > limits.max_batch:
            raise RequestError(413, f"expected at most {limits.max_batch} images per request; got {len(payload.files)}")
        c, h, w = served.model.input_shape
        images = []
        for name, data_bytes in payload.files:
            image = decode_png(data_bytes, c, limits, what=repr(name))
            if image.shape[:2] != (h, w):
                raise RequestError(422, f"this model takes {h}x{w} images; {name!r} is "
                                        f"{image.shape[1]}x{image.shape[0]}; resize it first")
            images.append(image)
        return np.stack(images)
    if "images" not in data:
        raise RequestError(422, "expected images: a PNG body (Content-Type image/png), PNG files in a multipart "
                                "form, or JSON {\"images\": [...]} (uint8 integers 0..255 or floats in [0, 1])")
    return json_array(data["images"], "images")


def fields_of(endpoint: Endpoint) -> set[str]:
    return {"images": {"images", "mask"} if endpoint.name == "inpaint" else {"images"},
            "codes": {"codes"}, "nothing": set(), "bytes": set()}[endpoint.takes]


def gather_bytes(endpoint: Endpoint, payload: Payload) -> bytes | None:
    """The uploaded file of a ``takes="bytes"`` endpoint (an octet-stream body or one multipart file)."""
    if endpoint.takes != "bytes":
        return None
    if payload.raw is not None:
        return payload.raw
    if len(payload.files) == 1:
        return payload.files[0][1]
    raise RequestError(422, f"/{endpoint.name} expects one file: an application/octet-stream body or one file in "
                            f"a multipart form; got {len(payload.files)} files")


def to_hwc(image: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    c, h, w = shape
    if image.shape == (c, h, w) and c != w:
        return np.moveaxis(image, 0, -1)
    return image.reshape(h, w, c)


def jsonable(value: Any) -> Any:
    """Arrays and tensors -> nested lists, bytes -> base64 text, recursively through lists and dicts."""
    if isinstance(value, np.ndarray | torch.Tensor | np.generic):
        return np.asarray(value).tolist()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    return value


def render(result: dict[str, Any], served: Served, fmt: str) -> Response:
    if fmt == "png":
        if "images" not in result:
            raise RequestError(406, "format=png needs an answer that is an image; this endpoint answers JSON")
        images = np.asarray(result["images"])
        pixels = int(np.prod(served.model.input_shape))
        if images.size != pixels:
            raise RequestError(406, f"format=png returns one image; this answer has {images.size // pixels}; "
                                    "ask for JSON (the default) to get a batch")
        if images.ndim == 4 or (images.ndim == 2 and images.shape[1] == pixels):
            images = images[0]  # a batch of one
        if images.dtype != np.uint8:
            images = np.round(np.clip(images, 0, 1) * 255).astype(np.uint8)
        return Response(encode_png(to_hwc(images, served.model.input_shape)), media_type="image/png")
    body: dict[str, Any] = {"model": served.name}
    for key, value in result.items():
        body[key] = jsonable(value)
        if key == "images":
            array = np.asarray(value)
            body["shape"], body["dtype"] = list(array.shape), str(array.dtype)
    return Response(json.dumps(body, allow_nan=False, separators=(",", ":")), media_type="application/json")


def process(endpoint: Endpoint, served: Served, payload: Payload, query: dict[str, str], fmt: str,
            limits: Limits) -> Response:
    """Everything after reading the body: runs in a worker thread."""
    data = parse_json(payload.json_body) if payload.json_body is not None else {}
    fields = fields_of(endpoint)
    given = {**query, **payload.fields, **{k: v for k, v in data.items() if k not in fields}}
    options = parse_options(endpoint.options, given, QUERY_KEYS)
    if payload.raw is not None and endpoint.takes != "bytes":
        raise RequestError(415, f"/{endpoint.name} does not take application/octet-stream; send a PNG (image/png), "
                                "PNG files in a multipart form or JSON")
    images = gather_images(endpoint, served, payload, data, limits)
    extra = {k: v for k, v in data.items() if k in fields}
    file = gather_bytes(endpoint, payload)
    if file is not None:
        extra["file"] = file
    call = Call(served.model, images, extra, options, limits)
    try:
        result = endpoint.run(call)
    except AekitError as err:
        raise RequestError(422, str(err)) from None
    return render(result, served, fmt)


# --------------------------------------------------------------------- the app
def create_app(models: Model | dict[str, Model], *, limits: Limits | None = None, test_images: int = 300,
               data_dir: str | None = None, log: Callable[[str], Any] | None = None) -> FastAPI:
    """A FastAPI app serving ``models`` (one, or a dict name -> model; the first is the default).

    Args:
        models: the models to serve.
        limits: request limits (:class:`Limits` defaults when ``None``).
        test_images: how many test images of each model's dataset the viewer may step through
            (loaded once here; 0 turns them off, and the viewer then offers drawing and uploads).
        data_dir: where the datasets live (default: each model's recorded ``data_dir``, then
            ``$AEKIT_DATA``).
        log: where to say what was loaded (e.g. ``print``).
    """
    limits = limits or Limits()
    if isinstance(models, Model):
        models = {"model": models}
    if not models:
        raise AekitError("expected at least one model to serve; got none")
    served: dict[str, Served] = {}
    for name, model in models.items():
        model.module.eval()
        images, labels, note = load_test_images(model, test_images, data_dir)
        served[name] = Served(name, model, images, labels, note, latent_range(model, images))
        if log is not None:
            log(f"serving {name!r} ({model.config.preset}, {model.preprocessing.describe_input()}); {note}")
    default = next(iter(served))
    limiter = anyio.CapacityLimiter(limits.workers)
    started = time.time()

    app = FastAPI(
        title="aekit", version=__version__,
        description="Autoencoders over HTTP: send images as PNG (a PNG body, or PNG files in a multipart form) or "
                    "as JSON arrays (uint8 integers 0..255 or floats in [0, 1], any layout the model accepts); "
                    "answers are JSON (arrays in the input's space) or, with format=png, one PNG. The web viewer "
                    "is at /viewer/.",
    )
    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes)

    @app.exception_handler(RequestError)
    async def request_error(request: Request, err: RequestError):
        headers = {"Retry-After": "1"} if err.status == 503 else None
        return JSONResponse({"detail": err.message}, status_code=err.status, headers=headers)

    @app.exception_handler(AekitError)
    async def aekit_error(request: Request, err: AekitError):
        return JSONResponse({"detail": str(err)}, status_code=422)

    @app.exception_handler(BodyTooLarge)
    async def body_too_large(request: Request, err: BodyTooLarge):
        return JSONResponse({"detail": too_large_message(limits.max_body_bytes)}, status_code=413)

    def pick(name: str | None) -> Served:
        if name is None:
            return served[default]
        if name not in served:
            raise RequestError(404, f"no model named {name!r}; serving: {', '.join(served)}")
        return served[name]

    threads = torch.get_num_threads()

    def with_threads(fn: Callable[[], Any]) -> Callable[[], Any]:
        # OpenMP's thread count is per OS thread: torch.set_num_threads in the main thread does not
        # reach the pool's worker threads, which would otherwise each start a team as wide as the
        # machine and spin in it (measured: 10x the CPU per request with one worker). Set it once each.
        def run() -> Any:
            if getattr(_thread_state, "threads", None) != threads:
                torch.set_num_threads(threads)
                _thread_state.threads = threads
            return fn()
        return run

    async def in_thread(fn: Callable[[], Any]) -> Any:
        try:
            with anyio.fail_after(limits.timeout_s):
                return await anyio.to_thread.run_sync(with_threads(fn), limiter=limiter, abandon_on_cancel=True)
        except TimeoutError:
            raise RequestError(503, f"the request took longer than the server's limit of {limits.timeout_s:g} s; "
                                    "send fewer images or retry later") from None

    @app.get("/health", summary="liveness: ok and the models served")
    async def health():
        return {"status": "ok", "models": list(served), "uptime_s": round(time.time() - started, 1),
                "version": __version__}

    @app.get("/models", summary="the models served, the endpoints and their options, the limits")
    async def list_models():
        return {
            "default": default,
            "models": [model_info(s.name, s.model, 0 if s.test_images is None else len(s.test_images),
                                  s.latent_range) | {"test_note": s.test_note} for s in served.values()],
            "endpoints": {e.name: {"summary": e.summary, "takes": e.takes,
                                   "options": {k: {"default": o.default, "help": o.help} for k, o in e.options.items()}}
                          for e in ENDPOINTS.values()},
            "noise_types": list(NOISE_TYPES),
            "limits": asdict(limits),
        }

    @app.get("/testset", summary="test images of a model's dataset (uint8, N x H x W x C) for the viewer")
    async def testset(model: str | None = None, offset: int = 0, limit: int = 100):
        s = pick(model)
        if s.test_images is None:
            return {"model": s.name, "total": 0, "offset": 0, "images": [], "labels": [], "note": s.test_note}
        if offset < 0 or not 1 <= limit <= limits.max_batch:
            raise RequestError(422, f"expected offset ≥ 0 and 1 ≤ limit ≤ {limits.max_batch}; "
                                    f"got offset={offset}, limit={limit}")

        def build() -> Response:
            images = s.test_images[offset:offset + limit]
            labels = [] if s.test_labels is None else s.test_labels[offset:offset + limit].tolist()
            body = {"model": s.name, "total": len(s.test_images), "offset": offset, "images": images.tolist(),
                    "labels": labels, "note": s.test_note}
            return Response(json.dumps(body, separators=(",", ":")), media_type="application/json")

        return await in_thread(build)

    for endpoint in ENDPOINTS.values():
        app.add_api_route(f"/{endpoint.name}", _route(endpoint, pick, in_thread, limits), methods=["POST"],
                          summary=endpoint.summary, description=_describe(endpoint),
                          openapi_extra=_openapi_body(endpoint), response_class=JSONResponse)

    @app.get("/", include_in_schema=False)
    async def root():
        return RedirectResponse("/viewer/")

    app.mount("/viewer", StaticFiles(directory=STATIC, html=True), name="viewer")
    app.state.served = served
    app.state.limits = limits
    return app


def _route(endpoint: Endpoint, pick: Callable, in_thread: Callable, limits: Limits):
    async def route(request: Request, model: str | None = None, format: str | None = None):
        s = pick(model)
        fmt = output_format(format, request.headers.get("accept", ""))
        payload = await read_payload(request, limits)
        query = {k: v for k, v in request.query_params.items() if k not in QUERY_KEYS}
        return await in_thread(lambda: process(endpoint, s, payload, query, fmt, limits))

    route.__name__ = endpoint.name
    return route


def _describe(endpoint: Endpoint) -> str:
    lines = [endpoint.summary + ".", ""]
    if endpoint.options:
        lines.append("Options (query parameters, form fields or JSON keys):")
        lines += [f"- `{k}` (default {o.default!r}): {o.help}" for k, o in endpoint.options.items()]
    lines.append("\nAdd `format=png` (or `Accept: image/png`) to get one image back as a PNG.")
    return "\n".join(lines)


def _openapi_body(endpoint: Endpoint) -> dict[str, Any]:
    array = {"type": "array", "items": {}, "description": "nested numbers"}
    props: dict[str, Any] = {k: {"description": o.help} for k, o in endpoint.options.items()}
    if endpoint.takes == "images":
        props["images"] = array | {"description": "one image or a batch: uint8 integers or floats in [0, 1]"}
        if endpoint.name == "inpaint":
            props["mask"] = array | {"description": "(H, W) or (N, H, W), non-zero = missing"}
    elif endpoint.takes == "codes":
        props["codes"] = array | {"description": "(N, k) or (k,) latent codes"}
    content: dict[str, Any] = {"application/json": {"schema": {"type": "object", "properties": props}}}
    if endpoint.takes == "bytes":
        content = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
    if endpoint.takes == "images":
        content["image/png"] = {"schema": {"type": "string", "format": "binary"}}
        content["multipart/form-data"] = {"schema": {"type": "object", "properties": {
            "file": {"type": "array", "items": {"type": "string", "format": "binary"}},
            **{k: {"type": "string", "description": o.help} for k, o in endpoint.options.items()}}}}
    return {"requestBody": {"required": endpoint.takes != "nothing", "content": content}}
