"""``Codec``: images <-> ``.aek`` bytes through a trained model and its fitted code prior.

::

    from aekit.codec import Codec, fit_codec
    fit_codec(model, train_images, steps=(1.0, 2.0)); model.save(path)   # once, tables saved with it
    codec = Codec(model, step=1.0)
    data = codec.compress(image)              # bytes of one .aek file
    image_hat = codec.decompress(data)        # (H, W, C) uint8, the decoder's reconstruction
    archive = codec.compress(images)          # many images in one file (header shared)

Any model works (its code is quantised with step Δ); models trained for it (preset ``codec``,
``model.latent=quantised`` with ``objective.rate``) learn codes that survive rounding at Δ = 1
and cost few bits. A file names the model that wrote it (6 bytes of a SHA-256 over the weights,
config, preprocessing and code tables); decompressing with another model is an error, as is an
image of the wrong size.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from ..codetables import CodePrior, CodeTables, check_step, step_key
from ..errors import AekitError, NotFittedError
from ..fitted import component
from ..model import Model
from .container import ID_BYTES, Header, pack, read_header, unpack


def fit_codec(model: Model, images: Any, steps: Any = (1.0,)) -> dict[float, CodePrior]:
    """Fit code tables for each quantisation step on the codes of ``images``; kept in ``model.fitted["codec"]``.

    Tables of other steps already fitted are kept. Call ``model.save(path)`` afterwards to
    persist them. Returns step -> prior.
    """
    steps = [check_step(s) for s in (steps if isinstance(steps, list | tuple) else (steps,))]
    codes = np.asarray(model.encode(images), dtype=np.float32)
    tables = component(model.fitted, CodeTables) or CodeTables()
    priors = {}
    for step in steps:
        priors[step] = CodePrior.fit(codes, step)
        tables.add(priors[step])
    model.fitted[CodeTables.key] = tables
    return priors


def fitted_steps(model: Model) -> list[float]:
    tables = component(model.fitted, CodeTables)
    return tables.steps if tables is not None else []


def fit_codec_from_training_data(model: Model, steps: Any = (1.0,), *, data_dir: str | None = None,
                                 progress: bool = True) -> dict[float, CodePrior]:
    """Reload the model's training split (as recorded) and fit code tables on it."""
    from dataclasses import replace

    from ..data import load_splits

    data = model.config.data if data_dir is None else replace(model.config.data, data_dir=data_dir)
    splits = load_splits(data, seed=model.config.train.seed, progress=progress)
    return fit_codec(model, splits.train.images, steps)


class Codec:
    """Compress images to ``.aek`` bytes and back with ``model`` at quantisation step ``step``."""

    def __init__(self, model: Model, step: float = 1.0):
        self.model = model
        self.step = check_step(step)
        tables = component(model.fitted, CodeTables)
        key = step_key(self.step)
        if tables is None or self.step not in tables:
            have = ", ".join(step_key(s) for s in fitted_steps(model)) or "none"
            raise NotFittedError(f"no code tables for step {key} are saved with {model.path or 'this model'} "
                                 f"(fitted steps: {have}); fit them: aekit compress RUN --fit-codec --step {key} "
                                 "(or aekit.codec.fit_codec(model, train_images, steps))")
        self.prior = tables[self.step]
        if self.prior.dim != model.latent_dim:
            raise AekitError(f"the saved code tables are {self.prior.dim}-D but the model's code has "
                             f"{model.latent_dim} values; refit them with aekit compress RUN --fit-codec")
        digest = hashlib.sha256(model.identity().encode() + self.prior.digest()).digest()
        self.model_id = digest[:ID_BYTES]

    # ------------------------------------------------------------------ codes
    def symbols(self, images: Any) -> np.ndarray:
        """(N, k) int32 symbols of one image or a batch (as users have them; the model checks the size)."""
        codes = np.asarray(self.model.encode(images), dtype=np.float32)
        return self.prior.symbols_of(codes.reshape(-1, self.model.latent_dim))

    def quantised_codes(self, images: Any) -> np.ndarray:
        """The dequantised codes a decoder of the compressed images receives, (N, k)."""
        return self.prior.codes_of(self.symbols(images))

    # ------------------------------------------------------------------ bytes
    def compress(self, images: Any) -> bytes:
        """One image or a batch (N, H, W, C) -> the bytes of one ``.aek`` file (an archive for N > 1)."""
        return self.compress_codes(np.asarray(self.model.encode(images), dtype=np.float32))

    def compress_codes(self, codes: Any) -> bytes:
        """The model's codes (N, k) of the images -> the bytes of one ``.aek`` file."""
        symbols = self.prior.symbols_of(np.asarray(codes, dtype=np.float32).reshape(-1, self.model.latent_dim))
        header = Header(self.model_id, tuple(self.model.input_shape), self.step, len(symbols))
        return pack(header, symbols, self.prior.pmf)

    def decompress_codes(self, data: bytes, where: str = "the file") -> np.ndarray:
        """The (N, k) dequantised codes stored in ``data``."""
        header, payload = read_header(data, where)
        if header.shape != tuple(self.model.input_shape):
            raise AekitError(f"{where} holds {header.shape[1]}x{header.shape[2]} images with {header.shape[0]} "
                             f"channel(s), but this model decodes {self.model.input_shape[1]}x"
                             f"{self.model.input_shape[2]} with {self.model.input_shape[0]}; use the model that "
                             "compressed it")
        if header.step != self.step:
            return Codec(self.model, header.step).decompress_codes(data, where)
        if header.model_id != self.model_id:
            raise AekitError(f"{where} was compressed by a different model (id {header.model_id.hex()}); this model "
                             f"and its code tables have id {self.model_id.hex()}; decompress with the model that "
                             "compressed it")
        return self.prior.codes_of(unpack(data, self.prior.pmf, header, payload))

    def decompress(self, data: bytes, where: str = "the file") -> np.ndarray:
        """``.aek`` bytes -> images (N, H, W, C) uint8 (an archive) or (H, W, C) for a single image."""
        codes = self.decompress_codes(data, where)
        images = self.model.decode(codes)
        return images[0] if len(images) == 1 else images


def read_step(data: bytes, where: str = "the file") -> float:
    """The quantisation step a ``.aek`` file was written with."""
    return read_header(data, where)[0].step
