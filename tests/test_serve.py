"""The HTTP API through FastAPI's TestClient: answers match the Python API; bad requests are 4xx."""

from __future__ import annotations

import io
import json
import threading
import time

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("fastapi", reason="the server needs the serve extra (pip install 'aekit[serve]')")
pytest.importorskip("httpx", reason="FastAPI's TestClient needs httpx")
from fastapi.testclient import TestClient  # noqa: E402

from aekit.data.preprocess import Preprocessing  # noqa: E402
from aekit.model import Model  # noqa: E402
from aekit.models import build_model  # noqa: E402
from aekit.presets import build_run_config  # noqa: E402
from aekit.serve import Limits, create_app  # noqa: E402
from aekit.serve.endpoints import ENDPOINTS, Endpoint  # noqa: E402

SHAPE = (1, 8, 8)


def tiny_model(preset: str, latent: int = 2) -> Model:
    run = build_run_config(preset, input_shape=SHAPE, model={"latent_dim": latent, "channels": (4, 8)},
                           data={"dataset": "digits"})
    torch.manual_seed(0)
    module = build_model(run.model)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.2 * torch.randn_like(p))
    return Model(module, Preprocessing(SHAPE), run)


@pytest.fixture(scope="module")
def models():
    return {"deep": tiny_model("deep"), "vae": tiny_model("vae")}


@pytest.fixture(scope="module")
def client(models):
    with TestClient(create_app(models, test_images=50)) as c:
        yield c


def pixels(n: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 8, 8, 1), dtype=np.uint8)


def png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image)[..., 0] if image.ndim == 3 else image).save(buffer, format="PNG")
    return buffer.getvalue()


def test_health_and_models(client):
    assert client.get("/health").json()["status"] == "ok"
    info = client.get("/models").json()
    assert info["default"] == "deep"
    deep, vae = info["models"]
    assert deep["input_shape"] == [1, 8, 8] and deep["latent_dim"] == 2 and not deep["vae"]
    assert vae["vae"] and vae["latent_range"] == [[-3.0, 3.0]] * 2
    assert deep["test_images"] == 50 and len(deep["latent_range"]) == 2  # from the digits test codes
    assert set(info["endpoints"]) >= {"encode", "decode", "reconstruct", "denoise", "inpaint", "generate",
                                      "interpolate"}
    schema = client.get("/openapi.json").json()
    assert "/reconstruct" in schema["paths"] and "image/png" in json.dumps(schema["paths"]["/reconstruct"])


def test_reconstruct_json_png_and_multipart_agree_with_python(client, models):
    x = pixels()
    want = models["deep"].reconstruct(x)
    r = client.post("/reconstruct", json={"images": x.tolist()})
    assert r.status_code == 200
    body = r.json()
    assert body["shape"] == [3, 8, 8, 1] and body["dtype"] == "uint8"
    np.testing.assert_array_equal(np.asarray(body["images"], np.uint8), want)
    unit = x.astype(np.float64) / 255
    mse = ((unit - want.astype(np.float64) / 255) ** 2).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(body["mse"], mse, atol=2e-3)  # the server's MSE is before uint8 rounding

    r = client.post("/reconstruct", content=png(x[0]), headers={"content-type": "image/png", "accept": "image/png"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(r.content))), want[0, ..., 0])

    files = [("file", (f"{i}.png", png(x[i]), "image/png")) for i in range(3)]
    r = client.post("/reconstruct?model=vae", files=files)
    np.testing.assert_array_equal(np.asarray(r.json()["images"], np.uint8), models["vae"].reconstruct(x))

    floats = (x.reshape(3, 64) / 255.0).astype(np.float32)  # flat float vectors come back flat floats
    r = client.post("/reconstruct", json={"images": floats.tolist()})
    assert r.json()["shape"] == [3, 64] and r.json()["dtype"] == "float32"
    np.testing.assert_allclose(r.json()["images"], models["deep"].reconstruct(floats), atol=1e-6)


