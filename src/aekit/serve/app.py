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

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import anyio
import torch
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from .._version import __version__
from ..errors import AekitError
from ..model import Model
from ..registry import CORRUPTIONS
from .endpoints import ENDPOINTS, Endpoint, model_info
from .handling import QUERY_KEYS, BodyLimit, BodyTooLarge, output_format, process, read_payload, too_large_message
from .inputs import Limits, RequestError
from .served import Served, latent_range, load_test_images

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
_thread_state = threading.local()


# --------------------------------------------------------------------- the app
def corruption_menu() -> list[dict[str, Any]]:
    """The registered corruptions as ``GET /models`` lists them: the viewer builds its keys from this.

    Each entry: ``name``, ``usage`` (the spec form), ``key`` (``null``: not offered by the viewer),
    ``label``, and how the viewer turns presses into a spec: ``viewer_spec`` with ``{strength}``
    (``min(strength * presses, max_strength)``), ``{level}`` (presses) and ``{size}`` (a quarter
    of the image height, at least 2) filled in.
    """
    return [{"name": kind.name, "usage": kind.usage, "key": kind.key, "label": kind.label,
             "strength": kind.strength, "max_strength": kind.max_strength, "viewer_spec": kind.viewer_spec}
            for kind in CORRUPTIONS.values()]


SERVED_KINDS = ("image", "table", "series")


def create_app(models: Model | dict[str, Model], *, limits: Limits | None = None, test_images: int = 300,
               data_dir: str | None = None) -> FastAPI:
    """A FastAPI app serving ``models`` (one, or a dict name -> model; the first is the default).

    Args:
        models: the models to serve.
        limits: request limits (:class:`Limits` defaults when ``None``).
        test_images: how many test images of each model's dataset the viewer may step through
            (loaded once here; 0 turns them off, and the viewer then offers drawing and uploads).
        data_dir: where the datasets live (default: each model's recorded ``data_dir``, then
            ``$AEKIT_DATA``).
    """
    limits = limits or Limits()
    if isinstance(models, Model):
        models = {"model": models}
    if not models:
        raise AekitError("expected at least one model to serve; got none")
    served: dict[str, Served] = {}
    for name, model in models.items():
        kind = model.preprocessing.kind
        if kind not in SERVED_KINDS:
            # The endpoints speak images or rows; refuse before serving 500s.
            raise AekitError(f"model {name!r} takes {model.preprocessing.describe_input()}; the HTTP server serves "
                             "image and table models, and series models (POST /detect); use the Python API for "
                             "this one")
        model.module.eval()
        images, labels, note = (load_test_images(model, test_images, data_dir) if kind == "image"
                                else (None, None, "a series model: POST /detect" if kind == "series"
                                      else f"a {kind} model: send rows as JSON"))
        served[name] = Served(name, model, images, labels, note, latent_range(model, images))
        log.info("serving %r (%s, %s); %s", name, model.config.preset, model.preprocessing.describe_input(), note)
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
        # machine and spin in it (many times the CPU per request in a one-off profile). Set it once each.
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
            "noise_types": list(CORRUPTIONS.names()),
            "corruptions": corruption_menu(),
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
    elif endpoint.takes == "series":
        props["series"] = {"description": "columns {\"timestamp\": [...], \"value\": [...]} or an array (T,) / (T, C)"}
    content: dict[str, Any] = {"application/json": {"schema": {"type": "object", "properties": props}}}
    if endpoint.takes == "bytes":
        content = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
    if endpoint.takes == "images":
        content["image/png"] = {"schema": {"type": "string", "format": "binary"}}
        content["multipart/form-data"] = {"schema": {"type": "object", "properties": {
            "file": {"type": "array", "items": {"type": "string", "format": "binary"}},
            **{k: {"type": "string", "description": o.help} for k, o in endpoint.options.items()}}}}
    return {"requestBody": {"required": endpoint.takes != "nothing", "content": content}}
