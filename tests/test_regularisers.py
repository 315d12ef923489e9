"""Regularisers against brute-force references: L1, KL sparsity, and the contractive Jacobian norm."""

from __future__ import annotations

import math

import pytest
import torch

from aekit.config import ModelConfig, ObjectiveConfig
from aekit.errors import AekitError
from aekit.models import build_model
from aekit.objectives import build_objective, jacobian_frobenius_sq, kl_sparsity, l1_code
from aekit.objectives.regularisers import closed_form_supported


def brute_force_frobenius(model, x: torch.Tensor) -> torch.Tensor:
    """||dz/dx||_F^2 per sample from the full Jacobian of each sample, one at a time."""
    values = []
    for xb in x:
        jac = torch.autograd.functional.jacobian(lambda v: model.encode(v.unsqueeze(0))[0], xb, create_graph=True)
        values.append(jac.pow(2).sum())
    return torch.stack(values)


def tiny_model(**kwargs) -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = ModelConfig(input_shape=kwargs.pop("input_shape", (1, 6, 6)), latent_dim=kwargs.pop("latent_dim", 4),
                      **kwargs)
    return build_model(cfg).double()


def test_l1_against_hand_computation():
    z = torch.tensor([[1.0, -2.0, 0.0], [0.5, 0.0, -0.25]])
    torch.testing.assert_close(l1_code(z), torch.tensor([3.0, 0.75]))


def test_kl_sparsity_against_hand_computation():
    z = torch.tensor([[0.1, 0.9], [0.3, 0.5]])
    rho = 0.2
    expected = 0.0
    for rho_hat in (0.2, 0.7):
        expected += rho * math.log(rho / rho_hat) + (1 - rho) * math.log((1 - rho) / (1 - rho_hat))
    out = kl_sparsity(z, rho)
    assert out.shape == (2,)
    torch.testing.assert_close(out, torch.full((2,), expected))
    assert float(kl_sparsity(torch.full((5, 3), rho), rho)[0]) == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize("code_activation", ["sigmoid", "relu", "tanh", "none", "gelu"])
def test_closed_form_equals_the_brute_force_jacobian(code_activation):
    model = tiny_model(hidden=(), code_activation=code_activation)
    assert closed_form_supported(model)
    x = torch.rand(5, 1, 6, 6, dtype=torch.float64)
    ours = jacobian_frobenius_sq(model, x, "closed_form")
    reference = brute_force_frobenius(model, x)
    assert torch.allclose(ours, reference, rtol=1e-5, atol=0), (ours, reference)
    torch.testing.assert_close(jacobian_frobenius_sq(model, x, "exact"), reference, rtol=1e-5, atol=1e-12)


def test_it_is_not_the_squared_gradient_of_the_summed_code():
    """The shortcut ||d(sum_j z_j)/dx||^2 lets Jacobian rows cancel; the Frobenius norm does not."""
    model = tiny_model(hidden=(), code_activation="tanh")
    x = torch.rand(5, 1, 6, 6, dtype=torch.float64).requires_grad_(True)
    (summed,) = torch.autograd.grad(model.encode(x).sum(), x)
    shortcut = summed.pow(2).flatten(1).sum(1)
    ours = jacobian_frobenius_sq(model, x)
    assert not torch.allclose(ours, shortcut, rtol=1e-2)


@pytest.mark.parametrize("kwargs", [
    dict(architecture="mlp", hidden=(12, 8), activation="tanh", code_activation="sigmoid"),
    dict(architecture="conv", channels=(3, 4), activation="elu"),
    dict(architecture="conv", channels=(3, 4), downsample="pool", bottleneck="spatial", latent_dim=1),
])
def test_exact_equals_the_brute_force_jacobian_for_deep_and_conv_encoders(kwargs):
    model = tiny_model(**kwargs)
    assert not closed_form_supported(model)
    x = torch.rand(4, 1, 6, 6, dtype=torch.float64)
    ours = jacobian_frobenius_sq(model, x, "auto")
    reference = brute_force_frobenius(model, x)
    assert torch.allclose(ours, reference, rtol=1e-5, atol=0), (ours, reference)


