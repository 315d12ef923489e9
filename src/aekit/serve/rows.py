"""The HTTP endpoints of a table model: rows in as JSON, scores, codes and rows out.

A table model answers ``/score``, ``/encode``, ``/reconstruct`` and ``/decode`` (the image
endpoints would make no sense for it). Rows come as JSON, either records
``{"rows": [{"age": 41, "plan": "basic"}, ...]}`` or columns and values
``{"rows": {"columns": ["age", "plan"], "data": [[41, "basic"], ...]}}``; they pass the recorded
table preprocessing once, with its checks (columns, types, unseen categories, missing values),
whose errors come back as 422 answers naming what is wrong.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from ..data.tablefiles import pandas_module
from ..errors import AekitError, NotFittedError
from ..tasks.anomaly import SCORES, AnomalyDetector, model_space_errors, resolve_score
from .endpoints import Call, Endpoint, check_batch, encode_batch, run_module
from .inputs import Limits, Option, RequestError, text

SCALAR = (int, float, str, bool, type(None))


def rows_frame(value: Any, limits: Limits) -> Any:
    """A request's ``rows`` -> a DataFrame, checked for shape and plain JSON values."""
    pd = pandas_module()
    if isinstance(value, dict):
        columns, data = value.get("columns"), value.get("data")
        if not (isinstance(columns, list) and isinstance(data, list)) or set(value) - {"columns", "data"}:
            raise RequestError(422, "expected rows as {\"columns\": [...], \"data\": [[...], ...]} or as a list of "
                                    "objects (one per row)")
        if any(not isinstance(r, list) or len(r) != len(columns) for r in data):
            raise RequestError(422, f"expected every row of 'data' to be a list of {len(columns)} values")
        records = data
    elif isinstance(value, list):
        if any(not isinstance(r, dict) for r in value):
            raise RequestError(422, "expected rows as a list of objects, one per row ({\"column\": value, ...})")
        columns = list(dict.fromkeys(k for r in value for k in r))
        records = [[r.get(c) for c in columns] for r in value]
    else:
        raise RequestError(422, "expected 'rows': a list of objects or {\"columns\": [...], \"data\": [...]}")
    if not records:
        raise RequestError(422, "expected at least one row; got none")
    check_batch(len(records), limits, "rows")
    if any(not isinstance(v, SCALAR) for r in records for v in r):
        raise RequestError(422, "expected plain values in rows (numbers, text, true/false or null); got a list or "
                                "an object inside a row")
    return pd.DataFrame(records, columns=[str(c) for c in columns])


def _frame(call: Call) -> Any:
    return call.data["rows"]


def _as_records(frame: Any) -> list[dict[str, Any]]:
    return json.loads(frame.to_json(orient="records"))


def _score(call: Call) -> dict[str, Any]:
    prep = call.model.preprocessing
    x_model, _ = prep.to_model(_frame(call))
    try:
        detector = AnomalyDetector.from_model(call.model)
    except NotFittedError:
        detector = None
    kind = call.options["score"]
    score = detector.score_ if detector is not None and kind == "auto" else resolve_score(call.model, kind)
    errors, maps = model_space_errors(call.model, x_model, score)
    per_column = prep.column_totals(maps) / (maps.shape[1] if score == "mse" else 1)
    threshold = detector.threshold_ if detector is not None and detector.score_ == score else None
    scores = errors
    if threshold is not None and detector.neighbours_ is not None:
        scores = detector.model_space_scores(x_model)  # as the threshold was set: code-space term included
    return {
        "scores": scores.tolist(), "reconstruction": errors.tolist(), "score": score, "threshold": threshold,
        "anomaly": None if threshold is None else (scores > threshold).astype(int).tolist(),
        "contributions": [dict(zip(prep.names, map(float, row), strict=True)) for row in per_column],
    }


def _encode(call: Call) -> dict[str, Any]:
    x_model, _ = call.model.preprocessing.to_model(_frame(call))
    return {"codes": encode_batch(call, x_model).numpy()}


def _reconstruct(call: Call) -> dict[str, Any]:
    prep = call.model.preprocessing
    x_model, _ = prep.to_model(_frame(call))
    y = run_module(call, lambda x: call.model.module(x).x_hat, x_model).float()
    return {"rows": _as_records(prep.decode(y.cpu().numpy())),
            "errors": ((x_model.float() - y) ** 2).mean(1).tolist()}


def _decode(call: Call) -> dict[str, Any]:
    codes = np.asarray(call.data["codes"], dtype=np.float32)
    if codes.ndim == 1:
        codes = codes[None]
    if codes.ndim != 2 or codes.shape[1] != call.model.latent_dim:
        raise AekitError(f"expected codes of shape (N, {call.model.latent_dim}); got {codes.shape}")
    check_batch(len(codes), call.limits, "codes")
    return {"rows": _as_records(call.model.decode(codes))}


ROW_ENDPOINTS: dict[str, Endpoint] = {
    "score": Endpoint("score", "rows -> anomaly scores, each column's contribution, and the saved threshold's verdict",
                      _score, takes="rows",
                      options={"score": Option(text(10, SCORES), "auto", "auto (the saved detector's), mse or elbo")}),
    "encode": Endpoint("encode", "rows -> latent codes", _encode, takes="rows"),
    "reconstruct": Endpoint("reconstruct", "rows -> reconstructed rows and each row's error", _reconstruct,
                            takes="rows"),
    "decode": Endpoint("decode", "latent codes -> rows", _decode, takes="codes"),
}


def row_endpoint(name: str) -> Endpoint:
    """The table version of endpoint ``name``, or a 422 naming the ones a table model has."""
    if name not in ROW_ENDPOINTS:
        raise RequestError(422, f"/{name} takes images; this model takes a table: use "
                                f"{', '.join('/' + n for n in ROW_ENDPOINTS)}")
    return ROW_ENDPOINTS[name]
