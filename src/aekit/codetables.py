"""The probability model of a quantised code: one categorical table per code dimension.

:class:`CodePrior` holds the tables of one quantisation step; :class:`CodeTables` (step ->
``CodePrior``) is the fitted component ``"codec"`` saved with the model (:mod:`aekit.fitted`)
that :class:`aekit.codec.Codec` compresses with.

A code ``z`` (k values) is quantised with a step ``Δ`` to integers ``q = round(z / Δ)``. The
prior is fitted on the quantised codes of the training images: for every dimension a histogram
over a window of ``L`` integers (the training range plus a margin), add-½ smoothed so that
values never seen in training still cost a finite number of bits. Values outside a dimension's
window are clamped to its edge; the clamped integer *is* the transmitted code, so encoder and
decoder agree exactly. The tables are saved with the model (``Model.fitted["codec"]``) and their
digest is part of every compressed file's model id.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from . import fitted
from .errors import AekitError

SMOOTHING = 0.5  # pseudo-count added to every bin


def check_step(step: float) -> float:
    """A quantisation step stored exactly in the file header (float16)."""
    step = float(step)
    if not (step > 0 and math.isfinite(step)) or float(np.float16(step)) != step:
        raise AekitError(f"expected a positive quantisation step exactly representable in float16 (0.25, 0.5, 1, "
                         f"1.5, 2, ...); got {step!r}")
    return step


def step_key(step: float) -> str:
    return format(check_step(step), "g")


@dataclass(eq=False)
class CodePrior:
    """Per-dimension symbol tables for one quantisation step.

    Attributes:
        step: quantisation step Δ.
        offset: (k,) integer value of symbol 0 in each dimension.
        pmf: (k, L) probabilities of symbols 0..L-1 in each dimension (rows sum to 1).
        n_fit: codes the tables were fitted on.
    """

    step: float
    offset: np.ndarray
    pmf: np.ndarray
    n_fit: int = 0

    @property
    def dim(self) -> int:
        return int(self.pmf.shape[0])

    @property
    def symbols(self) -> int:
        return int(self.pmf.shape[1])

    @classmethod
    def fit(cls, codes: Any, step: float = 1.0, *, margin: float = 0.1) -> CodePrior:
        """Fit the tables on (N, k) codes (not yet quantised)."""
        step = check_step(step)
        codes = np.asarray(codes, dtype=np.float32)
        if codes.ndim != 2 or len(codes) == 0 or not np.isfinite(codes).all():
            raise AekitError(f"expected a non-empty (N, k) array of finite codes; got shape {codes.shape}")
        q = np.rint(codes / np.float32(step)).astype(np.int64)
        lo, hi = q.min(0), q.max(0)
        span = hi - lo + 1
        pad = np.maximum(2, np.ceil(margin * span)).astype(np.int64)
        length = int((span + 2 * pad).max())
        offset = lo - pad - (length - (span + 2 * pad)) // 2
        counts = np.zeros((codes.shape[1], length), dtype=np.float64)
        rows = np.broadcast_to(np.arange(codes.shape[1]), q.shape)
        np.add.at(counts, (rows, q - offset), 1.0)
        counts += SMOOTHING
        return cls(step, offset.astype(np.int64), counts / counts.sum(1, keepdims=True), int(len(codes)))

    # ------------------------------------------------------------------ mapping
    def symbols_of(self, codes: Any) -> np.ndarray:
        """(N, k) codes -> (N, k) int32 symbols in [0, L), clamped to each dimension's window."""
        q = np.rint(np.asarray(codes, dtype=np.float32) / np.float32(self.step)).astype(np.int64)
        return np.clip(q - self.offset, 0, self.symbols - 1).astype(np.int32)

    def codes_of(self, symbols: np.ndarray) -> np.ndarray:
        """(N, k) symbols -> the dequantised (N, k) float32 codes the decoder gets."""
        return ((symbols.astype(np.int64) + self.offset).astype(np.float32) * np.float32(self.step))

    def bits(self, symbols: np.ndarray) -> np.ndarray:
        """Ideal code length of each row in bits (−log2 of the table probabilities), (N,)."""
        p = self.pmf[np.arange(self.dim), symbols]
        return -np.log2(p).sum(1)

    # ------------------------------------------------------------------ identity
    def __eq__(self, other: object) -> bool:
        """Equal tables: the same step, offsets and probabilities (what a file's model id covers)."""
        if not isinstance(other, CodePrior):
            return NotImplemented
        return self.digest() == other.digest() and self.n_fit == other.n_fit

    def digest(self) -> bytes:
        h = hashlib.sha256()
        h.update(np.float64(self.step).tobytes())
        h.update(np.ascontiguousarray(self.offset, dtype="<i8").tobytes())
        h.update(np.ascontiguousarray(self.pmf, dtype="<f8").tobytes())
        return h.digest()