def test_denoise_corrupts_on_the_server_reproducibly(client, models):
    x = pixels(2)
    ask = {"images": x.tolist(), "noise": "salt_pepper:0.3", "seed": 7}
    a, b = client.post("/denoise", json=ask).json(), client.post("/denoise", json=ask).json()
    assert a == b
    other = client.post("/denoise", json=ask | {"seed": 8}).json()
    assert other["noisy"] != a["noisy"]
    noisy = np.asarray(a["noisy"], np.uint8)
    assert (noisy != x).mean() > 0.1
    assert a["noise"] == ["salt_pepper:0.3"] and len(a["psnr_noisy"]) == 2
    # salt and pepper only writes 0 or 255, so the uint8 noisy images are exact and the output must equal
    # reconstructing them
    np.testing.assert_array_equal(np.asarray(a["images"], np.uint8), models["deep"].reconstruct(noisy))
    plain = client.post("/denoise", json={"images": x.tolist()}).json()
    assert "noisy" not in plain
    np.testing.assert_array_equal(np.asarray(plain["images"], np.uint8), models["deep"].reconstruct(x))


def test_encode_decode_generate_interpolate_inpaint(client, models):
    x = pixels(2)
    codes = client.post("/encode", json={"images": x.tolist()}).json()["codes"]
    np.testing.assert_allclose(codes, models["deep"].encode(x), atol=1e-6)
    decoded = client.post("/decode", json={"codes": codes}).json()
    np.testing.assert_array_equal(np.asarray(decoded["images"], np.uint8), models["deep"].reconstruct(x))

    r = client.post("/generate?model=vae", json={"n": 5, "seed": 3})
    assert r.status_code == 200 and r.json()["shape"] == [5, 8, 8, 1]
    assert r.json() == client.post("/generate?model=vae&n=5&seed=3").json()  # query parameters work too
    r = client.post("/generate", json={"n": 5})  # deterministic, saved without a mixture sampler
    assert r.status_code == 422 and "--fit-sampler" in r.json()["detail"]

    path = client.post("/interpolate", json={"images": x.tolist(), "steps": 5}).json()
    assert path["shape"] == [5, 8, 8, 1]
    ends = np.asarray(path["images"], np.uint8)[[0, -1]]
    assert np.abs(ends.astype(int) - models["deep"].reconstruct(x).astype(int)).max() <= 1

    filled = np.asarray(client.post("/inpaint", json={"images": x.tolist(), "box": "2,2,3,3"}).json()["images"])
    known = np.ones((8, 8), bool)
    known[2:5, 2:5] = False
    np.testing.assert_array_equal(filled[:, known], x[:, known])
    mask = (~known).astype(int).tolist()
    by_mask = client.post("/inpaint", json={"images": x.tolist(), "mask": mask}).json()["images"]
    assert by_mask == filled.tolist()


@pytest.fixture
def preprocessed(monkeypatch):
    """The shapes of the batches that go through ``Preprocessing.to_model``, in order."""
    seen = []
    to_model = Preprocessing.to_model

    def spy(self, images, device=None):
        seen.append(np.shape(images))
        return to_model(self, images, device)

    monkeypatch.setattr(Preprocessing, "to_model", spy)
    return seen


@pytest.mark.parametrize("path, options", [
    ("/reconstruct", {}), ("/encode", {}), ("/denoise", {}), ("/denoise", {"noise": "gaussian:0.3"}),
    ("/inpaint", {"box": "2,2,3,3"}), ("/interpolate", {"steps": 4}), ("/interpolate?model=vae", {"steps": 3}),
])
def test_a_request_preprocesses_its_images_once(client, preprocessed, path, options):
    seen = preprocessed
    r = client.post(path, json={"images": pixels(2).tolist(), **options})
    assert r.status_code == 200, r.text
    assert seen == [(2, 8, 8, 1)]
    seen.clear()
    files = [("file", (f"{i}.png", png(image), "image/png")) for i, image in enumerate(pixels(2))]
    r = client.post(path, files=files, data={k: str(v) for k, v in options.items()})
    assert r.status_code == 200, r.text
    assert seen == [(2, 8, 8, 1)]


