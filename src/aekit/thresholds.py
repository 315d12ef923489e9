"""The anomaly threshold saved with a model: the fitted component ``"anomaly"``.

:class:`~aekit.tasks.anomaly.AnomalyDetector` computes anomaly scores; what it learns from the
scores of normal data (the threshold, their spread, how the threshold was chosen and with which
score settings) is an :class:`AnomalyThreshold`, which ``AnomalyDetector.from_model`` rebuilds
the detector from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from . import fitted
from .errors import AekitError

SCORE_KINDS = ("mse", "bce", "ssim", "elbo")  # resolved scores (``auto`` is resolved before fitting)


@fitted.register_fitted
@dataclass(frozen=True)
class AnomalyThreshold(fitted.FittedComponent):
    """Scores above ``threshold`` are anomalies.

    Args:
        score: the score kind it was fitted for (``mse``, ``bce``, ``ssim`` or ``elbo``).
        threshold: the threshold on that score.
        scale: spread (standard deviation) of the normal scores, for ``predict_proba``.
        n_fit: normal images whose scores set it.
        contamination: the expected share of anomalies it was set for (the ``1 - contamination``
            quantile of the scores), or ``None`` when ``percentile`` set it.
        percentile: the percentile of the normal scores it is, or ``None`` with ``contamination``.
        elbo_samples: posterior samples per image of the ``elbo`` score.
        seed: seed of the ``elbo`` score's posterior samples.
    """

    key: ClassVar[str] = "anomaly"
    fit_hint: ClassVar[str] = "aekit detect RUN --fit NORMAL_IMAGES --save (or AnomalyDetector(model).fit(X))"

    score: str
    threshold: float
    scale: float
    n_fit: int
    contamination: float | None = None
    percentile: float | None = 99.0
    elbo_samples: int = 4
    seed: int = 0

    def __post_init__(self):
        if self.score not in SCORE_KINDS:
            raise AekitError(f"score: expected one of {', '.join(SCORE_KINDS)}; got {self.score!r}")
        if not np.isfinite(self.threshold):
            raise AekitError(f"threshold: expected a finite number; got {self.threshold!r}")
        if not (np.isfinite(self.scale) and self.scale > 0):
            raise AekitError(f"scale: expected a finite number > 0; got {self.scale!r}")
        if self.n_fit < 1:
            raise AekitError(f"n_fit: expected at least 1 normal image; got {self.n_fit}")
        if (self.contamination is None) == (self.percentile is None):
            raise AekitError(f"expected either a contamination or a percentile; got contamination="
                             f"{self.contamination!r}, percentile={self.percentile!r}")
        if self.contamination is not None and not 0.0 < self.contamination < 0.5:
            raise AekitError(f"contamination: expected a share in (0, 0.5); got {self.contamination!r}")
        if self.percentile is not None and not 0.0 < self.percentile < 100.0:
            raise AekitError(f"percentile: expected a number in (0, 100); got {self.percentile!r}")
        if self.elbo_samples < 1:
            raise AekitError(f"elbo_samples: expected at least 1; got {self.elbo_samples}")

    @classmethod
    def fit(cls, scores: np.ndarray, *, score: str, contamination: float | None = None, percentile: float | None = 99.0,
            elbo_samples: int = 4, seed: int = 0) -> AnomalyThreshold:
        """The threshold of normal ``scores``: their ``1 - contamination`` quantile, else ``percentile``."""
        scores = np.asarray(scores, dtype=np.float64)
        if scores.ndim != 1 or len(scores) == 0 or not np.isfinite(scores).all():
            raise AekitError(f"expected a non-empty vector of finite scores of normal images; got shape "
                             f"{scores.shape}" + ("" if np.isfinite(scores).all() else " with NaN or Inf"))
        if contamination is not None:
            threshold, percentile = float(np.quantile(scores, 1.0 - contamination)), None
        elif percentile is not None and 0.0 < percentile < 100.0:
            threshold = float(np.percentile(scores, percentile))
        else:
            raise AekitError(f"percentile: expected a number in (0, 100); got {percentile!r}")
        return cls(score, threshold, float(max(scores.std(), 1e-12)), int(len(scores)), contamination, percentile,
                   int(elbo_samples), int(seed))

    def to_state(self) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
        return asdict(self), {}  # the fields, as AnomalyDetector has saved them since the format began

    @classmethod
    def from_state(cls, info: Mapping[str, Any], tensors: Mapping[str, torch.Tensor]) -> AnomalyThreshold:
        info = fitted.entry(info, "anomaly")
        return cls(
            score=fitted.choice(info, "score", SCORE_KINDS),
            threshold=fitted.number(info, "threshold"),
            scale=fitted.number(info, "scale"),
            n_fit=fitted.integer(info, "n_fit", minimum=1),
            contamination=fitted.number(info, "contamination", default=None, allow_none=True),
            percentile=fitted.number(info, "percentile", default=None, allow_none=True),
            elbo_samples=fitted.integer(info, "elbo_samples", default=4, minimum=1),
            seed=fitted.integer(info, "seed", default=0),
        )
