"""Regularisers: penalties on the code or on the encoder, added to the reconstruction term.

Every term here returns a per-sample value, shape (B,), already multiplied by its weight, so
the :class:`~aekit.objectives.Objective` averages it over the batch and the trainer logs it.

- **L1 on the code** (sparse autoencoder): ``l1 * sum_j |z_j|``.
- **KL sparsity** (Ng, "Sparse autoencoder", CS294A notes, 2011): for a sigmoid code, the
  mean activation of unit j over the batch, ``rho_hat_j``, is pulled towards a target rate
  ``rho`` by ``beta * sum_j KL(rho || rho_hat_j)``. It is a statistic of the whole batch, so
  every sample carries the same value.
- **Contractive** (Rifai et al., "Contractive auto-encoders: explicit invariance during
  feature extraction", ICML 2011): ``lambda * ||J(x)||_F^2`` with ``J = dz/dx`` the full
  (k x n) Jacobian of the code with respect to the input, per sample. This is the sum of the
  squares of *all* k*n partial derivatives -- not the squared gradient of the summed code
  ``||d(sum_j z_j)/dx||^2`` that some libraries compute (pythae's ``_compute_gp``), which
  lets the rows of J cancel. :func:`jacobian_frobenius_sq` computes it three ways:

  * ``closed_form`` -- one linear layer and an elementwise activation, ``z = f(Wx + b)``:
    ``J = diag(f'(h)) W``, so ``||J||_F^2 = sum_j f'(h_j)^2 ||W_j||^2``. For a sigmoid code
    ``f'(h) = z(1 - z)``, Rifai's formula. Costs about one extra matrix-vector product.
  * ``exact`` -- any encoder: one batched vector-Jacobian product per code unit (``vmap`` of a
    ``vjp`` over the k one-hot cotangents), giving every row of J for the whole batch; about
    k backward passes of the encoder, and the graph is kept for the parameter gradient.
  * ``hutchinson`` -- an unbiased estimate ``E_v ||J^T v||^2 = ||J||_F^2`` for Rademacher
    probes ``v`` in code space, ``P`` probes per sample: P backward passes whatever k is,
    for large codes (spatial ones) where k passes are too many.

  All three treat samples independently, so the encoder must not use batch statistics
  (batch norm in training mode); :func:`build_regularisers` refuses that combination.
- **Rate** (learned compression): the bits per pixel of a quantised code under the latent's
  learned density.

Each is one penalty registered with :func:`register_regulariser` (in
:data:`aekit.registry.REGULARISERS`); a regulariser added from outside is weighted through
``objective.regularisers`` (``"name:weight"``) and needs no config change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..config import ModelConfig, ObjectiveConfig
from ..errors import AekitError
from ..registry import LATENTS, REGULARISERS

__all__ = ["RegulariserKind", "build_regularisers", "closed_form_supported", "jacobian_frobenius_sq", "kl_sparsity",
           "l1_code", "rate_bpp", "register_regulariser", "regulariser_weights"]


def l1_code(z: torch.Tensor) -> torch.Tensor:
    """``sum_j |z_j|`` per sample, (B,)."""
    return z.flatten(1).abs().sum(1)


def kl_sparsity(z: torch.Tensor, rho: float, eps: float = 1e-6) -> torch.Tensor:
    """``sum_j KL(rho || rho_hat_j)`` over code units, the same value for each sample, (B,).

    Args:
        z: codes in [0, 1] (a sigmoid code), (B, k).
        rho: target mean activation, in (0, 1).
        eps: keeps ``rho_hat`` away from 0 and 1 so the logs stay finite.
    """
    rho_hat = z.flatten(1).float().mean(0).clamp(eps, 1.0 - eps)  # (k,)
    kl = rho * torch.log(rho / rho_hat) + (1.0 - rho) * torch.log((1.0 - rho) / (1.0 - rho_hat))
    return kl.sum().expand(z.shape[0])


# --------------------------------------------------------------------------- contractive
def _one_layer(model: nn.Module) -> nn.Linear | None:
    """The linear layer of an encoder that is exactly ``Flatten -> Linear``, else ``None``."""
    enc = getattr(model, "encoder", None)
    if isinstance(enc, nn.Sequential) and len(enc) == 2 and isinstance(enc[0], nn.Flatten) \
            and isinstance(enc[1], nn.Linear):
        return enc[1]
    return None


def closed_form_supported(model: nn.Module) -> bool:
    """Whether ``z = f(Wx + b)``: a Flatten+Linear encoder and a deterministic elementwise latent."""
    return _one_layer(model) is not None and hasattr(getattr(model, "latent", None), "act")


def _closed_form(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    linear = _one_layer(model)
    if linear is None or not closed_form_supported(model):
        raise AekitError("contractive_method=closed_form needs a one-layer encoder (model.architecture=mlp, "
                         "model.hidden=); use contractive_method=exact or auto")
    h = linear(x.flatten(1))  # (B, k) pre-activations
    # f'(h) for the elementwise code activation: the gradient of sum(f(h)) is exactly that.
    z = model.latent.act(h)
    (slope,) = torch.autograd.grad(z.sum(), h, create_graph=True)
    row_norms = linear.weight.pow(2).sum(1)  # (k,): ||W_j||^2
    return slope.pow(2) @ row_norms


def _vjp_rows(model: nn.Module, x: torch.Tensor, cotangents: torch.Tensor) -> torch.Tensor:
    """``J^T v`` for each cotangent ``v`` in ``cotangents`` (P, B, k) -> (P, B, C, H, W)."""
    z, vjp_fn = torch.func.vjp(model.encode, x)
    (rows,) = torch.func.vmap(vjp_fn)(cotangents.to(z.dtype))
    return rows


def _exact(model: nn.Module, x: torch.Tensor, chunk: int = 64) -> torch.Tensor:
    with torch.no_grad():
        k = model.encode(x[:1]).shape[1]
    total = x.new_zeros(x.shape[0])
    for start in range(0, k, chunk):  # chunks of one-hot cotangents bound the vmapped batch
        units = torch.arange(start, min(k, start + chunk), device=x.device)
        basis = torch.nn.functional.one_hot(units, k).to(x.dtype)  # (P, k)
        rows = _vjp_rows(model, x, basis[:, None, :].expand(len(units), x.shape[0], k))
        total = total + rows.pow(2).flatten(2).sum(2).sum(0)
    return total


def _hutchinson(model: nn.Module, x: torch.Tensor, probes: int) -> torch.Tensor:
    with torch.no_grad():
        k = model.encode(x[:1]).shape[1]
    # Rademacher probes (E[v v^T] = I, lower variance than Gaussian ones), from the global RNG
    # so that checkpoints, which save it, resume the same draws.
    v = torch.randint(0, 2, (probes, x.shape[0], k), device=x.device).to(x.dtype).mul_(2).sub_(1)
    rows = _vjp_rows(model, x, v)
    return rows.pow(2).flatten(2).sum(2).mean(0)


def jacobian_frobenius_sq(model: nn.Module, x: torch.Tensor, method: str = "auto",
                          probes: int = 1) -> torch.Tensor:
    """``||dz/dx||_F^2`` for each sample, (B,), differentiable with respect to the parameters.

    ``z = model.encode(x)``; the Jacobian of each sample's code (k values) with respect to
    that sample's input (n = C*H*W values), squared and summed over all k*n entries.

    Args:
        model: an :class:`~aekit.models.Autoencoder` (anything with ``encode``; the closed
            form also needs ``encoder`` and ``latent.act``).
        x: inputs in model space, (B, C, H, W).
        method: ``auto`` (closed form when the encoder is one linear layer, else exact),
            ``closed_form``, ``exact`` or ``hutchinson``; see the module docstring.
        probes: random projections per sample for ``hutchinson``.
    """
    if method not in ("auto", "closed_form", "exact", "hutchinson"):
        raise AekitError(f"contractive_method: expected auto, closed_form, exact or hutchinson; got {method!r}")
    x = x.detach()
    training = torch.is_grad_enabled()
    with torch.enable_grad():  # also inside evaluation's no_grad: the term itself is a derivative
        if method == "closed_form" or (method == "auto" and closed_form_supported(model)):
            value = _closed_form(model, x)
        elif method in ("exact", "auto"):
            value = _exact(model, x)
        else:
            value = _hutchinson(model, x, probes)
    return value if training else value.detach()  # no graph kept when called without grad


# --------------------------------------------------------------------------- the registry entry
# A penalty gets the model, the (possibly corrupted) input, the forward output and the objective's
# config, and returns an unweighted per-sample value (B,).
Penalty = Callable[[nn.Module, torch.Tensor, Any, ObjectiveConfig], torch.Tensor]
# A term as the Objective calls it: term(model, x_in, out) -> weighted (B,) penalty.
Regulariser = Callable[[nn.Module, torch.Tensor, object], torch.Tensor]


@dataclass(frozen=True)
class RegulariserKind:
    """A registered regulariser.

    Attributes:
        name: its name, in the loss terms and in ``objective.regularisers`` specs (``"name:weight"``).
        penalty: ``penalty(model, x_in, out, config)`` -> unweighted per-sample penalty (B,).
        check: ``check(config, model_config)`` raises :class:`AekitError` when the term cannot
            work with that model (``model_config`` may be ``None``: nothing to check against).
        needs_fp32: automatic precision keeps fp32 when this term is on (untested under bf16).
        weight_field: the :class:`ObjectiveConfig` field holding its weight: the built-in ones
            have one (saved configs use them); ``None`` reads the weight from
            ``objective.regularisers``.
    """

    name: str
    penalty: Penalty
    check: Callable[[ObjectiveConfig, ModelConfig | None], None] | None = None
    needs_fp32: bool = False
    weight_field: str | None = None


def register_regulariser(name: str, *, check: Callable[[ObjectiveConfig, ModelConfig | None], None] | None = None,
                         needs_fp32: bool = False, weight_field: str | None = None) -> Callable[[Penalty], Penalty]:
    """Register ``penalty(model, x_in, out, config) -> (B,)`` as the regulariser ``name``.

    Its weight is the weight of its ``"name:weight"`` spec in ``objective.regularisers`` (or the
    config field ``weight_field``, which only the built-in ones have), so one added from outside
    needs no config change::

        @register_regulariser("code_l2")
        def code_l2(model, x, out, config):
            return out.z.flatten(1).pow(2).sum(1)

        aekit.fit(images, preset="deep", regularisers=("code_l2:1e-3",))
    """
    def add(penalty: Penalty) -> Penalty:
        REGULARISERS.register(name, RegulariserKind(name, penalty, check, needs_fp32, weight_field))
        return penalty
    return add


def regulariser_weights(config: ObjectiveConfig) -> dict[str, float]:
    """The regularisers an objective turns on (weight > 0), in registration then spec order."""
    weights = {name: float(getattr(config, kind.weight_field)) for name, kind in REGULARISERS.items()
               if kind.weight_field is not None}
    for spec in config.regularisers:
        name, _, weight = spec.partition(":")
        weights[name.strip()] = float(weight)
    return {name: w for name, w in weights.items() if w > 0}


def _weighted(penalty: Penalty, weight: float, config: ObjectiveConfig) -> Regulariser:
    return lambda model, x, out: weight * penalty(model, x, out, config)


def build_regularisers(config: ObjectiveConfig, model_config: ModelConfig | None = None) -> dict[str, Regulariser]:
    """The weighted terms an :class:`ObjectiveConfig` asks for, checked against the model.

    Each term is called as ``term(model, x_in, out)`` and returns a weighted (B,) penalty.
    """
    terms: dict[str, Regulariser] = {}
    for name, weight in regulariser_weights(config).items():
        kind = REGULARISERS.get(name)
        if kind.check is not None:
            kind.check(config, model_config)
        terms[name] = _weighted(kind.penalty, weight, config)
    return terms


# --------------------------------------------------------------------------- the built-in regularisers
@register_regulariser("l1", weight_field="l1")
def l1_penalty(model: nn.Module, x: torch.Tensor, out: Any, config: ObjectiveConfig) -> torch.Tensor:
    """L1 on the code (sparse autoencoder)."""
    return l1_code(out.z)


def _check_sparsity(config: ObjectiveConfig, model_config: ModelConfig | None) -> None:
    if model_config is not None and model_config.code_activation != "sigmoid":
        raise AekitError(
            "objective.sparsity (KL to a target rate) needs codes in [0, 1]: set model.code_activation=sigmoid; "
            f"got code_activation={model_config.code_activation!r} (or use objective.l1 for an L1 penalty)"
        )


@register_regulariser("sparsity", check=_check_sparsity, weight_field="sparsity")
def sparsity_penalty(model: nn.Module, x: torch.Tensor, out: Any, config: ObjectiveConfig) -> torch.Tensor:
    """KL of each unit's mean activation to the target rate ``objective.sparsity_target``."""
    return kl_sparsity(out.z, config.sparsity_target)


