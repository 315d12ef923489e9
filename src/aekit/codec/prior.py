"""The probability model of a quantised code: one categorical table per code dimension.

A code ``z`` (k values) is quantised with a step ``Δ`` to integers ``q = round(z / Δ)``. The
prior is fitted on the quantised codes of the training images: for every dimension a histogram
over a window of ``L`` integers (the training range plus a margin), add-½ smoothed so that
values never seen in training still cost a finite number of bits. Values outside a dimension's
window are clamped to its edge; the clamped integer *is* the transmitted code, so encoder and
decoder agree exactly. The tables are saved with the model (``Model.fitted_tensors``) and their
digest is part of every compressed file's model id.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import AekitError

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


@dataclass
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

    # ------------------------------------------------------------------ persistence
    def digest(self) -> bytes:
        h = hashlib.sha256()
        h.update(np.float64(self.step).tobytes())
        h.update(np.ascontiguousarray(self.offset, dtype="<i8").tobytes())
        h.update(np.ascontiguousarray(self.pmf, dtype="<f8").tobytes())
        return h.digest()

    def to_fitted(self, prefix: str) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        info = {"step": self.step, "dim": self.dim, "symbols": self.symbols, "n_fit": self.n_fit}
        tensors = {f"{prefix}.offset": torch.from_numpy(self.offset.astype(np.int64)),
                   f"{prefix}.pmf": torch.from_numpy(self.pmf.astype(np.float64))}
        return info, tensors

    @classmethod
    def from_fitted(cls, info: dict[str, Any], tensors: dict[str, torch.Tensor], prefix: str) -> CodePrior:
        try:
            offset = tensors[f"{prefix}.offset"].numpy().astype(np.int64)
            pmf = tensors[f"{prefix}.pmf"].numpy().astype(np.float64)
            step = check_step(info["step"])
        except KeyError as err:
            raise AekitError(f"the saved codec tables are incomplete (missing {err}); refit them: "
                             "aekit compress RUN --fit-codec") from None
        if pmf.ndim != 2 or offset.shape != (pmf.shape[0],) or pmf.shape != (info.get("dim"), info.get("symbols")):
            raise AekitError(f"the saved codec tables have inconsistent shapes ({offset.shape}, {pmf.shape}); "
                             "refit them: aekit compress RUN --fit-codec")
        return cls(step, offset, pmf, int(info.get("n_fit", 0)))