@fitted.register_fitted
class CodeTables(fitted.FittedComponent, Mapping[float, CodePrior]):
    """The code tables saved with a model: quantisation step -> :class:`CodePrior`.

    Saved as ``{"tables": {"<step>": {"step", "dim", "symbols", "n_fit"}}}`` with tensors
    ``<step>.offset`` (k,) int64 and ``<step>.pmf`` (k, L) float64, ``<step>`` written as
    :func:`step_key` does (``1``, ``0.5``).
    """

    key = "codec"
    fit_hint = "aekit compress RUN --fit-codec (or aekit.codec.fit_codec(model, train_images, steps))"

    def __init__(self, priors: Mapping[float, CodePrior] | None = None):
        self._priors: dict[float, CodePrior] = {}
        for prior in (priors or {}).values():
            self.add(prior)

    def add(self, prior: CodePrior) -> None:
        """Keep ``prior`` for its step (replacing the tables of that step)."""
        if not isinstance(prior, CodePrior):
            raise AekitError(f"expected a CodePrior; got {type(prior).__name__}")
        self._priors[check_step(prior.step)] = prior

    @property
    def steps(self) -> list[float]:
        return sorted(self._priors)

    def __getitem__(self, step: float) -> CodePrior:
        try:
            return self._priors[float(step)]
        except (TypeError, ValueError):
            raise KeyError(step) from None

    def __iter__(self) -> Iterator[float]:
        return iter(self.steps)

    def __len__(self) -> int:
        return len(self._priors)

    def __repr__(self) -> str:
        return f"CodeTables(steps={[step_key(s) for s in self.steps]})"

    def to_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        tables, tensors = {}, {}
        for step in self.steps:
            prior, key = self._priors[step], step_key(step)
            tables[key] = {"step": prior.step, "dim": prior.dim, "symbols": prior.symbols, "n_fit": prior.n_fit}
            tensors[f"{key}.offset"] = torch.from_numpy(prior.offset.astype(np.int64))
            tensors[f"{key}.pmf"] = torch.from_numpy(prior.pmf.astype(np.float64))
        return {"tables": tables}, tensors

    @classmethod
    def from_state(cls, info: Mapping[str, Any], tensors: Mapping[str, torch.Tensor]) -> CodeTables:
        tables = fitted.entry(fitted.entry(info, "codec").get("tables"), "tables")
        out = cls()
        for key, meta in tables.items():
            meta = fitted.entry(meta, f"tables[{key!r}]")
            try:
                step = check_step(fitted.number(meta, "step"))
                dim = fitted.integer(meta, "dim", minimum=1)
                symbols = fitted.integer(meta, "symbols", minimum=1)
                n_fit = fitted.integer(meta, "n_fit", default=0, minimum=0)
            except AekitError as err:
                raise AekitError(f"tables[{key!r}]: {err}") from None
            if key != step_key(step):
                raise AekitError(f"tables[{key!r}]: holds the tables of step {step_key(step)}, not {key}")
            offset = fitted.tensor(tensors, f"{key}.offset", ndim=1, kind="int")
            pmf = fitted.tensor(tensors, f"{key}.pmf", ndim=2)
            if offset.shape != (dim,) or pmf.shape != (dim, symbols):
                raise AekitError(f"tables[{key!r}]: inconsistent shapes: offset {tuple(offset.shape)}, pmf "
                                 f"{tuple(pmf.shape)} for {dim} dimensions of {symbols} symbols")
            pmf = pmf.numpy().astype(np.float64)
            if (pmf <= 0).any() or not np.allclose(pmf.sum(1), 1.0, rtol=0, atol=1e-6):
                raise AekitError(f"tables[{key!r}]: expected positive probabilities summing to 1 in every "
                                 "dimension")
            out.add(CodePrior(step, offset.numpy().astype(np.int64), pmf, n_fit))
        return out
