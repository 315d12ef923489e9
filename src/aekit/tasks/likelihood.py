"""Likelihood evaluation of VAEs: the ELBO and its parts, importance-weighted NLL, active units.

For a VAE with posterior q(z|x), prior p(z) = N(0, I) and decoder likelihood p(x|z):

- ``elbo(x) = E_q[log p(x|z)] − KL(q(z|x) ‖ p(z))``, estimated with one posterior sample per
  image; ``recon`` is ``−log p(x|z)`` at that sample and ``kl`` the analytic KL, both summed
  over pixels / latent dimensions, in nats per image.
- ``log p(x) ≈ log (1/K) Σ_k p(x|z_k) p(z_k) / q(z_k|x)``, z_k ~ q(z|x) (Burda, Grosse &
  Salakhutdinov 2016, "Importance Weighted Autoencoders"). In expectation it is a lower bound
  on log p(x) that rises with K towards it; K = 1 is the ELBO. The K samples are drawn and
  decoded in chunks of about ``rows`` decoder inputs, so K = 5000 runs on a CPU in bounded memory.
- Active units (Burda et al. 2016): dimension u is active when ``Var_x(E_q[z_u]) > 0.01``.
  A VAE whose KL is ~0 and has no active unit has suffered posterior collapse: its decoder
  ignores the code.

Likelihoods are of the data in model space. With ``objective.binarize`` set, the images are
binarised once with a fixed seed (dynamic) or the static rule, so every evaluation sees the
same binary test set; the Bernoulli likelihood of non-binary images is only a cross-entropy.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch

from ..config import ObjectiveConfig
from ..errors import AekitError
from ..model import Model
from ..models import AEOutput, Autoencoder
from ..objectives.reconstruction import reconstruction_term, static_uniforms
from ..registry import LIKELIHOODS

ACTIVE_THRESHOLD = 0.01
COLLAPSE_KL = 0.5  # nats per image: below this the code carries next to no information
ACTIVE_KL_HINT = 0.01  # nats: bars below this are drawn as collapsed dimensions
REPORT_K = 100  # importance samples in the automatic report (the bench uses 5000)
REPORT_LIMIT = 1000  # test images for the report's IW estimate


class PosteriorCollapseWarning(UserWarning):
    """The posterior matches the prior: the decoder ignores the code."""


def is_probabilistic(module: Autoencoder) -> bool:
    """Whether the model's codes have a prior p(z), so that p(x) and the ELBO exist."""
    return module.latent.prior is not None


def decoder_distribution(model: Model) -> str | None:
    """The decoder's likelihood p(x|z) (``"bernoulli"``, ``"gaussian"``), or ``None`` for a plain error."""
    return LIKELIHOODS.get(model.config.objective.reconstruction).distribution


def check_probabilistic(model: Model) -> None:
    if not is_probabilistic(model.module):
        raise AekitError(
            f"likelihoods need a VAE (model.latent=gaussian); {model.config.preset!r} has a deterministic "
            "latent, so it defines no p(x); train --preset vae or conv-vae"
        )
    if decoder_distribution(model) is None:
        valid = [name for name, kind in LIKELIHOODS.items() if kind.distribution is not None]
        raise AekitError("likelihoods need a probabilistic decoder: expected objective.reconstruction "
                         f"{' or '.join(valid)}; got {model.config.objective.reconstruction}")


