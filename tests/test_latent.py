"""Latent diagnostics: statistics against hand-made codes, eval.json and report sections, sparsity effect."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aekit.data import ImageSet
from aekit.data.preprocess import Preprocessing
from aekit.model import Model
from aekit.models import build_model
from aekit.objectives import build_objective
from aekit.presets import build_run_config
from aekit.runs.report import write_run_report
from aekit.tasks.evaluate import evaluate_model, format_table
from aekit.tasks.latent import code_statistics


def test_code_statistics_against_a_hand_made_code():
    z = torch.tensor([
        [0.0, 2.0, 0.0, 5.0],
        [0.0, 0.0, 0.0, 5.0],
        [0.0, 4.0, 0.01, 5.0],
        [0.0, 0.0, 0.0, 5.0],
    ])
    s = code_statistics(z)
    assert s["code_size"] == 4 and s["n"] == 4
    assert s["threshold"] == pytest.approx(0.05)  # 1% of the largest |z|
    assert s["per_unit"]["activation_rate"] == [0.0, 0.5, 0.0, 1.0]  # 0.01 is under the threshold
    # unit 0 never fires, unit 2 never crosses the threshold, unit 3 is constant: all dead
    assert s["dead_units"] == 3 and s["dead_unit_indices"] == [0, 2, 3]
    assert s["mean_abs_activation"] == pytest.approx(float(z.abs().mean()))
    assert s["mean_activation_rate"] == pytest.approx(0.375)
    assert sum(s["histogram"]["counts"]) == 16 and len(s["histogram"]["edges"]) == 51


def blobs(n: int = 400) -> np.ndarray:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:8, 0:8]
    c = rng.uniform(2, 6, size=(n, 2, 1, 1))
    return (np.exp(-((xx - c[:, 0]) ** 2 + (yy - c[:, 1]) ** 2) / 4.0) * 255).astype(np.uint8)[..., None]


def train_tiny(preset: str, steps: int = 150, model: dict | None = None, **objective):
    run = build_run_config(preset, input_shape=(1, 8, 8), model={"latent_dim": 16, **(model or {})},
                           objective=objective)
    torch.manual_seed(0)
    module = build_model(run.model)
    loss_fn = build_objective(run.objective, run.model)
    opt = torch.optim.Adam(module.parameters(), lr=3e-3)
    x = torch.from_numpy(blobs(200)).permute(0, 3, 1, 2).float() / 255
    for _ in range(steps):
        terms = loss_fn(module, x)
        opt.zero_grad()
        terms["loss"].backward()
        opt.step()
    return Model(module, Preprocessing((1, 8, 8)), run)


def test_l1_lowers_the_mean_activation_of_the_code():
    plain = train_tiny("dense")
    sparse = train_tiny("sparse", l1=3e-2)
    test = ImageSet(blobs(100))
    a = evaluate_model(plain, test)["latent"]
    b = evaluate_model(sparse, test)["latent"]
    assert b["mean_abs_activation"] < 0.5 * a["mean_abs_activation"], (a["mean_abs_activation"],
                                                                        b["mean_abs_activation"])


def test_eval_and_report_carry_the_diagnostics(tmp_path):
    model = train_tiny("dense", steps=20)
    test = ImageSet(blobs(60), labels=np.arange(60, dtype=np.int64) % 3)
    result = evaluate_model(model, test, pca_train=ImageSet(blobs(200)), keep_pca=True)
    latent = result["latent"]
    assert latent["code_size"] == 16 and len(latent["per_unit"]["activation_rate"]) == 16
    assert "dead units" in format_table(result)
    report = write_run_report(tmp_path, model, result, test, history=[])
    html = report.read_text()
    assert "Latent code" in html and "mean activation rate" in html
    assert (tmp_path / "code_histogram.png").stat().st_size > 1000
    assert (tmp_path / "unit_activation.png").stat().st_size > 1000


def test_kl_sparsity_pulls_the_mean_activation_towards_the_target():
    sigmoid_code = {"hidden": (), "code_activation": "sigmoid"}
    plain = train_tiny("deep", model=sigmoid_code)
    sparse = train_tiny("deep", model=sigmoid_code, sparsity=1.0, sparsity_target=0.05)
    test = ImageSet(blobs(100))
    a = evaluate_model(plain, test)["latent"]["mean_activation"]
    b = evaluate_model(sparse, test)["latent"]["mean_activation"]
    assert b < 0.1 < a, (a, b)