def test_testset_serves_the_digits_test_split(client):
    r = client.get("/testset?offset=10&limit=5").json()
    assert r["total"] == 50 and len(r["images"]) == 5 and len(r["labels"]) == 5
    assert np.asarray(r["images"]).shape == (5, 8, 8, 1) and np.asarray(r["images"]).max() > 100


BAD = [
    # (description, request kwargs, status, message fragment)
    ("garbage PNG", dict(content=b"\x89PNG\r\n\x1a\nnot really", headers={"content-type": "image/png"}), 400,
     "could not decode"),
    ("not a PNG", dict(content=b"GIF89a....", headers={"content-type": "image/png"}), 415, "PNG signature"),
    ("wrong content type", dict(content=b"hello", headers={"content-type": "text/plain"}), 415, "Content-Type"),
    ("wrong image size", dict(content=png(np.zeros((9, 8), np.uint8)), headers={"content-type": "image/png"}),
     422, "8x8"),
    ("huge image", dict(content=png(np.zeros((2000, 1500), np.uint8)), headers={"content-type": "image/png"}),
     413, "1024x1024"),
    ("NaN pixels", dict(content=b'{"images": [[NaN, 0, 0, 0, 0, 0, 0, 0]]}', headers={"content-type":
     "application/json"}), 422, "8x8"),
    ("NaN image", dict(content=json.dumps({"images": [[0.5] * 8] * 7 + [[float("nan")] * 8]}).encode(),
                       headers={"content-type": "application/json"}), 422, "finite"),
    ("pixels over 255", dict(json={"images": [[300] * 8] * 8}), 422, "0..255"),
    ("floats over 1", dict(json={"images": [[3.5] * 8] * 8}), 422, "[0, 1]"),
    ("strings", dict(json={"images": [["a"] * 8] * 8}), 422, "numbers"),
    ("ragged", dict(json={"images": [[0] * 8, [0] * 3]}), 422, "rectangular"),
    ("no images", dict(json={}), 422, "expected images"),
    ("not an object", dict(json=[1, 2, 3]), 400, "JSON object"),
    ("broken JSON", dict(content=b'{"images": [', headers={"content-type": "application/json"}), 400, "not valid"),
    ("deep nesting", dict(content=b"[" * 50000, headers={"content-type": "application/json"}), 400, "JSON"),
    ("unknown option", dict(json={"images": [[0] * 8] * 8, "sigma": 2}), 422, "unknown option"),
    ("too big a batch", dict(json={"images": np.zeros((300, 64), int).tolist()}), 413, "at most 256"),
    ("too large a body", dict(content=b"0" * (5 << 20), headers={"content-type": "application/json"}), 413,
     "at most"),
]


@pytest.mark.parametrize("what,request_kwargs,status,fragment", BAD, ids=[b[0] for b in BAD])
def test_bad_requests_are_4xx_with_a_message(client, what, request_kwargs, status, fragment):
    r = client.post("/reconstruct", **request_kwargs)
    assert r.status_code == status, r.text
    assert fragment in r.json()["detail"], r.json()