def _check_contractive(config: ObjectiveConfig, model_config: ModelConfig | None) -> None:
    if model_config is None:
        return
    if model_config.batch_norm:
        raise AekitError("objective.contractive needs per-sample Jacobians, which batch statistics mix; "
                         "set model.batch_norm=false")
    one_layer = model_config.architecture == "mlp" and model_config.hidden == ()
    if config.contractive_method == "closed_form" and not one_layer:
        raise AekitError("objective.contractive_method=closed_form needs a one-layer encoder "
                         f"(model.architecture=mlp, model.hidden=); got architecture="
                         f"{model_config.architecture!r}, hidden={model_config.hidden!r}; use auto or exact")


@register_regulariser("contractive", check=_check_contractive, needs_fp32=True, weight_field="contractive")
def contractive_penalty(model: nn.Module, x: torch.Tensor, out: Any, config: ObjectiveConfig) -> torch.Tensor:
    """``||dz/dx||_F^2`` by ``objective.contractive_method``."""
    return jacobian_frobenius_sq(model, x, config.contractive_method, config.contractive_probes)


def _check_rate(config: ObjectiveConfig, model_config: ModelConfig | None) -> None:
    if model_config is not None and not LATENTS.get(model_config.latent).learns_code_density:
        raise AekitError("objective.rate charges the bits of a quantised code: expected model.latent=quantised; "
                         f"got latent={model_config.latent!r} (or use preset codec)")


@register_regulariser("rate", check=_check_rate, needs_fp32=True, weight_field="rate")
def rate_penalty(model: nn.Module, x: torch.Tensor, out: Any, config: ObjectiveConfig) -> torch.Tensor:
    """Bits per pixel of the code under the latent's learned density."""
    return rate_bpp(model, x, out.z)


def rate_bpp(model: nn.Module, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Estimated bits per pixel of each code under the latent's learned density, (B,).

    ``z`` carries the training noise (the latent adds it), so this is the entropy-bottleneck
    rate estimate; pixels are ``C*H*W`` values of one input.
    """
    density = getattr(getattr(model, "latent", None), "density", None)
    if density is None:
        raise AekitError("objective.rate needs a latent with a learned density (model.latent=quantised)")
    return density.bits(z.flatten(1)) / x[0].numel()
