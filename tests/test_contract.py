"""The contract every preset keeps, checked on a tiny CPU config (1x8x8 input, 2-D code).

A new preset added to ``aekit.presets.PRESETS`` is picked up here automatically.
"""

from __future__ import annotations

import pytest
import torch

from aekit.data.preprocess import Preprocessing
from aekit.errors import AekitError
from aekit.model import Model, load_model, save_model
from aekit.models import build_model
from aekit.objectives import build_objective
from aekit.presets import PRESETS, build_run_config

SHAPE = (1, 8, 8)


def tiny(preset: str):
    run = build_run_config(preset, input_shape=SHAPE, model={"latent_dim": 2, "channels": (4, 8)},
                           train={"epochs": 1})
    torch.manual_seed(0)
    return run, build_model(run.model), build_objective(run.objective, run.model)


def batch(n: int = 16) -> torch.Tensor:
    """Binary images drawn from two prototypes: learnable through a 2-D code."""
    g = torch.Generator().manual_seed(1)
    prototypes = (torch.rand(2, *SHAPE, generator=g) > 0.5).float()
    return prototypes[torch.arange(n) % 2]


@pytest.fixture(params=sorted(PRESETS))
def preset(request):
    return request.param


def test_shapes(preset):
    run, model, _ = tiny(preset)
    model.eval()
    x = batch()
    out = model(x)
    k = run.model.code_size  # 2, or 2 channels per position of a spatial code
    assert out.x_hat.shape == x.shape
    assert out.z.shape == (16, k)
    assert model.encode(x).shape == (16, k)
    assert model.decode(model.encode(x)).shape == x.shape
    assert torch.isfinite(out.x_hat).all()


def test_save_load_round_trip(preset, tmp_path):
    run, module, _ = tiny(preset)
    model = Model(module, Preprocessing(SHAPE), run)
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    x = batch()
    with torch.no_grad():
        torch.testing.assert_close(loaded.module(x).x_hat, model.module(x).x_hat, rtol=0, atol=0)
    assert loaded.config == model.config
    assert loaded.identity() == model.identity()


def test_eval_mode_is_deterministic(preset):
    _, model, _ = tiny(preset)
    model.eval()
    x = batch()
    with torch.no_grad():
        a, b = model(x), model(x)
    assert torch.equal(a.x_hat, b.x_hat) and torch.equal(a.z, b.z)


def test_loss_falls_on_one_batch(preset):
    _, model, objective = tiny(preset)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x = batch(32)
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
    assert last < 0.75 * first, (first, last)


def test_bad_input_is_rejected(preset):
    run, module, _ = tiny(preset)
    model = Model(module, Preprocessing(SHAPE), run)
    with pytest.raises(AekitError, match="expects 8x8 grayscale"):
        model.reconstruct(torch.zeros(2, 1, 9, 9, dtype=torch.uint8))
    with pytest.raises(AekitError, match="NaN"):
        model.encode(torch.full((2, 1, 8, 8), float("nan")))
    with pytest.raises(AekitError, match=r"\[0, 1\]"):
        model.encode(torch.full((2, 1, 8, 8), 7.0))
    with pytest.raises(AekitError, match="expected a batch of shape"):
        module(torch.zeros(2, 1, 9, 9))
