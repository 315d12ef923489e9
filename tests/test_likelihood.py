"""ELBO and importance-weighted NLL against an exact likelihood, and their ordering on a trained VAE."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from aekit.config import ModelConfig, ObjectiveConfig
from aekit.data.preprocess import Preprocessing
from aekit.errors import AekitError
from aekit.model import Model
from aekit.models import build_model
from aekit.models.latents import LOGVAR_RANGE, soft_clamp
from aekit.objectives import Objective
from aekit.presets import build_run_config
from aekit.tasks.likelihood import (
    PosteriorCollapseWarning,
    active_units,
    collapse_message,
    elbo,
    evaluate_likelihood,
    evaluation_target,
    iw_log_likelihood,
)

SIGMA = 0.5
W = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 2.0], [0.0, -2.0]])  # orthogonal columns: diagonal posterior
B = torch.tensor([0.1, -0.2, 0.3, 0.0])


@pytest.fixture(autouse=True)
def _one_thread():
    # Tiny models: a second thread only adds synchronisation, and on a busy shared machine
    # two threads per process oversubscribe the cores and run many times slower.
    torch.set_num_threads(1)


def linear_gaussian_vae(exact: bool = True):
    """x = W z + b + σ ε with z ~ N(0, I): p(x) is N(b, W Wᵀ + σ² I), and q can be the exact posterior."""
    cfg = ModelConfig(input_shape=(1, 2, 2), latent_dim=2, hidden=(), latent="gaussian", output_activation="none")
    model = build_model(cfg).eval()
    post_var = 1.0 / (1.0 + (W ** 2).sum(0) / SIGMA ** 2)  # diag (I + WᵀW/σ²)⁻¹
    gain = post_var[:, None] * W.T / SIGMA ** 2  # μ = gain (x − b)
    with torch.no_grad():
        model.decoder[0].weight.copy_(W)
        model.decoder[0].bias.copy_(B)
        enc = model.encoder[-1]
        enc.weight.zero_()
        enc.weight[:2] = gain
        enc.bias[:2] = -gain @ B
        enc.bias[2:] = inverse_soft_clamp(torch.log(post_var))
        if not exact:
            enc.bias[:2] += 0.4
            enc.bias[2:] += 0.7
    return model, ObjectiveConfig(reconstruction="gaussian", reduction="sum", sigma=SIGMA)


def inverse_soft_clamp(y: torch.Tensor) -> torch.Tensor:
    """The raw encoder output whose clamped log-variance is ``y`` (Newton's method)."""
    h = y.clone()
    for _ in range(20):
        slope = torch.sigmoid(h - LOGVAR_RANGE[0]) - torch.sigmoid(h - LOGVAR_RANGE[1])
        h = h - (soft_clamp(h, *LOGVAR_RANGE) - y) / slope
    return h


def exact_log_px(x: torch.Tensor) -> torch.Tensor:
    cov = W @ W.T + SIGMA ** 2 * torch.eye(4)
    return torch.distributions.MultivariateNormal(B, cov).log_prob(x.flatten(1))


def samples(n: int = 200) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    z = torch.randn(n, 2, generator=g)
    return (z @ W.T + B + SIGMA * torch.randn(n, 4, generator=g)).view(n, 1, 2, 2)


def test_elbo_and_iw_equal_the_exact_likelihood_when_q_is_the_posterior():
    model, cfg = linear_gaussian_vae(exact=True)
    x = samples()
    exact = exact_log_px(x).double()
    # every importance weight p(x|z) p(z) / q(z|x) equals p(x): exact for any K, even K = 1
    for k in (1, 50):
        iw = iw_log_likelihood(model, x, cfg, k, generator=torch.Generator().manual_seed(2))
        torch.testing.assert_close(iw, exact, atol=2e-3, rtol=0)
    # the ELBO's one-sample reconstruction term is noisy per image, but its mean is log p(x)
    bound = elbo(model, x, cfg, generator=torch.Generator().manual_seed(1))["elbo"]
    sem = float((bound - exact).std()) / math.sqrt(len(x))
    assert abs(float((bound - exact).mean())) < 4 * sem + 1e-3


def test_iw_bound_tightens_with_k_towards_the_exact_likelihood():
    model, cfg = linear_gaussian_vae(exact=False)
    x = samples(300)
    exact = float(exact_log_px(x).mean())
    g = torch.Generator().manual_seed(1)
    lower = float(elbo(model, x, cfg, generator=g)["elbo"].mean())
    iw = {k: float(iw_log_likelihood(model, x, cfg, k, rows=512, generator=g).mean()) for k in (10, 1000)}
    assert lower < iw[10] < iw[1000] <= exact + 0.01, (lower, iw, exact)
    assert exact - iw[1000] < 0.05  # K = 1000 is nearly exact here
    assert exact - lower > 0.1  # and the ELBO is visibly loose: the test can tell them apart


def test_chunking_does_not_change_the_estimate():
    model, cfg = linear_gaussian_vae(exact=False)
    x = samples(7)
    a = iw_log_likelihood(model, x, cfg, 64, rows=64, generator=torch.Generator().manual_seed(3))
    b = iw_log_likelihood(model, x, cfg, 64, rows=640, generator=torch.Generator().manual_seed(3))
    assert a.shape == (7,) and torch.isfinite(a).all() and torch.isfinite(b).all()
    # different chunkings draw the samples in a different order, but estimate the same quantity
    torch.testing.assert_close(a.mean(), b.mean(), atol=0.05, rtol=0)


@pytest.fixture(scope="module")
def trained_vae():
    """A small VAE trained for a few hundred steps on binarised 8x8 digits."""
    from sklearn.datasets import load_digits

    torch.set_num_threads(1)  # module fixtures run before the autouse one
    images = load_digits().images.astype(np.float32) / 16.0  # (1797, 8, 8) in [0, 1]
    x = torch.from_numpy(images).unsqueeze(1)
    run = build_run_config("vae", input_shape=(1, 8, 8), model={"latent_dim": 4, "hidden": (64, 32)},
                           objective={"binarize": "dynamic"})
    torch.manual_seed(0)
    module = build_model(run.model)
    objective = Objective(run.objective, run.model)
    opt = torch.optim.Adam(module.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    train = x[:1400]
    for step in range(400):
        batch = train[(torch.arange(64) + 64 * step) % len(train)]
        loss = objective(module.train(), batch, generator=g)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    model = Model(module.eval(), Preprocessing((1, 8, 8)), run)
    return model, x[1400:]


def test_elbo_below_iw_below_iw_with_more_samples_on_a_trained_vae(trained_vae):
    model, test = trained_vae
    x = evaluation_target(model, test, seed=0)
    assert set(x.unique().tolist()) == {0.0, 1.0}  # binarised once with a fixed seed
    torch.testing.assert_close(evaluation_target(model, test, seed=0), x)
    cfg = model.config.objective
    g = torch.Generator().manual_seed(0)
    lower = float(elbo(model.module, x, cfg, generator=g)["elbo"].mean())
    iw10 = float(iw_log_likelihood(model.module, x, cfg, 10, generator=g).mean())
    iw200 = float(iw_log_likelihood(model.module, x, cfg, 200, generator=g).mean())
    assert lower < iw10 < iw200 < 0, (lower, iw10, iw200)


def test_evaluate_likelihood_reports_parts_and_active_units(trained_vae):
    model, test = trained_vae
    with warnings.catch_warnings():
        warnings.simplefilter("error", PosteriorCollapseWarning)  # a trained VAE has not collapsed
        result = evaluate_likelihood(model, test, k=20, limit=50, per_sample=True)
    per_image = result.pop("per_sample")
    assert per_image["elbo"].shape == (len(test),) and per_image["log_px"].shape == (50,)
    assert result["nll"] == pytest.approx(-float(per_image["log_px"].mean()))
    assert result["elbo"] == pytest.approx(-(result["recon"] + result["kl"]))
    assert result["nll"] <= -result["elbo_same_images"] and result["nll_n"] == 50
    assert result["kl"] == pytest.approx(sum(result["kl_per_dim"]), rel=1e-3)
    assert 1 <= result["active_units"] <= 4 and result["collapse"] is None


def test_active_units_count_dimensions_with_varying_means():
    means = torch.zeros(100, 3)
    means[:, 0] = torch.linspace(-1, 1, 100)  # variance ~0.34: active
    means[:, 1] = torch.linspace(-0.05, 0.05, 100)  # variance ~0.0009: inactive
    count, variances = active_units(means)
    assert count == 1 and variances.shape == (3,)


def test_collapsed_posterior_warns():
    run = build_run_config("vae", input_shape=(1, 4, 4), model={"latent_dim": 3, "hidden": (8,)})
    module = build_model(run.model).eval()
    with torch.no_grad():
        module.encoder[-1].weight.zero_()
        module.encoder[-1].bias.zero_()  # q(z|x) = N(0, I) for every x: the prior
    model = Model(module, Preprocessing((1, 4, 4)), run)
    x = torch.rand(20, 1, 4, 4)
    with pytest.warns(PosteriorCollapseWarning, match="posterior collapse"):
        result = evaluate_likelihood(model, x, k=5)
    assert result["kl"] == pytest.approx(0.0, abs=1e-6) and result["active_units"] == 0
    assert collapse_message(5.0, 2, 32) is not None and collapse_message(5.0, 20, 32) is None


def test_likelihood_needs_a_vae():
    run = build_run_config("deep", input_shape=(1, 4, 4), model={"latent_dim": 2})
    model = Model(build_model(run.model), Preprocessing((1, 4, 4)), run)
    with pytest.raises(AekitError, match="VAE"):
        evaluate_likelihood(model, torch.rand(4, 1, 4, 4), k=5)


def test_iw_rejects_k_below_one():
    model, cfg = linear_gaussian_vae()
    with pytest.raises(AekitError, match="k >= 1"):
        iw_log_likelihood(model, samples(2), cfg, 0)
    assert math.isfinite(float(iw_log_likelihood(model, samples(2), cfg, 1).mean()))
