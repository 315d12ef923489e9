"""Fuzzing the HTTP API: random bytes, huge dimensions, wrong content types, NaN arrays, odd JSON.

Every answer must be a 4xx or a 2xx (never a 5xx, never an exception inside the app: the client
re-raises those), and the server must still answer correctly afterwards.
"""

from __future__ import annotations

import io
import json
import random
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the server needs the serve extra (pip install 'aekit[serve]')")
pytest.importorskip("httpx", reason="FastAPI's TestClient needs httpx")
import torch  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from aekit.data.preprocess import Preprocessing  # noqa: E402
from aekit.model import Model  # noqa: E402
from aekit.models import build_model  # noqa: E402
from aekit.presets import build_run_config  # noqa: E402
from aekit.serve import create_app  # noqa: E402
from aekit.serve.endpoints import ENDPOINTS  # noqa: E402

PATHS = [f"/{name}" for name in ENDPOINTS] + [f"/{name}?format=png" for name in ENDPOINTS] + [
    "/reconstruct?model=vae", "/generate?model=vae", "/generate?model=vae&format=png&n=2", "/generate?n=-1",
    "/denoise?noise=gaussian:nan", "/inpaint?box=1,1,99999999999999999999,1", "/interpolate?steps=100000",
    "/reconstruct?model=%00", "/reconstruct?format=", "/decode?format=json&seed=1"]
CONTENT_TYPES = ["image/png", "application/json", "multipart/form-data", "multipart/form-data; boundary=xyz",
                 "text/plain", "application/octet-stream", "image/jpeg", "", "application/json; charset=latin-1",
                 "IMAGE/PNG", "application/json;;;", "multipart/form-data; boundary="]


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height, followed by a tiny (wrong) data chunk."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def real_png(rng: random.Random) -> bytes:
    size = (rng.choice([1, 7, 8, 9, 64]), rng.choice([1, 8, 300]))
    mode = rng.choice(["L", "RGB", "RGBA", "P", "1", "I;16"])
    image = Image.new(mode, size)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def random_json(rng: random.Random, depth: int = 0):
    kind = rng.randrange(9 if depth < 4 else 5)
    if kind == 0:
        return rng.choice([None, True, False, "", "gaussian:0.5", "x" * 500])
    if kind == 1:
        return rng.choice([0, -1, 255, 256, 2**70, -(2**70), 3.5, 1e308, -1e-308])
    if kind == 2:
        return float(rng.choice(["nan", "inf", "-inf"]))
    if kind == 3:
        return rng.random()
    if kind == 4:
        return []
    if kind in (5, 6):
        n = rng.choice([1, 2, 8, 64])
        return [random_json(rng, depth + 1) for _ in range(n)]
    if kind == 7:
        return np.full((rng.choice([1, 2]), 8, 8, 1), rng.choice([np.nan, 0.5, np.inf])).tolist()
    return {rng.choice(["images", "codes", "mask", "n", "steps", "seed", "noise", "box", "zzz"]):
            random_json(rng, depth + 1) for _ in range(rng.randrange(1, 4))}


def cases(seed: int = 0, n: int = 260):
    rng = random.Random(seed)
    nan_images = json.dumps({"images": np.full((2, 8, 8), np.nan).tolist()}).encode()  # NaN (Python's json writes it)
    fixed = [
        ("/reconstruct", "image/png", png_header(100_000, 100_000)),
        ("/reconstruct", "image/png", png_header(1, 2**31 - 1)),
        ("/reconstruct", "image/png", png_header(0, 0)),
        ("/denoise", "image/png", png_header(8, 8)),
        ("/reconstruct", "application/json", nan_images),
        ("/decode", "application/json", b'{"codes": [[NaN, Infinity]]}'),
        ("/generate", "application/json", b'{"n": 1e999}'),
        ("/interpolate", "application/json", b'{"images": ' + b"[" * 3000 + b"]" * 3000 + b"}"),
        ("/reconstruct", "application/json", b"\xff\xfe\x00garbage"),
        ("/reconstruct", "multipart/form-data; boundary=b", b"--b\r\nContent-Disposition: form-data; name=\"file\"; "
                                                          b"filename=\"a.png\"\r\n\r\n\x00\x01\r\n--b--\r\n"),
        ("/reconstruct", "multipart/form-data; boundary=b", b"--b\r\n\r\n\r\n"),
    ]
    yield from fixed
    for _ in range(n):
        path = rng.choice(PATHS)
        what = rng.randrange(4)
        if what == 0:
            body = rng.randbytes(rng.choice([0, 1, 8, 100, 5000]))
        elif what == 1:
            body = real_png(rng)
        elif what == 2:
            body = json.dumps(random_json(rng)).encode()
        else:
            body = png_header(rng.randrange(0, 70_000), rng.randrange(0, 70_000))
        yield path, rng.choice(CONTENT_TYPES), body


def tiny_model(preset: str) -> Model:
    run = build_run_config(preset, input_shape=(1, 8, 8), model={"latent_dim": 2})
    torch.manual_seed(0)
    return Model(build_model(run.model), Preprocessing((1, 8, 8)), run)


@pytest.fixture(scope="module")
def app():
    return create_app({"deep": tiny_model("deep"), "vae": tiny_model("vae")}, test_images=0)


def test_fuzz_never_5xx_and_server_stays_healthy(app):
    statuses = {}
    with TestClient(app, raise_server_exceptions=True) as client:
        for path, ctype, body in cases():
            headers = {"content-type": ctype} if ctype else {}
            r = client.post(path, content=body, headers=headers)
            assert r.status_code < 500, (path, ctype, body[:80], r.text)
            if r.status_code >= 400:
                assert r.json()["detail"], (path, ctype, body[:80])
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
        # multipart uploads of random files
        rng = random.Random(1)
        for _ in range(40):
            files = [("file", (f"f{i}.png", rng.choice([rng.randbytes(50), real_png(rng), png_header(9, 9)]),
                               rng.choice(["image/png", "text/plain"]))) for i in range(rng.randrange(1, 4))]
            r = client.post(rng.choice(PATHS), files=files, data={"noise": rng.choice(["gaussian:0.3", "bad", ""])})
            assert r.status_code < 500, r.text
        # a valid request afterwards still gets the right answer
        assert client.get("/health").json()["status"] == "ok"
        x = np.random.default_rng(0).integers(0, 256, size=(2, 8, 8, 1), dtype=np.uint8)
        r = client.post("/reconstruct", json={"images": x.tolist()})
        assert r.status_code == 200
        np.testing.assert_array_equal(np.asarray(r.json()["images"], np.uint8),
                                      app.state.served["deep"].model.reconstruct(x))
    assert sum(statuses.values()) > 250 and len(statuses) >= 4  # the fuzzing reached many different answers