@pytest.mark.parametrize("path,kwargs,status,fragment", [
    ("/reconstruct?model=nope", dict(json={"images": [[0] * 8] * 8}), 404, "no model named"),
    ("/denoise", dict(json={"images": [[0] * 8] * 8, "noise": "rainbow:2"}), 422, "unknown corruption"),
    ("/denoise", dict(json={"images": [[0] * 8] * 8, "seed": -1}), 422, "seed"),
    ("/generate?model=vae", dict(json={"n": 10_000}), 413, "at most 256"),
    ("/generate?model=vae", dict(json={"temperature": "hot"}), 422, "temperature"),
    ("/decode", dict(json={"codes": [[0.0, 0.0, 0.0]]}), 422, "(N, 2)"),
    ("/decode", dict(content=b'{"codes": [[NaN, 0]]}', headers={"content-type": "application/json"}), 422, "finite"),
    ("/interpolate", dict(json={"images": pixels(3).tolist()}), 422, "exactly 2"),
    ("/interpolate", dict(json={"images": pixels(2).tolist(), "steps": 1}), 422, "steps"),
    ("/inpaint", dict(json={"images": pixels(1).tolist()}), 422, "exactly one of"),
    ("/inpaint", dict(json={"images": pixels(1).tolist(), "box": "20,20,3,3"}), 422, "outside"),
    ("/reconstruct?format=png", dict(json={"images": pixels(2).tolist()}), 406, "one image"),
    ("/reconstruct?format=gif", dict(json={"images": pixels(1).tolist()}), 422, "format"),
    ("/testset?limit=100000", {}, 422, "limit"),
])
def test_endpoint_specific_errors(client, path, kwargs, status, fragment):
    r = client.get(path) if path.startswith("/testset") else client.post(path, **kwargs)
    assert r.status_code == status, r.text
    assert fragment in r.json()["detail"]


def test_slow_inference_times_out_and_does_not_stall_other_requests(monkeypatch, models):
    release = threading.Event()

    def slow(call):
        release.wait(5)
        return {"done": True}

    monkeypatch.setitem(ENDPOINTS, "slow", Endpoint("slow", "sleeps", slow, takes="nothing"))
    app = create_app(models["deep"], limits=Limits(timeout_s=1.0), test_images=0)
    with TestClient(app) as c:
        answers = {}
        worker = threading.Thread(target=lambda: answers.update(slow=c.post("/slow")))
        worker.start()
        time.sleep(0.2)
        start = time.perf_counter()
        fast = c.post("/reconstruct", json={"images": pixels(1).tolist()})
        health = c.get("/health")
        elapsed = time.perf_counter() - start
        worker.join(10)
        release.set()
    assert fast.status_code == 200 and health.status_code == 200
    assert elapsed < 0.8  # answered while the slow request was still running
    assert answers["slow"].status_code == 503 and "limit of 1 s" in answers["slow"].json()["detail"]


def test_an_endpoint_is_one_registry_entry_even_for_files(monkeypatch, models):
    """What issue 5's compress / decompress endpoints need: bytes out (base64 in JSON), one file in."""
    import base64

    monkeypatch.setitem(ENDPOINTS, "pack", Endpoint(
        "pack", "images -> bytes", lambda call: {"files": [bytes(x.tobytes()) for x in call.images]}))
    monkeypatch.setitem(ENDPOINTS, "unpack", Endpoint(
        "unpack", "bytes -> image", takes="bytes",
        run=lambda call: {"images": np.frombuffer(call.data["file"], np.uint8).reshape(1, 8, 8, 1)}))
    with TestClient(create_app(models["deep"], test_images=0)) as c:
        x = pixels(2)
        files = c.post("/pack", json={"images": x.tolist()}).json()["files"]
        raw = base64.b64decode(files[1])
        assert raw == x[1].tobytes()
        r = c.post("/unpack", content=raw, headers={"content-type": "application/octet-stream"})
        assert np.asarray(r.json()["images"], np.uint8).tolist() == x[1:2].tolist()
        r = c.post("/unpack?format=png", files=[("file", ("x.bin", raw, "application/octet-stream"))])
        assert r.headers["content-type"] == "image/png"
        np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(r.content))), x[1, ..., 0])
        assert c.post("/unpack", files=[("a", ("a", raw)), ("b", ("b", raw))]).status_code == 422
        r = c.post("/reconstruct", content=raw, headers={"content-type": "application/octet-stream"})
        assert r.status_code == 415
        r = c.post("/encode?format=png", json={"images": x.tolist()})
        assert r.status_code == 406 and "answers JSON" in r.json()["detail"]


