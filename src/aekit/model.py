"""The user-facing :class:`Model`: a trained autoencoder plus everything needed to use it.

``aekit.load`` and ``aekit.train`` / ``aekit.fit`` return one. Its methods take data as users
have it and apply the recorded preprocessing; :mod:`aekit.io` is the folder format it is saved in.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from .config import RunConfig
from .data.preprocess import Preprocessing
from .errors import AekitError, NotFittedError
from .fitted import FittedComponent, check_components, component
from .io import SavedModel, read_model_dir, write_model_dir
from .models import Autoencoder
from .models.summary import summary_text

T = TypeVar("T", bound=FittedComponent)

LATER_FIELDS = {"cell": "lstm"}  # ModelConfig fields added later -> their defaults


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` picks CUDA when present, else CPU; an unavailable device is a clear error."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise AekitError(f"device {device!r} was asked for but CUDA is not available here; use --device cpu or auto")
    if device == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise AekitError("device 'mps' was asked for but is not available here; use --device cpu or auto")
    return torch.device(device)


class Model:
    """A trained autoencoder plus everything needed to use it on real images.

    This is what :func:`aekit.load` and :func:`aekit.train` return. Its methods take images as
    users have them (uint8 or [0, 1] float; NumPy or torch; one image or a batch) and apply the
    recorded preprocessing; outputs come back in the same space.

    Attributes:
        module: the :class:`~aekit.models.Autoencoder` (model-space tensors in and out).
        preprocessing: the recorded :class:`~aekit.data.preprocess.Preprocessing`.
        config: the :class:`~aekit.config.RunConfig` it was trained with.
        fitted: the fitted components saved with the model, by key (:mod:`aekit.fitted`):
            ``"sampler"`` a :class:`~aekit.samplers.GaussianMixtureSampler`, ``"anomaly"`` an
            :class:`~aekit.thresholds.AnomalyThreshold`, ``"codec"`` the
            :class:`~aekit.codetables.CodeTables`; filled in by tasks.
        path: the folder it was loaded from, if any.
        history: one record per epoch of the training that made it, when :func:`aekit.fit` did
            (``aekit.train`` keeps them in ``RUN/metrics.jsonl``); empty after loading.
    """

    def __init__(
        self, module: Autoencoder, preprocessing: Preprocessing, config: RunConfig, *,
        fitted: Mapping[str, FittedComponent] | None = None, path: str | os.PathLike | None = None,
        data_info: dict[str, Any] | None = None,
    ):
        self.module = module.eval()
        self.preprocessing = preprocessing
        self.config = config
        self.fitted: dict[str, FittedComponent] = dict(fitted or {})
        check_components(self.fitted)
        self.path = Path(path) if path is not None else None
        self.data_info = dict(data_info or {})
        self.history: list[dict[str, Any]] = []

    # ----------------------------------------------------------------- properties
    @property
    def device(self) -> torch.device:
        return next(self.module.parameters()).device

    @property
    def latent_dim(self) -> int:
        """Values in one code (``ModelConfig.code_size``: ``latent_dim``, or c*h*w for a spatial code)."""
        return self.config.model.code_size

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.preprocessing.input_shape

    def to(self, device: str | torch.device) -> Model:
        self.module.to(resolve_device(device))
        return self

    def identity(self) -> str:
        """SHA-256 of the weights and config: names this exact model (e.g. in compressed files)."""
        digest = hashlib.sha256()
        # Fields added to ModelConfig after models were first saved leave the identity as it was while
        # at their defaults, so files compressed by an older model still name it.
        config = {k: v for k, v in self.config.model.to_dict().items() if LATER_FIELDS.get(k, object()) != v}
        digest.update(json.dumps(config, sort_keys=True).encode())
        digest.update(json.dumps(self.preprocessing.to_dict(), sort_keys=True).encode())
        for name, tensor in sorted(self.module.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()

    # ----------------------------------------------------------------- inference
    def _batches(self, x: torch.Tensor, batch_size: int):
        for start in range(0, x.shape[0], batch_size):
            yield x[start:start + batch_size]

    @torch.inference_mode()
    def encode(self, images: Any, *, batch_size: int = 1024) -> Any:
        """Images -> codes (N, k) float32 (NumPy for NumPy input, torch for torch input)."""
        x, space = self.preprocessing.to_model(images, device=self.device)
        codes = torch.cat([self.module.encode(b) for b in self._batches(x, batch_size)]).float().cpu()
        codes = codes if space.batched else codes[0]
        return codes if space.is_torch else codes.numpy()

    @torch.inference_mode()
    def posterior(self, images: Any) -> Any:
        """Images -> the VAE posterior q(z|x) (``mean``, ``std``, ``sample``, ``kl``, ``log_prob``), batched."""
        x, _ = self.preprocessing.to_model(images, device=self.device)
        return self.module.posterior(x)

    @torch.inference_mode()
    def decode(self, codes: Any, *, as_float: bool = False, batch_size: int = 1024) -> Any:
        """Codes (N, k) -> images (N, H, W, C), uint8 by default, floats in [0, 1] with ``as_float``;
        for a vector model, rows (N, D) in the features' own units."""
        is_torch = isinstance(codes, torch.Tensor)
        z = codes if is_torch else torch.from_numpy(np.asarray(codes, dtype=np.float32))
        batched = z.ndim == 2
        if z.ndim == 1:
            z = z.unsqueeze(0)
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise AekitError(f"expected codes of shape (N, {self.latent_dim}); got {tuple(codes.shape)}")
        if not bool(torch.isfinite(z).all()):
            raise AekitError("expected finite codes; got NaN or Inf")
        z = z.float().to(self.device)
        y = torch.cat([self.module.decode(b) for b in self._batches(z, batch_size)])
        space = self.preprocessing.output_space(is_torch=is_torch, batched=batched, as_float=as_float)
        return self.preprocessing.from_model(y, space)

    @torch.inference_mode()
    def reconstruct(self, images: Any, *, batch_size: int = 1024) -> Any:
        """Images -> reconstructions, in the same dtype, layout and array type as the input."""
        x, space = self.preprocessing.to_model(images, device=self.device)
        y = torch.cat([self.module(b).x_hat for b in self._batches(x, batch_size)])
        return self.preprocessing.from_model(y, space)

    def summary(self) -> str:
        return summary_text(self)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the model folder (see :mod:`aekit.io`) atomically; returns its path."""
        self.path = write_model_dir(self._saved(), path)
        return self.path

    def _saved(self) -> SavedModel:
        return SavedModel(self.module, self.preprocessing, self.config, fitted=self.fitted,
                          data_info=self.data_info)

    @classmethod
    def load(cls, path: str | os.PathLike, *, device: str | torch.device = "cpu") -> Model:
        """Load a saved model (a model folder, or a run folder holding ``model/``)."""
        saved = read_model_dir(path)
        model = cls(saved.module, saved.preprocessing, saved.config, fitted=saved.fitted, path=saved.path,
                    data_info=saved.data_info)
        return model.to(device)

    def __repr__(self) -> str:
        where = f", path='{self.path}'" if self.path else ""
        return (f"Model(preset={self.config.preset!r}, input_shape={self.input_shape}, "
                f"latent_dim={self.latent_dim}{where})")




def save_model(model: Model, path: str | os.PathLike) -> Path:
    """Write ``model`` to the folder ``path`` (``config.json`` + ``model.safetensors``)."""
    return model.save(path)


def load_model(path: str | os.PathLike, *, device: str | torch.device = "cpu") -> Model:
    """Load a saved model (a model folder, or a run folder holding ``model/``)."""
    return Model.load(path, device=device)


def saved_component(model: Model | str | os.PathLike, kind: type[T], what: str) -> tuple[Model, T]:
    """``model`` (loaded when a path) and the fitted component ``kind`` saved with it; a model
    without one is a :class:`~aekit.errors.NotFittedError` that says how to fit it (``what``
    names the component in it)."""
    if not isinstance(model, Model):
        model = load_model(model)
    found = component(model.fitted, kind)
    if found is None:
        raise NotFittedError(f"{model.path or 'this model'} has no {what} saved with it; fit one: {kind.fit_hint}")
    return model, found
