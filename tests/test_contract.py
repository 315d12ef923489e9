"""The contract every preset keeps, on every kind of data it takes, checked on tiny CPU configs:
images 1x8x8, vectors of 12 features and series windows of 2 channels x 16 steps, 2-D codes.

A new preset added to ``aekit.presets.PRESETS``, or a new kind an architecture takes, is picked
up here automatically.
"""

from __future__ import annotations

import pytest
import torch

from aekit.data.preprocess import Preprocessing
from aekit.data.series import SeriesPreprocessing
from aekit.data.vectors import VectorPreprocessing
from aekit.errors import AekitError
from aekit.model import Model, load_model, save_model
from aekit.models import ARCHITECTURES, build_model
from aekit.objectives import build_objective
from aekit.presets import PRESETS, build_run_config

SHAPES = {"image": (1, 8, 8), "vector": (12,), "series": (2, 16)}


def preprocessing(kind: str):
    if kind == "series":
        return SeriesPreprocessing(channels=("a", "b"), window=16, mean=(1.0, -2.0), std=(2.0, 0.5))
    return Preprocessing(SHAPES["image"]) if kind == "image" else VectorPreprocessing(SHAPES["vector"])


def tiny(preset: str, kind: str):
    run = build_run_config(preset, input_shape=SHAPES[kind], kind=kind,
                           model={"latent_dim": 2, "channels": (4, 8)}, train={"epochs": 1})
    torch.manual_seed(0)
    return run, build_model(run.model), build_objective(run.objective, run.model,
                                                        data_range=preprocessing(kind).model_range())


def batch(kind: str, n: int = 16) -> torch.Tensor:
    """Samples drawn from two prototypes: learnable through a 2-D code. Binary images; vectors of
    standardised-looking features."""
    g = torch.Generator().manual_seed(1)
    if kind == "image":
        prototypes = (torch.rand(2, *SHAPES[kind], generator=g) > 0.5).float()
    else:
        prototypes = torch.randn(2, *SHAPES[kind], generator=g)
    return prototypes[torch.arange(n) % 2]


CASES = [(name, kind) for name, spec in sorted(PRESETS.items())
         for kind in ARCHITECTURES.get(spec.model["architecture"]).kinds]


@pytest.fixture(params=CASES, ids=[f"{p}-{k}" for p, k in CASES])
def case(request):
    return request.param


def test_every_kind_is_covered():
    kinds = {k for _, k in CASES}
    assert kinds == set(SHAPES), kinds
    assert {p for p, k in CASES if k == "vector"} >= {"dense", "deep", "denoising", "sparse", "contractive", "vae"}
    assert {p for p, k in CASES if k == "series"} >= {"conv1d", "conv1d-denoising", "conv1d-vae", "lstm", "lstm-vae",
                                                      "deep"}


def test_shapes(case):
    preset, kind = case
    run, model, _ = tiny(preset, kind)
    model.eval()
    x = batch(kind)
    out = model(x)
    k = run.model.code_size  # 2, or 2 channels per position of a spatial code
    assert out.x_hat.shape == x.shape
    assert out.z.shape == (16, k)
    assert model.encode(x).shape == (16, k)
    assert model.decode(model.encode(x)).shape == x.shape
    assert torch.isfinite(out.x_hat).all()


def test_save_load_round_trip(case, tmp_path):
    preset, kind = case
    run, module, _ = tiny(preset, kind)
    model = Model(module, preprocessing(kind), run)
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    x = batch(kind)
    with torch.no_grad():
        torch.testing.assert_close(loaded.module(x).x_hat, model.module(x).x_hat, rtol=0, atol=0)
    assert loaded.config == model.config
    assert loaded.preprocessing == model.preprocessing
    assert loaded.identity() == model.identity()


def test_eval_mode_is_deterministic(case):
    _, model, _ = tiny(*case)
    model.eval()
    x = batch(case[1])
    with torch.no_grad():
        a, b = model(x), model(x)
    assert torch.equal(a.x_hat, b.x_hat) and torch.equal(a.z, b.z)


def test_loss_falls_on_one_batch(case):
    _, model, objective = tiny(*case)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x = batch(case[1], 32)
    gen = torch.Generator().manual_seed(0)
    first = None
    for _ in range(150):
        terms = objective(model, x, generator=gen)
        assert "loss" in terms and "recon" in terms
        opt.zero_grad()
        terms["loss"].backward()
        opt.step()
        first = float(terms["loss"].detach()) if first is None else first
    with torch.no_grad():
        last = float(objective(model.eval(), x, generator=gen)["loss"])
    # a Gaussian likelihood's loss can go below zero: compare how far it fell, not a ratio
    assert last < first - 0.25 * abs(first), (first, last)


def test_bad_input_is_rejected(case):
    preset, kind = case
    run, module, _ = tiny(preset, kind)
    model = Model(module, preprocessing(kind), run)
    if kind == "image":
        with pytest.raises(AekitError, match="expects 8x8 grayscale"):
            model.reconstruct(torch.zeros(2, 1, 9, 9, dtype=torch.uint8))
        with pytest.raises(AekitError, match="NaN"):
            model.encode(torch.full((2, 1, 8, 8), float("nan")))
        with pytest.raises(AekitError, match=r"\[0, 1\]"):
            model.encode(torch.full((2, 1, 8, 8), 7.0))
        with pytest.raises(AekitError, match="expected a batch of shape"):
            module(torch.zeros(2, 1, 9, 9))
    elif kind == "series":
        with pytest.raises(AekitError, match="windows of 16 steps"):
            model.reconstruct(torch.zeros(2, 2, 17))
        with pytest.raises(AekitError, match="NaN"):
            model.encode(torch.full((2, 2, 16), float("nan")))
        with pytest.raises(AekitError, match="text"):
            model.encode(__import__("pandas").DataFrame({"a": ["x"] * 20, "b": [1.0] * 20}))
        with pytest.raises(AekitError, match="fewer than one window"):
            model.encode(torch.zeros(10, 2).numpy())
        with pytest.raises(AekitError, match="expected a batch of shape"):
            module(torch.zeros(2, 2, 17))
    else:
        with pytest.raises(AekitError, match="rows of 12 features"):
            model.reconstruct(torch.zeros(2, 13))
        with pytest.raises(AekitError, match="NaN"):
            model.encode(torch.full((2, 12), float("nan")))
        with pytest.raises(AekitError, match="numeric"):
            model.encode([["a"] * 12])
        with pytest.raises(AekitError, match="expected a batch of shape"):
            module(torch.zeros(2, 13))
    assert model.reconstruct(batch(kind)[:3]).shape == (3, *SHAPES[kind])


def test_image_only_architectures_refuse_vectors():
    conv = [name for name, spec in PRESETS.items()
            if "vector" not in ARCHITECTURES.get(spec.model["architecture"]).kinds]
    assert conv  # conv presets exist and take images only
    run = build_run_config(conv[0], kind="vector", model={"bottleneck": "dense"})
    with pytest.raises(AekitError, match="takes image data; this data is vector"):
        build_model(run.model.with_overrides(input_shape=(12,)))