@pytest.mark.parametrize("method, kwargs", [
    ("closed_form", dict(hidden=(), code_activation="sigmoid")),
    ("exact", dict(hidden=(7,), activation="tanh")),
])
def test_parameter_gradients_equal_the_brute_force_ones(method, kwargs):
    model = tiny_model(**kwargs)
    x = torch.rand(3, 1, 6, 6, dtype=torch.float64)
    params = [p for p in model.encoder.parameters()]
    ours = torch.autograd.grad(jacobian_frobenius_sq(model, x, method).sum(), params, allow_unused=True,
                               materialize_grads=True)
    reference = torch.autograd.grad(brute_force_frobenius(model, x).sum(), params, allow_unused=True,
                                    materialize_grads=True)
    for a, b in zip(ours, reference, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-10)


def test_hutchinson_is_unbiased_and_differentiable():
    model = tiny_model(hidden=(10,), activation="tanh")
    x = torch.rand(4, 1, 6, 6, dtype=torch.float64)
    exact = brute_force_frobenius(model, x).detach()
    torch.manual_seed(0)
    estimate = jacobian_frobenius_sq(model, x, "hutchinson", probes=4000)
    torch.testing.assert_close(estimate.detach(), exact, rtol=0.05, atol=0)
    estimate.sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoder.parameters())


def test_contractive_term_also_works_without_grad_during_evaluation():
    model = tiny_model(hidden=(), code_activation="sigmoid")
    x = torch.rand(3, 1, 6, 6, dtype=torch.float64)
    with torch.no_grad():
        value = jacobian_frobenius_sq(model, x)
    torch.testing.assert_close(value, brute_force_frobenius(model, x).detach())


def test_objective_reports_each_weighted_term_and_sums_them():
    cfg = ModelConfig(input_shape=(1, 6, 6), latent_dim=4, hidden=(), code_activation="sigmoid")
    torch.manual_seed(0)
    model = build_model(cfg)
    objective = build_objective(ObjectiveConfig(l1=0.1, sparsity=0.5, sparsity_target=0.1, contractive=0.01), cfg)
    x = torch.rand(8, 1, 6, 6)
    terms = objective(model, x)
    assert set(terms) == {"recon", "l1", "sparsity", "contractive", "loss"}
    z = model.encode(x)
    torch.testing.assert_close(terms["l1"], 0.1 * z.abs().sum(1).mean())
    torch.testing.assert_close(terms["sparsity"], 0.5 * kl_sparsity(z, 0.1)[0])
    torch.testing.assert_close(terms["contractive"], 0.01 * brute_force_frobenius(model, x).mean(),
                               rtol=1e-5, atol=1e-8)
    torch.testing.assert_close(terms["loss"], terms["recon"] + terms["l1"] + terms["sparsity"] + terms["contractive"])


@pytest.mark.parametrize("objective, model, message", [
    (dict(sparsity=1.0), dict(code_activation="relu"), "code_activation=sigmoid"),
    (dict(contractive=0.1), dict(batch_norm=True, hidden=(8,)), "batch_norm=false"),
    (dict(contractive=0.1, contractive_method="closed_form"), dict(hidden=(8,)), "one-layer encoder"),
])
def test_incompatible_settings_are_refused(objective, model, message):
    with pytest.raises(AekitError, match=message):
        build_objective(ObjectiveConfig(**objective), ModelConfig(input_shape=(1, 6, 6), **model))


@pytest.mark.parametrize("kwargs, message", [
    (dict(l1=-1.0), "l1"),
    (dict(sparsity_target=1.0), "sparsity_target"),
    (dict(contractive_method="guess"), "contractive_method"),
    (dict(contractive_probes=0), "contractive_probes"),
])
def test_objective_config_validation(kwargs, message):
    with pytest.raises(AekitError, match=message):
        ObjectiveConfig(**kwargs)
