"""``aekit serve`` / ``aekit view`` from the command line: a real uvicorn process answers; bad arguments exit 2."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("uvicorn", reason="the server needs the serve extra (pip install 'aekit[serve]')")
httpx = pytest.importorskip("httpx")

from aekit.cli import main  # noqa: E402
from aekit.cli.serve import load_models  # noqa: E402
from aekit.data.preprocess import Preprocessing  # noqa: E402
from aekit.model import Model, save_model  # noqa: E402
from aekit.models import build_model  # noqa: E402
from aekit.presets import build_run_config  # noqa: E402

SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    run = build_run_config("deep", input_shape=(1, 8, 8), model={"latent_dim": 4})
    torch.manual_seed(0)
    model = Model(build_model(run.model), Preprocessing((1, 8, 8)), run)
    out = tmp_path_factory.mktemp("serve") / "deep4"
    save_model(model, out / "model")
    return out


def test_model_names(run_dir):
    models = load_models([str(run_dir), f"other={run_dir / 'model'}", str(run_dir)], "cpu")
    assert list(models) == ["deep4", "other", "deep4-2"]


@pytest.mark.parametrize("argv,message", [
    (["serve", "no/such/run"], "no such run"),
    (["serve", "{run}", "--threads", "0"], "--threads"),
    (["view", "{run}", "--timeout", "-1"], "--timeout"),
])
def test_bad_arguments_exit_2(run_dir, capsys, argv, message):
    assert main([a.format(run=run_dir) for a in argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_serve_runs_a_real_server(run_dir):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    server = subprocess.Popen([sys.executable, "-m", "aekit.cli", "serve", str(run_dir), "--port", str(port),
                               "--test-images", "0"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).json()["models"] == ["deep4"]:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None and time.time() < deadline, "the server did not start"
            time.sleep(0.2)
        image = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        r = httpx.post(f"{url}/reconstruct", content=buffer.getvalue(),
                       headers={"content-type": "image/png", "accept": "image/png"})
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        assert np.asarray(Image.open(io.BytesIO(r.content))).shape == (8, 8)
        assert httpx.get(f"{url}/docs").status_code == 200
        assert "aekit viewer" in httpx.get(f"{url}/viewer/").text
    finally:
        server.terminate()
        out, _ = server.communicate(timeout=20)
    assert "listening on" in out