def test_a_body_that_never_arrives_is_a_408():
    import anyio
    from starlette.requests import Request

    from aekit.serve.handling import read_payload
    from aekit.serve.inputs import RequestError

    async def never():
        await anyio.sleep(60)

    scope = {"type": "http", "method": "POST", "path": "/reconstruct", "headers": [(b"content-type", b"image/png")],
             "query_string": b""}

    async def main():
        with pytest.raises(RequestError) as err:
            await read_payload(Request(scope, never), Limits(timeout_s=0.2))
        return err.value

    started = time.perf_counter()
    err = anyio.run(main)
    assert err.status == 408 and "within 0.2 s" in err.message
    assert time.perf_counter() - started < 5


def test_score_compress_and_decompress_serve_the_fitted_state_saved_with_a_model():
    import base64

    from aekit.codec import fit_codec
    from aekit.codec.codec import Codec
    from aekit.tasks.anomaly import AnomalyDetector

    model = tiny_model("deep")
    normal = pixels(40, seed=1)
    with TestClient(create_app(model, test_images=0)) as c:  # nothing fitted yet: raw scores, no codec
        r = c.post("/score", json={"images": pixels(2).tolist()})
        assert r.status_code == 200 and r.json()["threshold"] is None and r.json()["score"] == "mse"
        r = c.post("/compress", json={"images": pixels(2).tolist()})
        assert r.status_code == 422 and "--fit-codec" in r.json()["detail"]
    detector = AnomalyDetector(model, contamination=0.1).fit(normal)
    fit_codec(model, normal, steps=(1.0,))
    x = pixels(3, seed=2)
    with TestClient(create_app(model, test_images=0)) as c:
        body = c.post("/score", json={"images": x.tolist()}).json()
        np.testing.assert_allclose(body["scores"], detector.score_samples(x), rtol=1e-6)
        assert body["threshold"] == pytest.approx(detector.threshold_)
        assert body["anomaly"] == detector.predict(x).tolist()
        file = base64.b64decode(c.post("/compress", json={"images": x.tolist()}).json()["file"])
        assert file == Codec(model).compress(x)
        r = c.post("/decompress", content=file, headers={"content-type": "application/octet-stream"})
        assert r.status_code == 200
        np.testing.assert_array_equal(np.asarray(r.json()["images"], np.uint8), Codec(model).decompress(file))
        r = c.post("/decompress", content=file[:10], headers={"content-type": "application/octet-stream"})
        assert 400 <= r.status_code < 500


def test_a_vector_model_is_refused_with_a_clear_error():
    import aekit

    rows = np.random.default_rng(0).normal(size=(64, 5))
    model = aekit.fit(rows, preset="dense", epochs=1, latent_dim=2)
    with pytest.raises(aekit.AekitError, match="rows of 5 features.*serves image, table and series models"):
        create_app({"table": model})


def test_score_and_compress_preprocess_their_images_once(preprocessed):
    from aekit.codec import fit_codec
    from aekit.tasks.anomaly import AnomalyDetector

    model = tiny_model("deep")
    normal = pixels(40, seed=1)
    AnomalyDetector(model, contamination=0.1).fit(normal)
    fit_codec(model, normal, steps=(1.0,))
    seen = preprocessed
    with TestClient(create_app(model, test_images=0)) as c:
        for path, options in (("/score", {}), ("/score", {"score": "ssim"}), ("/compress", {})):
            seen.clear()
            r = c.post(path, json={"images": pixels(2).tolist(), **options})
            assert r.status_code == 200, r.text
            assert seen == [(2, 8, 8, 1)], path
