"""The default anomaly detector on rows of a table: bounded training, the code-space term, contributions.

The real-data test reads one small ADBench set from the shared data folder ($AEKIT_DATA, else
../shared/data) and is skipped without it; bench/adbench.py measures all 30.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from aekit.config import auto_latent_dim
from aekit.tasks.anomaly import (
    ROW_BATCH,
    ROW_EPOCHS,
    ROW_PRESET,
    AnomalyDetector,
    code_distances,
    roc_curve_auc,
    row_steps,
)

REPO = Path(__file__).resolve().parents[1]
ADBENCH = Path(os.environ.get("AEKIT_DATA") or REPO.parent / "shared" / "data") / "adbench"


def correlated_rows(n: int, seed: int = 0, features: int = 8) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mixing = np.random.default_rng(99).normal(size=(2, features))
    return rng.normal(size=(n, 2)) @ mixing + 0.05 * rng.normal(size=(n, features))


@pytest.mark.skipif(not (ADBENCH / "43_WDBC.npz").exists(), reason=f"no ADBench data at {ADBENCH}")
def test_default_detector_on_a_real_adbench_set():
    """Unsupervised on 43_WDBC (367 rows, 10 outliers): fit on all rows, score them; the bench
    measured ROC-AUC 0.98 for the default (IForest 0.98)."""
    with np.load(ADBENCH / "43_WDBC.npz") as f:
        X, y = f["X"], f["y"].astype(int)
    det = AnomalyDetector(seed=0).fit(X)
    assert det.model_.config.preset == ROW_PRESET
    assert roc_curve_auc(det.decision_function(X), y)[2] > 0.9


def test_training_is_bounded_whatever_the_rows():
    """The recipe draws steps * batch rows for ROW_EPOCHS epochs: a few thousand rows and 30,000
    rows cost at most ROW_STEPS steps, and the fit takes seconds (one thread; the bound is loose
    for shared machines)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        AnomalyDetector().fit(correlated_rows(200))  # one-off first-call costs out of the timing
        check_bounded_fits()
    finally:
        torch.set_num_threads(threads)


def check_bounded_fits():
    for n in (3000, 30000):
        started = time.perf_counter()
        det = AnomalyDetector().fit(correlated_rows(n))
        seconds = time.perf_counter() - started
        n_train = n - int(round(n * 0.1))
        steps = row_steps(n_train, ROW_BATCH)
        assert det.model_.data_info["splits"]["train"] == steps * ROW_BATCH // ROW_EPOCHS
        assert len(det.model_.history) == ROW_EPOCHS
        assert det.model_.config.model.latent_dim == auto_latent_dim(8)
        assert seconds < 60, f"{n} rows took {seconds:.0f} s"


def test_scores_and_contributions():
    """Scores combine the reconstruction error (whose per-feature contributions are the maps) and
    the distance to the nearest training codes; the column that broke a row leads its contributions."""
    normal = correlated_rows(2000)
    test = correlated_rows(200, seed=1)
    test[:20, 3] += 8.0  # breaks the correlation in column 3 only (about 6 of its standard deviations)
    labels = np.r_[np.ones(20, int), np.zeros(180, int)]
    det = AnomalyDetector(contamination=0.05).fit(normal)
    scores = det.score_samples(test)
    maps = det.pixel_maps(test)
    assert scores.shape == (200,) and maps.shape == (200, 8) and (maps >= 0).all()
    nb = det.neighbours_
    x_model, _ = det.model_.preprocessing.to_model(test)
    distances = code_distances(det.model_, x_model, nb.codes, nb.k)
    np.testing.assert_allclose(nb.combine(maps.mean(1), distances), scores, rtol=1e-5, atol=1e-6)
    both, both_maps = det.scores_and_maps(test)
    np.testing.assert_allclose(both, scores, rtol=1e-6)
    np.testing.assert_allclose(both_maps, maps, rtol=1e-6)
    # Few steps on 1,800 clean rows leave the network undertrained: the reconstruction term alone
    # ranks better here (0.98) than the sum (0.90); on ADBench's dev sets the sum won.
    assert roc_curve_auc(maps.mean(1), labels)[2] > 0.9 and roc_curve_auc(scores, labels)[2] > 0.8
    assert (maps[:20].argmax(1) == 3).mean() > 0.8
    predicted = det.predict(test)
    assert predicted[:20].mean() > predicted[20:].mean()


def test_the_code_space_term_is_saved_with_the_model(tmp_path):
    rows = correlated_rows(1500)
    det = AnomalyDetector(contamination=0.05).fit(rows)
    det.save(tmp_path / "det")
    back = AnomalyDetector.load(tmp_path / "det")
    assert back.neighbours_ is not None and back.neighbours_.k == det.neighbours_.k
    np.testing.assert_allclose(back.score_samples(rows[:50]), det.score_samples(rows[:50]), rtol=1e-5)
    assert back.threshold_ == det.threshold_
    off = AnomalyDetector(neighbours=0, contamination=0.05).fit(rows)
    assert off.neighbours_ is None and "code_neighbours" not in off.model_.fitted
    np.testing.assert_allclose(off.score_samples(rows[:5]), off.pixel_maps(rows[:5]).mean(1), rtol=1e-5)
