"""The Gaussian latent, the KL term and the VAE loss conventions, against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from aekit.config import ModelConfig, ObjectiveConfig
from aekit.errors import AekitError
from aekit.models import build_model
from aekit.models.latents import LOGVAR_RANGE, DiagonalGaussian, GaussianLatent, soft_clamp, standard_normal_log_prob
from aekit.objectives import Objective, binarize, free_bits_kl, warmup_factor
from aekit.objectives.reconstruction import static_uniforms

SHAPE = (1, 4, 4)


@pytest.fixture(autouse=True)
def _one_thread():
    # Tiny models: a second thread only adds synchronisation, and on a busy shared machine
    # two threads per process oversubscribe the cores and run many times slower.
    torch.set_num_threads(1)


def vae(latent_dim: int = 3, **model) -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = ModelConfig(input_shape=SHAPE, latent_dim=latent_dim, hidden=(8,), latent="gaussian", **model)
    return build_model(cfg)


def data(n: int = 6) -> torch.Tensor:
    return torch.rand(n, *SHAPE, generator=torch.Generator().manual_seed(3))


# ----------------------------------------------------------------------------- the latent
def test_gaussian_latent_heads_sampling_and_mean():
    model = vae(3)
    assert model.encoder[-1].out_features == 6  # μ and log σ² heads
    x = data()
    model.train()
    a, b = model(x), model(x)
    assert not torch.equal(a.z, b.z)  # reparameterised samples differ
    torch.testing.assert_close(a.posterior.mean, b.posterior.mean)
    model.eval()
    out = model(x)
    torch.testing.assert_close(out.z, out.posterior.mean)
    torch.testing.assert_close(model.encode(x), out.posterior.mean)  # encode stays a code tensor
    q = model.posterior(x)
    assert isinstance(q, DiagonalGaussian) and q.sample().shape == (6, 3) and q.kl().shape == (6,)
    assert q.sample(5).shape == (5, 6, 3)


def test_reparameterisation_carries_gradients():
    latent = GaussianLatent(2).train()
    h = torch.randn(4, 4, requires_grad=True)
    z, _ = latent(h)
    z.sum().backward()
    assert h.grad is not None and h.grad.abs().sum() > 0


def test_logvar_is_softly_clamped_and_stays_finite():
    h = torch.tensor([[0.0, 1e4, -1e4, 0.5]])  # μ = (0, 1e4), raw log σ² = (-1e4, 0.5)
    q = GaussianLatent(2).posterior(h)
    lo, hi = LOGVAR_RANGE
    assert lo <= float(q.logvar.min()) and float(q.logvar.max()) <= hi
    assert torch.isfinite(q.kl()).all() and torch.isfinite(q.log_prob(q.sample())).all()
    # identity well inside the range, and a gradient that does not stop dead at the bounds
    torch.testing.assert_close(soft_clamp(torch.tensor([-3.0, 0.0, 2.5]), lo, hi), torch.tensor([-3.0, 0.0, 2.5]),
                               atol=1e-3, rtol=0)
    out = torch.tensor([lo - 2.0, hi + 2.0], requires_grad=True)
    soft_clamp(out, lo, hi).sum().backward()
    assert (out.grad > 0.1).all()


def test_posterior_needs_a_gaussian_latent():
    model = build_model(ModelConfig(input_shape=SHAPE, latent_dim=2, hidden=(8,)))
    with pytest.raises(AekitError, match="probabilistic latent"):
        model.posterior(data())


def test_config_rejects_inconsistent_vae_settings():
    with pytest.raises(AekitError, match="code_activation"):
        ModelConfig(latent="gaussian", code_activation="relu")
    with pytest.raises(AekitError, match="binarize"):
        ObjectiveConfig(binarize="sometimes")
    with pytest.raises(AekitError, match="beta"):
        ObjectiveConfig(beta=-1)
    with pytest.raises(AekitError, match="reconstruction=gaussian"):
        Objective(ObjectiveConfig(reconstruction="bce"), ModelConfig(latent="gaussian", learn_sigma=True))


# ----------------------------------------------------------------------------- KL
def test_kl_matches_a_hand_computed_value():
    q = DiagonalGaussian(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, math.log(4.0)]]))
    # dim 0: ½(1 + 1 − 1 − 0) = 0.5;  dim 1: ½(0 + 4 − 1 − log 4) = 0.8068528
    torch.testing.assert_close(q.kl_per_dim(), torch.tensor([[0.5, 0.5 * (3 - math.log(4.0))]]))
    torch.testing.assert_close(q.kl(), torch.tensor([0.5 + 0.5 * (3 - math.log(4.0))]))


def test_analytic_kl_equals_monte_carlo_estimate():
    g = torch.Generator().manual_seed(0)
    q = DiagonalGaussian(torch.randn(4, 5, generator=g), torch.randn(4, 5, generator=g).clamp(-2, 2))
    z = q.sample(200_000, generator=torch.Generator().manual_seed(1))  # (S, 4, 5)
    terms = (q.log_prob(z) - standard_normal_log_prob(z)).double()  # log q − log p, (S, 4)
    mc, sem = terms.mean(0), terms.std(0) / math.sqrt(terms.shape[0])
    analytic = q.kl().double()
    assert torch.all((mc - analytic).abs() < 4 * sem + 1e-3), (mc, analytic, sem)


def test_log_prob_is_the_gaussian_density():
    q = DiagonalGaussian(torch.tensor([[0.5, -1.0]]), torch.tensor([[math.log(0.25), 0.0]]))
    z = torch.tensor([[1.0, 0.0]])
    expected = torch.distributions.Normal(q.mean, q.std).log_prob(z).sum(-1)
    torch.testing.assert_close(q.log_prob(z), expected)


def test_free_bits_floors_the_batch_mean_per_dimension():
    kl = torch.tensor([[0.1, 2.0, 0.4], [0.3, 1.0, 0.8]])  # batch means 0.2, 1.5, 0.6
    per_sample = free_bits_kl(kl, 0.5)
    # dim 0 is below 0.5 -> 0.5 for every sample; dims 1 and 2 keep their values
    torch.testing.assert_close(per_sample, torch.tensor([0.5 + 2.0 + 0.4, 0.5 + 1.0 + 0.8]))
    assert float(per_sample.mean()) == pytest.approx(max(0.5, 0.2) + max(0.5, 1.5) + max(0.5, 0.6))
    torch.testing.assert_close(free_bits_kl(kl, 0.0), kl.sum(-1))


def test_warmup_is_linear_then_flat():
    assert warmup_factor(0.0, 4) == 0.0
    assert warmup_factor(1.0, 4) == 0.25
    assert warmup_factor(9.0, 4) == 1.0
    assert warmup_factor(0.0, 0) == 1.0


# ----------------------------------------------------------------------------- the VAE loss
def _by_hand(model, x, generator_seed: int):
    """−log p(x|z) summed over pixels and KL summed over dims, per sample, in float64."""
    h = model.encoder(x)
    mu, raw = h.chunk(2, dim=-1)
    logvar = soft_clamp(raw, *LOGVAR_RANGE)
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(generator_seed))
    z = mu + torch.exp(0.5 * logvar) * eps
    p = torch.sigmoid(model.decoder(z)).double()
    xd = x.double()
    recon = -(xd * torch.log(p) + (1 - xd) * torch.log(1 - p)).flatten(1).sum(1)
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).double().sum(1)
    return recon, kl


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_vae_loss_sign_reduction_and_beta_by_hand(reduction):
    model = vae(3).eval()
    x = data()
    objective = Objective(ObjectiveConfig(reconstruction="bce", reduction=reduction, beta=2.5))
    with torch.no_grad():
        terms = objective(model, x, generator=torch.Generator().manual_seed(7))
        recon, kl = _by_hand(model, x, 7)
    scale = 1.0 if reduction == "sum" else 1.0 / x[0].numel()
    assert float(terms["recon"]) == pytest.approx(float(recon.mean()) * scale, rel=1e-5)
    assert float(terms["kl"]) == pytest.approx(2.5 * float(kl.mean()) * scale, rel=1e-5)
    assert float(terms["loss"]) == pytest.approx(float(terms["recon"] + terms["kl"]), rel=1e-6)
    assert float(terms["recon"]) > 0 and float(terms["kl"]) > 0  # a loss: the negative ELBO
    if reduction == "sum":  # β = 1 would make the loss exactly −ELBO of the sampled z
        elbo = -(recon + kl).mean()
        assert float(terms["recon"] + terms["kl"] / 2.5) == pytest.approx(-float(elbo), rel=1e-5)


def test_warmup_and_free_bits_apply_to_training_only():
    model = vae(3)
    x = data()
    cfg = ObjectiveConfig(reduction="sum", kl_warmup=4.0, free_bits=100.0)  # every dim floored at 100
    objective = Objective(cfg)
    model.train()
    torch.manual_seed(0)
    train_terms = objective(model, x, epoch=1.0)
    assert float(train_terms["kl"].detach()) == pytest.approx(0.25 * 100.0 * 3, rel=1e-6)  # warm-up 1/4, free bits
    model.eval()
    with torch.no_grad():
        eval_terms = objective(model, x, generator=torch.Generator().manual_seed(0), epoch=1.0)
        expected = float(model.posterior(x).kl().mean())
    assert float(eval_terms["kl"]) == pytest.approx(expected, rel=1e-5)  # full β, no floor


def test_gaussian_likelihood_by_hand_fixed_and_learned_sigma():
    torch.manual_seed(0)
    x = data()
    for learn in (False, True):
        cfg = ModelConfig(input_shape=SHAPE, latent_dim=2, hidden=(8,), latent="gaussian",
                          output_activation="none", learn_sigma=learn)
        model = build_model(cfg).eval()
        objective = Objective(ObjectiveConfig(reconstruction="gaussian", reduction="sum", sigma=0.3), cfg)
        terms = objective(model, x, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            z = model.posterior(x).sample(generator=torch.Generator().manual_seed(1))
            mean = model.decode(z).double()
        sigma = float(model.log_sigma.detach().exp()) if learn else 0.3  # learned σ starts at 1
        nll = (0.5 * ((x.double() - mean) / sigma) ** 2 + math.log(sigma) + 0.5 * math.log(2 * math.pi))
        assert float(terms["recon"].detach()) == pytest.approx(float(nll.flatten(1).sum(1).mean()), rel=1e-5)
        if learn:
            terms["loss"].backward()
            assert model.raw_log_sigma.grad is not None and model.raw_log_sigma.grad.abs().sum() > 0


# ----------------------------------------------------------------------------- binarisation
def test_dynamic_binarisation_is_bernoulli_and_fresh():
    x = torch.full((50, 1, 20, 20), 0.3)
    g = torch.Generator().manual_seed(0)
    a, b = binarize(x, "dynamic", g), binarize(x, "dynamic", g)
    assert set(a.unique().tolist()) <= {0.0, 1.0}
    assert float(a.mean()) == pytest.approx(0.3, abs=0.01)
    assert not torch.equal(a, b)
    torch.testing.assert_close(binarize(x, "dynamic", torch.Generator().manual_seed(0)), a)
    assert torch.equal(binarize(x, "none"), x)


def test_static_binarisation_is_fixed_per_image():
    g = torch.Generator().manual_seed(0)
    images = (torch.rand(8, 1, 30, 30, generator=g) * 255).round() / 255
    once = binarize(images, "static")
    again = binarize(images[[3, 1, 7]], "static")  # other batch, other order: same draws
    torch.testing.assert_close(again, once[[3, 1, 7]])
    flat = torch.full((1, 1, 100, 100), 0.3)
    assert float(binarize(flat, "static").mean()) == pytest.approx(0.3, abs=0.015)
    u = static_uniforms(images)
    assert 0 < float(u.min()) and float(u.max()) < 1 and float(u.mean()) == pytest.approx(0.5, abs=0.02)
    assert not torch.equal(once[0], once[1])


def test_binarisation_rejects_normalised_data():
    with pytest.raises(AekitError, match=r"\[0, 1\]"):
        binarize(torch.tensor([[-0.5, 1.2]]), "dynamic")


def test_objective_binarises_input_and_target():
    model = vae(2).eval()
    seen = {}
    original = model.forward

    def spy(x):
        seen["x"] = x
        return original(x)

    model.forward = spy
    Objective(ObjectiveConfig(reduction="sum", binarize="dynamic"))(model, data(), generator=torch.Generator())
    assert set(seen["x"].unique().tolist()) <= {0.0, 1.0}
