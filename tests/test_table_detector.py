"""AnomalyDetector on a pandas DataFrame: PyOD's interface, with each column's share of a score."""

from __future__ import annotations

import numpy as np
import pytest

from aekit.tasks.anomaly import AnomalyDetector

pd = pytest.importorskip("pandas")


def frame(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    size = rng.normal(10, 2, n)
    return pd.DataFrame({"size": size, "price": 3 * size + rng.normal(0, 0.5, n),
                         "colour": rng.choice(["red", "blue"], n)})


def test_detector_on_a_dataframe_flags_the_broken_rows_and_names_the_column():
    train = frame(600)
    test = frame(40, seed=1)
    test.loc[:4, "price"] = test.loc[:4, "size"] * 3 + 25  # price no longer follows size
    det = AnomalyDetector(contamination=0.05, epochs=40, seed=0).fit(train)
    assert det.threshold_ > 0 and det.model_.preprocessing.kind == "table"
    scores = det.score_samples(test)
    assert scores.shape == (40,) and scores[:5].min() > np.median(scores[5:]) * 3
    assert det.predict(test)[:5].tolist() == [1] * 5
    proba = det.predict_proba(test)
    assert proba.shape == (40, 2) and np.allclose(proba.sum(1), 1)
    assert np.allclose(det.decision_function(test), scores - det.threshold_)
    shares = det.contributions(test)
    assert shares.shape == (40, 3)  # size, price, colour (two one-hot slots added up)
    assert np.allclose(shares.sum(1), scores, rtol=1e-4)
    assert {int(np.argmax(row)) for row in shares[:5]} <= {0, 1}  # size or price, never colour
