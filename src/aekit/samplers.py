"""Samplers of latent codes, kept apart from the models that decode them.

- :class:`PriorSampler` draws from the VAE prior N(0, I).
- :class:`GaussianMixtureSampler` fits a Gaussian mixture to the codes of training images and
  draws from it: this is what makes a *deterministic* autoencoder generative (Ghosh et al.
  2020, "From Variational to Deterministic Autoencoders", sample their RAEs this way; pythae's
  ``GaussianMixtureSampler`` too). It is fitted with scikit-learn's ``GaussianMixture`` and
  saved with the model as plain tensors (means, covariances, weights), never pickled: it is
  the fitted component ``"sampler"`` (:mod:`aekit.fitted`). Sampling is done here from those
  tensors.

Both take a ``temperature`` T that scales the spread: N(0, T²I) for the prior, μ_c + T·L_c·ε
for mixture component c (L_c the Cholesky factor of its covariance). T < 1 trades variety for
cleaner samples.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from . import fitted
from .errors import AekitError, NotFittedError


def _check_temperature(temperature: float) -> None:
    if not temperature > 0:
        raise AekitError(f"expected a temperature > 0; got {temperature!r}")


def _check_n(n: int) -> None:
    if int(n) < 1:
        raise AekitError(f"expected at least 1 sample; got n={n!r}")


class PriorSampler:
    """z ~ N(0, T² I): the prior of a VAE.

    Args:
        latent_dim: size of the codes.
    """

    kind = "prior"

    def __init__(self, latent_dim: int):
        self.latent_dim = int(latent_dim)

    def sample(self, n: int, *, temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, latent_dim) float32 codes."""
        _check_n(n)
        _check_temperature(temperature)
        return temperature * torch.randn(int(n), self.latent_dim, generator=generator)


FULL_COVARIANCE_MAX_DIM = 128


