"""The web viewer in a real browser: Playwright drives Debian's Chromium (headless) against a live server.

Loads the page, presses space (noise is added, the output changes, the corrupted image differs
from the clean one), switches the noise type, steps to the next test image, moves a latent
slider and the interpolation slider, and uploads a file. Screenshots are written to
``test-artifacts/browser/`` (or ``$AEKIT_TEST_ARTIFACTS``). Skipped only where
``/usr/bin/chromium`` is missing; CI installs it (``.ci/run``).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)")

ARTIFACTS = Path(os.environ.get("AEKIT_TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts"))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def vae_2d():
    from aekit.data.preprocess import Preprocessing
    from aekit.model import Model
    from aekit.models import build_model
    from aekit.presets import build_run_config

    run = build_run_config("vae", input_shape=(1, 8, 8), model={"latent_dim": 2, "hidden": (32,)},
                           data={"dataset": "digits"})
    torch.manual_seed(0)
    module = build_model(run.model)
    with torch.no_grad():  # random weights with some spread, so every input and code gives a different image
        for p in module.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return Model(module, Preprocessing((1, 8, 8)), run)


@pytest.fixture(scope="module")
def server_url():
    import uvicorn

    from aekit.serve import create_app

    app = create_app({"vae2": vae_2d()}, test_images=40)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    assert server.started, "the test server did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    sock.close()


def pixels(page, canvas_id: str) -> np.ndarray:
    data = page.evaluate("""(id) => { const c = document.getElementById(id);
        return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data); }""", canvas_id)
    return np.asarray(data, dtype=np.uint8).reshape(-1, 4)[:, 0]


def settled(page, counter: str = "renders", after: int | None = None) -> int:
    """Wait until no request is in flight (and ``counter`` moved past ``after``); return the counter."""
    condition = "document.body.dataset.busy === '0'"
    if after is not None:
        condition += f" && Number(document.body.dataset.{counter} || 0) > {after}"
    page.wait_for_function(condition, timeout=15000)
    return int(page.evaluate(f"Number(document.body.dataset.{counter} || 0)"))


def test_viewer_in_chromium(server_url, tmp_path):
    from playwright.sync_api import sync_playwright

    out = ARTIFACTS / "browser"
    out.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 1000})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
            page.goto(f"{server_url}/viewer/")
            page.wait_for_function("document.body.dataset.ready === '1'", timeout=20000)
            renders = settled(page)
            assert "test image 1/40" in page.text_content("#source")
            assert page.text_content("#mse") not in ("", "–")  # reconstruction error of the current image
            clean, output = pixels(page, "input"), pixels(page, "output")
            assert clean.size == 64 and clean.max() > 0
            page.screenshot(path=str(out / "1-loaded.png"))

            # space adds noise: the corrupted image differs from the clean one and the output changes
            page.keyboard.press("Space")
            renders = settled(page, after=renders)
            noisy = pixels(page, "noisy")
            assert page.text_content("#noise-level") == "1"
            assert (noisy != clean).any(), "the corrupted image equals the clean one"
            assert (pixels(page, "input") == clean).all(), "the clean input changed"
            page.keyboard.press("Space")
            renders = settled(page, after=renders)
            output2 = pixels(page, "output")
            assert (output2 != output).any(), "the output did not change after adding noise"
            assert page.text_content("#noise-level") == "2"
            page.screenshot(path=str(out / "2-noise.png"))

            # another noise type, then the next test image, then reset
            page.keyboard.press("s")
            renders = settled(page, after=renders)
            assert "salt" in page.text_content("#noisy-caption")
            page.keyboard.press("ArrowRight")
            renders = settled(page, after=renders)
            assert "test image 2/40" in page.text_content("#source")
            assert (pixels(page, "input") != clean).any()
            page.keyboard.press("r")
            renders = settled(page, after=renders)
            assert page.text_content("#noise-level") == "0"
            page.locator("#index").fill("7")
            page.locator("#index").press("Enter")
            renders = settled(page, after=renders)
            assert "test image 7/40" in page.text_content("#source")

            # a latent slider decodes live
            sliders = page.locator(".latent-slider")
            assert sliders.count() == 2
            before = pixels(page, "latent-image")
            latent_renders = settled(page, "latentRenders")
            sliders.nth(0).fill("2.5")
            sliders.nth(1).fill("-2.5")
            settled(page, "latentRenders", after=latent_renders)
            assert (pixels(page, "latent-image") != before).any(), "moving the latent sliders changed nothing"

            # the interpolation slider walks from A's reconstruction to B's
            first = pixels(page, "interp-image")
            page.locator("#interp").fill("10")
            page.wait_for_timeout(100)
            assert (pixels(page, "interp-image") != first).any()
            page.screenshot(path=str(out / "3-sliders.png"))

            # upload a file: a 40x40 white square on black, resized to the model's 8x8
            upload = np.zeros((40, 40), np.uint8)
            upload[5:35, 15:25] = 255
            Image.fromarray(upload).save(tmp_path / "bar.png")
            page.set_input_files("#upload", str(tmp_path / "bar.png"))
            settled(page, after=renders)
            assert "upload: bar.png" in page.text_content("#source")
            shown = pixels(page, "input").reshape(8, 8)
            assert shown[:, 3:5].mean() > 150 and shown[:, :2].max() < 60  # the bar, resized
            page.screenshot(path=str(out / "4-upload.png"))
        finally:
            browser.close()
    assert not errors, errors
    assert sorted(p.name for p in out.glob("*.png"))[:4] == ["1-loaded.png", "2-noise.png", "3-sliders.png",
                                                             "4-upload.png"]
