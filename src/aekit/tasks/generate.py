"""Generation: new images from sampled codes, for VAEs and deterministic autoencoders alike.

A VAE samples its prior N(0, I). A deterministic autoencoder has no prior, so a Gaussian
mixture is fitted on the codes of its training images when training ends and saved with the
model (:class:`aekit.samplers.GaussianMixtureSampler`); ``generate`` then samples that. A
model saved without one raises with the command that fits it. ::

    from aekit.tasks.generate import generate
    images = generate(model, 64, temperature=0.8)   # (64, H, W, C) uint8
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from ..errors import AekitError, NotFittedError
from ..fitted import component
from ..model import Model
from ..samplers import GaussianMixtureSampler, PriorSampler

log = logging.getLogger(__name__)

SAMPLERS = ("auto", "prior", "gmm")


def has_prior(model: Model) -> bool:
    """Whether the model's codes have a prior to sample (a VAE's N(0, I)); asks the latent, not its type."""
    return model.module.latent.prior is not None




def saved_sampler(model: Model) -> GaussianMixtureSampler | None:
    """The mixture sampler saved with ``model`` (``model.fitted["sampler"]``), or ``None``."""
    sampler = component(model.fitted, GaussianMixtureSampler)
    if sampler is None:
        return None
    if sampler.latent_dim != model.latent_dim:
        raise AekitError(f"the saved sampler draws {sampler.latent_dim}-D codes but the model's code has "
                         f"{model.latent_dim} dimensions; refit it (aekit generate RUN --fit-sampler)")
    return sampler


def fit_sampler(model: Model, images: Any, *, n_components: int = 10, seed: int = 0) -> GaussianMixtureSampler:
    """Fit a Gaussian mixture on the codes of ``images`` and keep it as ``model.fitted["sampler"]``.

    Call ``model.save(path)`` afterwards to persist it. Codes are the posterior means for VAEs.
    """
    codes = model.encode(images)
    sampler = GaussianMixtureSampler(n_components, seed=seed).fit(codes)
    model.fitted[GaussianMixtureSampler.key] = sampler
    return sampler


def get_sampler(model: Model, kind: str = "auto") -> PriorSampler | GaussianMixtureSampler:
    """``auto``: the prior for VAEs, the saved mixture for deterministic autoencoders."""
    if kind not in SAMPLERS:
        raise AekitError(f"expected a sampler in {', '.join(SAMPLERS)}; got {kind!r}")
    if kind == "prior" or (kind == "auto" and has_prior(model)):
        if not has_prior(model):
            raise AekitError(f"the prior sampler needs a VAE; {model.config.preset!r} is deterministic, its codes "
                             "follow no known prior: use --sampler gmm")
        return PriorSampler(model.latent_dim)
    sampler = saved_sampler(model)
    if sampler is None:
        where = f" {model.path.parent if model.path and model.path.name == 'model' else model.path}" \
            if model.path else ""
        raise NotFittedError(
            f"this {'VAE' if has_prior(model) else 'deterministic autoencoder'} has no fitted mixture sampler; "
            f"fit one on its training codes with: aekit generate{where or ' RUN'} --fit-sampler"
            + (" (or sample the prior with --sampler prior)" if has_prior(model) else "")
        )
    return sampler


def sample_codes(model: Model, n: int, *, temperature: float = 1.0, sampler: str = "auto",
                 seed: int = 0) -> torch.Tensor:
    """(n, k) codes from the model's sampler, reproducible by ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    return get_sampler(model, sampler).sample(n, temperature=temperature, generator=generator)


def generate(model: Model, n: int = 64, *, temperature: float = 1.0, sampler: str = "auto", seed: int = 0,
             as_float: bool = False) -> np.ndarray:
    """``n`` new images (n, H, W, C): uint8, or floats in [0, 1] with ``as_float``.

    For a Bernoulli decoder the images are the decoder's means (pixel probabilities), which is
    how VAE samples are usually shown; drawing binary pixels from them only adds noise.
    """
    codes = sample_codes(model, n, temperature=temperature, sampler=sampler, seed=seed)
    return model.decode(codes.numpy(), as_float=as_float)


def fit_sampler_after_training(model: Model, splits: Any) -> None:
    """Called by the trainer before the final export: deterministic models get a mixture sampler."""
    if has_prior(model) or len(splits.train) < 20:
        return
    n_components = min(10, len(splits.train) // 2)
    sampler = fit_sampler(model, splits.train.samples, n_components=n_components, seed=model.config.train.seed)
    log.info("fitted a %d-component Gaussian mixture sampler on %d training codes", n_components, sampler.n_fit_)


def fit_sampler_from_training_data(model: Model, *, data_dir: str | None = None, n_components: int = 10,
                                   progress: bool = True) -> GaussianMixtureSampler:
    """Reload the model's training split (as recorded) and fit a mixture sampler on its codes."""
    from dataclasses import replace

    from ..data import load_splits

    data = model.config.data if data_dir is None else replace(model.config.data, data_dir=data_dir)
    splits = load_splits(data, seed=model.config.train.seed, progress=progress)
    return fit_sampler(model, splits.train.samples, n_components=n_components, seed=model.config.train.seed)