@fitted.register_fitted
class GaussianMixtureSampler(fitted.FittedComponent):
    """A Gaussian mixture over training codes; saved with the model as ``Model.fitted["sampler"]``.

    Args:
        n_components: mixture components (10 by default, one per MNIST class in spirit).
        max_samples: fit on at most this many codes (a random subset), to bound the fit time.
        covariance_type: ``"full"``, ``"diag"``, or ``"auto"``: full up to
            ``FULL_COVARIANCE_MAX_DIM`` code dimensions, diagonal above (a full fit costs
            O(k^2) memory and O(k^3) time per component, hours for a 1,568-value spatial code).
        seed: seeds the subset and scikit-learn's initialisation.

    Attributes (after :meth:`fit`):
        means_: (C, k) component means.
        covariance_type_: the covariance form fitted, ``"full"`` or ``"diag"``.
        covariances_: (C, k, k) component covariances, or (C, k) variances when diagonal.
        weights_: (C,) mixing weights.
        n_fit_: codes used for the fit.
        train_log_likelihood_: mean log-likelihood of those codes under the mixture.
    """

    kind = "gmm"
    key = "sampler"
    fit_hint = "aekit generate RUN --fit-sampler"

    def __init__(self, n_components: int = 10, *, max_samples: int = 20000, covariance_type: str = "auto",
                 seed: int = 0):
        if covariance_type not in ("auto", "full", "diag"):
            raise AekitError(f"covariance_type: expected auto, full or diag; got {covariance_type!r}")
        self.n_components = n_components
        self.max_samples = max_samples
        self.covariance_type = covariance_type
        self.seed = seed

    # ----------------------------------------------------------------- fitting
    def fit(self, codes: Any) -> GaussianMixtureSampler:
        """Fit on codes (N, k) (NumPy or torch)."""
        from sklearn.mixture import GaussianMixture
        from threadpoolctl import threadpool_limits

        z = codes.detach().cpu().numpy() if isinstance(codes, torch.Tensor) else np.asarray(codes)
        if z.ndim != 2 or not np.isfinite(z).all():
            raise AekitError(f"expected finite codes of shape (N, k); got an array of shape {z.shape}")
        if z.shape[0] < 2 * self.n_components:
            raise AekitError(f"a {self.n_components}-component mixture needs at least {2 * self.n_components} "
                             f"codes; got {z.shape[0]}; pass fewer components")
        rng = np.random.default_rng(self.seed)
        if z.shape[0] > self.max_samples:
            z = z[rng.choice(z.shape[0], self.max_samples, replace=False)]
        kind = self.covariance_type
        if kind == "auto":
            kind = "full" if z.shape[1] <= FULL_COVARIANCE_MAX_DIM else "diag"
        # BLAS gets as many threads as torch: its default team oversubscribes a busy machine, which made
        # this fit take minutes instead of seconds after training (a one-off timing, not a bench script).
        with threadpool_limits(torch.get_num_threads()):
            gmm = GaussianMixture(self.n_components, covariance_type=kind, reg_covar=1e-5,
                                  max_iter=200, n_init=1, random_state=self.seed).fit(z.astype(np.float64))
        self.means_ = torch.from_numpy(gmm.means_).float()
        self.covariances_ = torch.from_numpy(gmm.covariances_).float()
        self.weights_ = torch.from_numpy(gmm.weights_).float()
        self.n_fit_ = int(z.shape[0])
        self.train_log_likelihood_ = float(gmm.score(z.astype(np.float64)))
        return self

    def check_is_fitted(self) -> None:
        if not hasattr(self, "means_"):
            raise NotFittedError("this GaussianMixtureSampler is not fitted yet; call fit(codes) first")

    @property
    def covariance_type_(self) -> str:
        """The covariance form fitted: ``"diag"`` when ``covariances_`` holds (C, k) variances."""
        self.check_is_fitted()
        return "diag" if self.covariances_.dim() == 2 else "full"

    @property
    def latent_dim(self) -> int:
        self.check_is_fitted()
        return int(self.means_.shape[1])

    # ----------------------------------------------------------------- sampling
    def _cholesky(self) -> torch.Tensor:
        cov = self.covariances_.double()
        eye = torch.eye(cov.shape[-1], dtype=cov.dtype)
        for jitter in (0.0, 1e-6, 1e-4):
            factor, info = torch.linalg.cholesky_ex(cov + jitter * eye)
            if int(info.max()) == 0:
                return factor.float()
        raise AekitError("the saved mixture covariances are not positive definite; refit the sampler")

    def sample(self, n: int, *, temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, k) float32 codes: a component by weight, then μ_c + T·L_c·ε."""
        self.check_is_fitted()
        _check_n(n)
        _check_temperature(temperature)
        comps = torch.multinomial(self.weights_.double(), int(n), replacement=True, generator=generator)
        eps = torch.randn(int(n), self.latent_dim, 1, generator=generator)
        if self.covariance_type_ == "diag":
            return self.means_[comps] + temperature * self.covariances_[comps].clamp_min(0).sqrt() * eps.squeeze(-1)
        return self.means_[comps] + temperature * (self._cholesky()[comps] @ eps).squeeze(-1)

    # ----------------------------------------------------------------- saved state
    def to_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        """(JSON-able settings, tensors ``means``, ``covariances``, ``weights``) for ``Model.fitted``."""
        self.check_is_fitted()
        info = {"kind": self.kind, "n_components": self.n_components, "covariance_type": self.covariance_type_,
                "latent_dim": self.latent_dim, "n_fit": self.n_fit_, "seed": self.seed,
                "train_log_likelihood": round(self.train_log_likelihood_, 4)}
        tensors = {"means": self.means_, "covariances": self.covariances_, "weights": self.weights_}
        return info, tensors

    @classmethod
    def from_state(cls, info: Mapping[str, Any], tensors: Mapping[str, torch.Tensor]) -> GaussianMixtureSampler:
        """Rebuild from what :meth:`to_state` saved; fields and shapes are checked, not trusted."""
        info = fitted.entry(info, "sampler")
        kind = info.get("kind")
        if kind != cls.kind:
            raise AekitError(f"unknown saved sampler kind {kind!r}; expected {cls.kind!r}")
        covariance_type = fitted.choice(info, "covariance_type", ("full", "diag"))
        n_components = fitted.integer(info, "n_components", minimum=1)
        means, covs, weights = (fitted.tensor(tensors, k).float() for k in ("means", "covariances", "weights"))
        c = means.shape[0] if means.dim() == 2 else -1
        k = means.shape[1] if means.dim() == 2 else -1
        expected = (c, k, k) if covariance_type == "full" else (c, k)
        if means.dim() != 2 or covs.shape != expected or weights.shape != (c,) or n_components != c \
                or fitted.integer(info, "latent_dim", default=k) != k:
            raise AekitError(f"saved sampler tensors disagree: {n_components} components, means "
                             f"{tuple(means.shape)}, {covariance_type} covariances {tuple(covs.shape)}, "
                             f"weights {tuple(weights.shape)}")
        if bool((weights < 0).any()) or abs(float(weights.double().sum()) - 1.0) > 1e-3:
            raise AekitError(f"saved sampler weights: expected non-negative weights summing to 1; got sum "
                             f"{float(weights.double().sum()):.6g}")
        sampler = cls(c, covariance_type=covariance_type, seed=fitted.integer(info, "seed"))
        sampler.means_, sampler.covariances_, sampler.weights_ = means, covs, weights
        sampler.n_fit_ = fitted.integer(info, "n_fit", minimum=0)
        sampler.train_log_likelihood_ = fitted.number(info, "train_log_likelihood", default=float("nan"),
                                                      finite=False)
        return sampler