def evaluation_target(model: Model, x_unit: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Test images (N, C, H, W) in [0, 1] -> model space, binarised once when the objective binarises.

    Dynamic binarisation is replaced by one Bernoulli draw with a fixed seed, so every
    evaluation of every model scores the same binary images.
    """
    mode = model.config.objective.binarize
    if mode == "dynamic":
        g = torch.Generator().manual_seed(seed)
        x_unit = (torch.rand(x_unit.shape, generator=g) < x_unit).float()
    elif mode == "static":
        x_unit = (static_uniforms(x_unit) < x_unit).float()
    return model.preprocessing.batch_to_model(x_unit.float())


def _log_px_given_z(module: Autoencoder, config: ObjectiveConfig, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x|z) summed over pixels, (B,) for z (B, k) and x (B, C, H, W)."""
    logits = module.decode_logits(z).float()
    out = AEOutput(logits, z, None, module.log_sigma, module.output_activation)
    summed = ObjectiveConfig(reconstruction=config.reconstruction, reduction="sum", sigma=config.sigma)
    return -reconstruction_term(summed)(out, x, "sum")


@torch.inference_mode()
def elbo(module: Autoencoder, x: torch.Tensor, config: ObjectiveConfig, *, generator: torch.Generator | None = None,
         batch_size: int = 1024) -> dict[str, torch.Tensor]:
    """Per-image ELBO and its parts in nats, each (N,): ``recon`` (−log p(x|z)), ``kl``, ``elbo``.

    One posterior sample per image; β, warm-up and free bits play no part (this is the bound).
    """
    module.eval()
    parts: dict[str, list[torch.Tensor]] = {"recon": [], "kl": []}
    for start in range(0, x.shape[0], batch_size):
        xb = x[start:start + batch_size]
        q = module.posterior(xb)
        z = q.sample(generator=generator)
        parts["recon"].append(-_log_px_given_z(module, config, z, xb).cpu())
        parts["kl"].append(q.kl().cpu())
    out = {k: torch.cat(v).double() for k, v in parts.items()}
    out["elbo"] = -(out["recon"] + out["kl"])
    return out


@torch.inference_mode()
def iw_log_likelihood(
    module: Autoencoder, x: torch.Tensor, config: ObjectiveConfig, k: int = 5000, *, rows: int = 8192,
    generator: torch.Generator | None = None, progress: bool = False,
) -> torch.Tensor:
    """Importance-weighted estimate of log p(x) per image, (N,) float64 nats (−NLL).

    Args:
        module: a VAE in model space.
        x: images in model space (binary for a Bernoulli likelihood), (N, C, H, W).
        config: the objective (which likelihood, σ).
        k: importance samples per image.
        rows: decoder inputs per chunk: the chunk holds ``rows`` (image, sample) pairs.
        generator: source of the posterior samples.
        progress: show a progress bar over images.
    """
    if k < 1:
        raise AekitError(f"expected k >= 1 importance samples; got {k}")
    module.eval()
    prior = module.latent.prior
    n = x.shape[0]
    # Images per chunk and samples per image per chunk: many images share a chunk when K is
    # small, one image takes several chunks when K is large.
    per_chunk = max(1, rows // k)
    samples = min(k, rows)
    results = []
    from tqdm.auto import tqdm

    bar = tqdm(total=n, desc=f"log p(x), K={k}", unit="img", disable=not progress, leave=False)
    for start in range(0, n, per_chunk):
        xb = x[start:start + per_chunk]
        b = xb.shape[0]
        q = module.posterior(xb)
        log_w = []
        for done in range(0, k, samples):
            s = min(samples, k - done)
            z = q.sample(s, generator=generator)  # (s, b, k)
            target = xb.unsqueeze(0).expand(s, *xb.shape).reshape(s * b, *xb.shape[1:])
            log_px = _log_px_given_z(module, config, z.reshape(s * b, -1), target).view(s, b)
            log_w.append((log_px + prior.log_prob(z) - q.log_prob(z)).double())
        results.append((torch.logsumexp(torch.cat(log_w), dim=0) - math.log(k)).cpu())
        bar.update(b)
    bar.close()
    return torch.cat(results)


@torch.inference_mode()
def posterior_stats(module: Autoencoder, x: torch.Tensor, batch_size: int = 1024) -> dict[str, torch.Tensor]:
    """Posterior means (N, k) and the mean KL of each latent dimension over the images, (k,)."""
    module.eval()
    means, kls = [], []
    for start in range(0, x.shape[0], batch_size):
        q = module.posterior(x[start:start + batch_size])
        means.append(q.mean.cpu())
        kls.append(q.kl_per_dim().cpu())
    return {"means": torch.cat(means), "kl_per_dim": torch.cat(kls).double().mean(0)}


def active_units(means: torch.Tensor, threshold: float = ACTIVE_THRESHOLD) -> tuple[int, torch.Tensor]:
    """How many dimensions have ``Var_x(E_q[z_u]) > threshold``; returns (count, variances (k,))."""
    variances = means.double().var(0, unbiased=False)
    return int((variances > threshold).sum()), variances


def collapse_message(kl_total: float, active: int, latent_dim: int) -> str | None:
    """A warning text when the posterior has collapsed (or mostly), else ``None``."""
    if active == 0 or kl_total < COLLAPSE_KL:
        return (f"posterior collapse: KL {kl_total:.3g} nats per image and {active} of {latent_dim} active "
                "latent dimensions; the decoder ignores the code (try kl_warmup, free_bits or a smaller beta)")
    if active < max(1, latent_dim // 4):
        return (f"partial posterior collapse: only {active} of {latent_dim} latent dimensions are active "
                f"(Var of the posterior mean > {ACTIVE_THRESHOLD}); the rest match the prior")
    return None


def evaluate_likelihood(
    model: Model, x_unit: torch.Tensor, *, k: int = 5000, limit: int | None = None, seed: int = 0,
    rows: int = 8192, progress: bool = False, warn: bool = True, per_sample: bool = False,
) -> dict[str, Any]:
    """ELBO, its parts, the importance-weighted NLL, active units and KL per dimension.

    Args:
        model: a saved VAE.
        x_unit: test images in [0, 1], (N, C, H, W).
        k: importance samples per image for the NLL (0 skips it).
        limit: compute the NLL on the first ``limit`` images only (the ELBO always uses all).
        seed: binarisation and sampling seed.
        rows: decoder inputs per chunk of the NLL estimate.
        progress: progress bar for the NLL.
        warn: emit a :class:`PosteriorCollapseWarning` when the posterior has collapsed.
        per_sample: also return ``result["per_sample"]``: tensors of each image's ``elbo``,
            ``recon``, ``kl`` and ``log_px`` (not JSON-able).

    Returns:
        A JSON-able dict of means in nats per image (``elbo``, ``recon``, ``kl``, ``nll``), the
        counts used, ``active_units``, ``kl_per_dim`` and ``collapse`` (a message or ``None``).
    """
    import time

    check_probabilistic(model)
    module, config = model.module, model.config.objective
    x = evaluation_target(model, x_unit, seed).to(model.device)
    gen = torch.Generator(device=model.device).manual_seed(seed + 1)
    bound = elbo(module, x, config, generator=gen)
    stats = posterior_stats(module, x)
    active, _ = active_units(stats["means"])
    result: dict[str, Any] = {
        "n": int(x.shape[0]),
        "elbo": float(bound["elbo"].mean()),
        "recon": float(bound["recon"].mean()),
        "kl": float(bound["kl"].mean()),
        "active_units": active,
        "latent_dim": int(stats["means"].shape[1]),
        "kl_per_dim": [round(float(v), 5) for v in stats["kl_per_dim"]],
        "binarized": config.binarize,
        "likelihood": decoder_distribution(model),
    }
    if k > 0:
        n_iw = x.shape[0] if limit is None else min(limit, x.shape[0])
        started = time.perf_counter()
        log_px = iw_log_likelihood(module, x[:n_iw], config, k, rows=rows, generator=gen, progress=progress)
        result.update(nll=float(-log_px.mean()), nll_sem=float(log_px.std() / math.sqrt(max(1, n_iw))),
                      nll_k=k, nll_n=n_iw, nll_seconds=round(time.perf_counter() - started, 1),
                      elbo_same_images=float(bound["elbo"][:n_iw].mean()))
    if per_sample:
        result["per_sample"] = dict(bound, **({"log_px": log_px} if k > 0 else {}))
    result["collapse"] = collapse_message(result["kl"], active, result["latent_dim"])
    if warn and result["collapse"]:
        warnings.warn(result["collapse"], PosteriorCollapseWarning, stacklevel=2)
    return result


def format_likelihood(result: dict[str, Any]) -> str:
    """Lines for the terminal: ELBO and parts, NLL, active units, any collapse warning."""
    lines = [f"ELBO {result['elbo']:.2f} nats per image (−log p(x|z) {result['recon']:.2f}, KL {result['kl']:.2f})"
             + (f", binarised test set ({result['binarized']})" if result["binarized"] != "none" else "")]
    if "nll" in result:
        lines.append(f"NLL {result['nll']:.2f} ± {result['nll_sem']:.2f} nats (importance sampling, "
                     f"K={result['nll_k']}, {result['nll_n']} images, {result['nll_seconds']:.0f} s)")
    lines.append(f"active units {result['active_units']} / {result['latent_dim']}")
    if result["collapse"]:
        lines.append(f"warning: {result['collapse']}")
    return "\n".join(lines)


# --------------------------------------------------------------------- evaluation and report hooks
def likelihood_evaluation(model: Model, test: Any, x_unit: torch.Tensor, result: dict[str, Any]) -> None:
    """``EXTRA_EVALUATIONS`` entry: adds ``result["likelihood"]`` for VAEs (K=100 on ≤1000 images)."""
    if not is_probabilistic(model.module) or decoder_distribution(model) is None:
        return
    result["likelihood"] = evaluate_likelihood(model, x_unit, k=REPORT_K, limit=REPORT_LIMIT, warn=True)
