"""One request, from bytes to answer: size limit, body reading, images in, JSON or PNG out.

Only :func:`read_payload` runs on the event loop; :func:`process` (parsing, decoding, the task,
encoding the answer) runs in a worker thread.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import anyio
import numpy as np
import torch
from fastapi import Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import UploadFile

from ..data.pixels import as_uint8
from ..errors import AekitError
from ..viz import encode_png
from .endpoints import Call, Endpoint
from .inputs import Limits, Payload, RequestError, decode_png, json_array, parse_json, parse_options
from .rows import row_endpoint, rows_frame
from .served import Served

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
            "codes": {"codes"}, "nothing": set(), "bytes": set(), "rows": {"rows"},
            "series": {"series"}}[endpoint.takes]


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
        images = as_uint8(images)
        return Response(encode_png(to_hwc(images, served.model.input_shape), quick=True), media_type="image/png")
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
    if served.model.preprocessing.kind == "table":
        endpoint = row_endpoint(endpoint.name)
        if payload.files or payload.raw is not None:
            raise RequestError(415, f"/{endpoint.name} of a table model takes JSON rows, not files")
    else:
        series_model = served.model.preprocessing.kind == "series"
        if series_model != (endpoint.takes == "series"):
            raise RequestError(422, f"/{endpoint.name} is for {'series' if endpoint.takes == 'series' else 'image'} "
                                    f"models; model {served.name!r} takes "
                                    f"{served.model.preprocessing.describe_input()}" + ("; use /detect" if series_model
                                                                                       else ""))
    data = parse_json(payload.json_body) if payload.json_body is not None else {}
    fields = fields_of(endpoint)
    given = {**query, **payload.fields, **{k: v for k, v in data.items() if k not in fields}}
    options = parse_options(endpoint.options, given, QUERY_KEYS)
    if payload.raw is not None and endpoint.takes != "bytes":
        raise RequestError(415, f"/{endpoint.name} does not take application/octet-stream; send a PNG (image/png), "
                                "PNG files in a multipart form or JSON")
    images = gather_images(endpoint, served, payload, data, limits)
    extra = {k: v for k, v in data.items() if k in fields}
    if endpoint.takes == "rows":
        if "rows" not in extra:
            raise RequestError(422, f"/{endpoint.name} expects JSON {{\"rows\": [{{\"column\": value, ...}}, ...]}}")
        extra["rows"] = rows_frame(extra["rows"], limits)
    file = gather_bytes(endpoint, payload)
    if file is not None:
        extra["file"] = file
    call = Call(served.model, images, extra, options, limits)
    try:
        result = endpoint.run(call)
    except AekitError as err:
        raise RequestError(422, str(err)) from None
    return render(result, served, fmt)
