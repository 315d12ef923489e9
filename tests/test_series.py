"""Time series: reading and its errors, gaps, windows and fold-back, the series model's save/load
round trip with its threshold, SeriesDetector on real NAB data, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import aekit
from aekit.cli import main
from aekit.data.series import SeriesPreprocessing, fold_back, read_series, series_layout, window_starts
from aekit.errors import AekitError, NotFittedError
from aekit.tasks.series import SeriesDetector, find_intervals
from aekit.thresholds import SeriesThreshold

NAB = Path(__file__).resolve().parents[2] / "shared" / "data" / "nab"


def frame(n: int = 300, *, period: int = 24, freq: str = "5min", channels: int = 1, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    data = {"timestamp": pd.date_range("2024-01-01", periods=n, freq=freq)}
    for c in range(channels):
        data["value" if channels == 1 else f"ch{c}"] = np.sin(2 * np.pi * t / period + c) + 0.05 * rng.normal(size=n)
    return pd.DataFrame(data)


# --------------------------------------------------------------------------- reading and clear errors
def test_reads_csv_parquet_and_arrays(tmp_path):
    df = frame(50, channels=2)
    df.to_csv(tmp_path / "s.csv", index=False)
    df.to_parquet(tmp_path / "s.parquet")
    for path in (tmp_path / "s.csv", tmp_path / "s.parquet"):
        s = read_series(path)
        assert s.channels == ("ch0", "ch1") and s.timestamp_column == "timestamp" and s.values.shape == (50, 2)
        assert s.time_kind == "datetime" and s.labels()[1] == "2024-01-01T00:05:00"
    one = read_series(tmp_path / "s.csv", value_columns=["ch1"])
    np.testing.assert_allclose(one.values[:, 0], df["ch1"].to_numpy())
    arr = read_series(np.arange(10.0))
    assert arr.values.shape == (10, 1) and arr.timestamps is None and arr.channels == ("value",)


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.assign(value=d["value"].astype(object).where(d.index != 7, "oops")), r"holds text at row\(s\) 7"),
    (lambda d: d.assign(value=d["value"].where(d.index != 3)), r"missing or infinite values .* row\(s\) 3"),
    (lambda d: d.drop(columns="value").assign(other=1.0), r"missing value column\(s\) 'value'"),
    (lambda d: d.iloc[::-1], "timestamps go back"),
    (lambda d: d.assign(timestamp=d["timestamp"].astype(str).where(d.index != 5, "not a date")), "unreadable"),
])
def test_bad_series_are_clear_errors(tmp_path, edit, message):
    path = tmp_path / "bad.csv"
    edit(frame(40)).to_csv(path, index=False)
    with pytest.raises(AekitError, match=message):
        read_series(path, timestamp_column="timestamp", value_columns=["value"])


def test_missing_timestamp_column_and_short_series(tmp_path):
    frame(40).to_csv(tmp_path / "s.csv", index=False)
    with pytest.raises(AekitError, match="no timestamp column 'ts'; its columns are 'timestamp', 'value'"):
        read_series(tmp_path / "s.csv", timestamp_column="ts")
    with pytest.raises(AekitError, match="40 samples, fewer than one window of 64"):
        SeriesPreprocessing.fit(read_series(tmp_path / "s.csv"), window=64)
    with pytest.raises(AekitError, match="needs a window length"):
        SeriesPreprocessing.fit(read_series(tmp_path / "s.csv"), window=None)


# --------------------------------------------------------------------------- gaps, windows, fold-back
def test_gaps_split_error_and_ignore():
    df = frame(120)
    df.loc[60:, "timestamp"] += pd.Timedelta("1h")  # a 65-minute step between rows 59 and 60
    df.loc[90:, "timestamp"] -= pd.Timedelta("5min")  # and a repeated timestamp at row 90
    s = read_series(df)
    layout = series_layout(s, 16, gaps="split")
    assert layout.step == 300 and layout.gaps == ((60, 3900.0),) and layout.duplicates == (90,)
    assert layout.segments == ((0, 60), (60, 120))
    starts = window_starts(layout, 16)
    assert not ((starts < 60) & (starts + 16 > 60)).any()  # no window crosses the gap
    assert len(starts) == 2 * (60 - 16 + 1)
    assert "1 gap(s) (longest 65 min), split into 2 segments" in layout.describe()
    with pytest.raises(AekitError, match=r"1 gap\(s\) longer than 1.5 x the regular step 5 min: 65 min from "
                                         r"2024-01-01T04:55:00 to 2024-01-01T06:00:00 \(row 60\)"):
        series_layout(s, 16, gaps="error")
    assert series_layout(s, 16, gaps="ignore").segments == ((0, 120),)
    # a segment shorter than a window is reported and left unscored
    short = series_layout(s, 61, gaps="split")
    assert short.short_segments == ((0, 60), (60, 120)) and short.covered == 0
    with pytest.raises(AekitError, match="no gap-free stretch holds a window of 70 samples"):
        SeriesPreprocessing.fit(s, window=70)


def test_windows_fold_back_round_trip():
    s = read_series(frame(100, channels=2))
    prep = SeriesPreprocessing.fit(s, window=16)
    x, space = prep.to_model(s)
    assert x.shape == (100 - 16 + 1, 2, 16)
    # window i, step j is sample i + j, normalised per channel
    z = (s.values - np.asarray(prep.mean)) / np.asarray(prep.std)
    np.testing.assert_allclose(x[5, :, 3].numpy(), z[8], rtol=1e-5)
    back = prep.from_model(x, space)  # the identity reconstruction folds back onto the series
    np.testing.assert_allclose(back, s.values, rtol=1e-5, atol=1e-5)
    folded, counts = fold_back(np.ones((3, 1, 4)), np.array([0, 1, 5]), 10)
    assert counts.tolist() == [1, 2, 2, 2, 1, 1, 1, 1, 1, 0] and np.isnan(folded[9, 0])
    # windows scoring 1, 5 and 2: each sample's mean and smallest score over the windows covering it
    per_window = np.broadcast_to(np.array([1.0, 5.0, 2.0])[:, None, None], (3, 1, 4))
    mean, _ = fold_back(per_window, np.array([0, 1, 5]), 10)
    least, _ = fold_back(per_window, np.array([0, 1, 5]), 10, reduce="min")
    np.testing.assert_allclose(mean[:9, 0], [1, 3, 3, 3, 5, 2, 2, 2, 2])
    np.testing.assert_allclose(least[:9, 0], [1, 1, 1, 1, 5, 2, 2, 2, 2])
    assert np.isnan(least[9, 0])


def test_find_intervals_merge_and_min_length():
    above = np.array([0, 1, 1, 0, 1, 0, 0, 0, 1, 1, 1, 0], dtype=bool)
    assert find_intervals(above) == [(1, 3), (4, 5), (8, 11)]
    assert find_intervals(above, merge_gap=1) == [(1, 5), (8, 11)]
    assert find_intervals(above, min_length=2) == [(1, 3), (8, 11)]
    assert find_intervals(np.zeros(5, dtype=bool)) == []


# --------------------------------------------------------------------------- model, threshold, save/load
@pytest.fixture(scope="module")
def trained():
    torch.set_num_threads(2)
    normal = frame(400, channels=2, seed=1)
    det = SeriesDetector("conv1d", window=48, epochs=3, seed=0, batch_size=64).fit(normal)
    return det, normal


def test_series_model_save_load_round_trip(trained, tmp_path):
    det, normal = trained
    test = frame(400, channels=2, seed=2)
    test.loc[250:260, "ch1"] += 4.0
    found = det.detect(test)
    det.save(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["preprocessing"]["kind"] == "series" and config["preprocessing"]["window"] == 48
    assert config["preprocessing"]["channels"] == ["ch0", "ch1"]
    assert config["fitted"]["series_anomaly"]["method"] == "max"
    loaded = SeriesDetector.load(tmp_path / "m")
    assert loaded.model_.preprocessing == det.model_.preprocessing and loaded.fitted_ == det.fitted_
    again = loaded.detect(test)
    np.testing.assert_allclose(again.scores.scores, found.scores.scores, rtol=1e-6)
    assert again.intervals == found.intervals
    assert [i["top_channel"] for i in found.intervals if i["start"] <= 255 <= i["end"]] == ["ch1"]
    # the threshold is the largest window score of the normal series, which bounds every
    # sample's min-fold score: nothing in it is flagged
    assert det.predict(normal).sum() == 0
    assert det.fit_scores_.window_scores.max() == pytest.approx(det.threshold_)
    assert np.nanmax(det.score_samples(normal)) <= det.threshold_
    with pytest.raises(AekitError, match="sampled every 5 min; this one is sampled every 1 h"):
        det.detect(frame(400, channels=2, freq="1h"))
    with pytest.raises(AekitError, match=r"missing value column\(s\) 'ch1'"):
        det.detect(frame(400, channels=1).rename(columns={"value": "ch0"}))
    with pytest.raises(NotFittedError, match="no series anomaly threshold"):
        SeriesDetector.load(aekit.fit(normal, "conv1d", window=48, epochs=1, save_to=tmp_path / "bare"))


def test_threshold_record_is_checked():
    with pytest.raises(AekitError, match="min_length"):
        SeriesThreshold("mae", 1.0, "max", None, 1.0, 10, min_length=0)
    fitted = SeriesThreshold.fit(np.array([0.1, 0.5, np.nan, 0.3]), score="mae", method="percentile", level=50)
    assert fitted.threshold == pytest.approx(0.3) and fitted.n_fit == 3
    assert SeriesThreshold.from_state(*fitted.to_state()) == fitted


@pytest.mark.skipif(not (NAB / "data").is_dir(), reason="NAB data not found beside the repo")
def test_finds_the_jumpsup_window_on_nab():
    """The Keras example's pair, with a small fast config (window 96, every 8th training window):
    the labelled window is found, and nothing else is flagged."""
    torch.set_num_threads(2)
    data = NAB / "data"
    det = SeriesDetector("conv1d", window=96, stride=8, epochs=8, batch_size=32, seed=0)
    det.fit(data / "artificialNoAnomaly" / "art_daily_small_noise.csv")
    found = det.detect(data / "artificialWithAnomaly" / "art_daily_jumpsup.csv")
    start, end = (np.datetime64(t) for t in
                  json.loads((NAB / "labels" / "combined_windows.json").read_text())
                  ["artificialWithAnomaly/art_daily_jumpsup.csv"][0])
    overlapping = [i for i in found.intervals
                   if np.datetime64(i["start_time"]) <= end and np.datetime64(i["end_time"]) >= start]
    assert len(overlapping) == 1, found.intervals
    assert len(found.intervals) == 1, found.intervals  # no false interval


# --------------------------------------------------------------------------- CLI
def test_cli_train_and_detect_write_the_files(tmp_path, capsys):
    normal = frame(300, period=24)
    normal.rename(columns={"timestamp": "ts"}).to_csv(tmp_path / "train.csv", index=False)
    test = normal.copy()
    test.loc[200:205, "value"] += 3.0
    test.rename(columns={"timestamp": "ts"}).to_csv(tmp_path / "test.csv", index=False)
    run = tmp_path / "run"
    assert main(["train", "--preset", "conv1d", "--dataset", str(tmp_path / "train.csv"), "--timestamp-column", "ts",
                 "--window", "24", "--epochs", "3", "--out", str(run), "--no-progress"]) == 0
    assert (run / "model" / "config.json").is_file() and (run / "run.json").is_file()
    out = tmp_path / "out"
    assert main(["detect", str(run), str(tmp_path / "test.csv"), "-o", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for name in ("scores.csv", "intervals.csv", "intervals.json", "threshold.json", "detect.json", "series.png"):
        assert (out / name).is_file(), name
    scores = pd.read_csv(out / "scores.csv")
    assert list(scores.columns) == ["ts", "value", "score", "windows", "anomaly"] and len(scores) == 300
    intervals = pd.read_csv(out / "intervals.csv")
    assert result["n_intervals"] == len(intervals) >= 1
    assert ((intervals["start"] <= 205) & (intervals["end"] >= 200)).any()
    assert json.loads((out / "threshold.json").read_text())["key"] == "series_anomaly"
    assert json.loads((out / "threshold.json").read_text())["fold"] == "min"
    # a new threshold from a normal series, with the other fold
    assert main(["detect", str(run), str(tmp_path / "test.csv"), "-o", str(tmp_path / "mean"), "--fit",
                 str(tmp_path / "train.csv"), "--fold", "window", "--json"]) == 0
    assert json.loads((tmp_path / "mean" / "threshold.json").read_text())["fold"] == "window"
    capsys.readouterr()
    # bad input: a clear error, a non-zero exit, nothing written
    bad = tmp_path / "bad.csv"
    test.rename(columns={"timestamp": "ts"}).assign(value=lambda d: d["value"].where(d.index != 9)).to_csv(bad)
    assert main(["detect", str(run), str(bad), "-o", str(tmp_path / "out2")]) != 0
    assert "missing or infinite values" in capsys.readouterr().err
    assert not (tmp_path / "out2").exists()


def test_a_series_run_resumes_exactly(tmp_path):
    """A series run is checkpointed like any other: stopped after 2 epochs and resumed to 4, it
    ends with the weights and losses of a run that trained 4 epochs straight."""
    from aekit.train.callbacks import read_metrics
    from test_train import same_weights

    frame(400, period=24).to_csv(tmp_path / "normal.csv", index=False)
    common = dict(dataset=str(tmp_path / "normal.csv"), window=24, stride=2, batch_size=32, seed=0, progress=False)
    aekit.train("conv1d", out=tmp_path / "full", epochs=4, **common)
    aekit.train("conv1d", out=tmp_path / "part", epochs=2, evaluate=False, **common)
    assert json.loads((tmp_path / "part" / "run.json").read_text())["status"]["epochs_done"] == 2
    aekit.train(out=tmp_path / "part", resume=True, epochs=4, progress=False)
    assert same_weights(tmp_path / "full", tmp_path / "part")
    full, part = (read_metrics(tmp_path / name / "metrics.jsonl") for name in ("full", "part"))
    assert len(full) == 4 and [r["val/loss"] for r in full] == [r["val/loss"] for r in part]
    # the run ends with the threshold saved and the training series scored
    evaluation = json.loads((tmp_path / "part" / "eval.json").read_text())
    assert evaluation["kind"] == "series" and evaluation["train_intervals"] == 0
    assert (tmp_path / "part" / "train_detect" / "series.png").is_file()
    assert SeriesDetector.load(tmp_path / "part" / "model").threshold_ == pytest.approx(evaluation["threshold"])
    with pytest.raises(AekitError, match="a series trains in one process"):
        aekit.train("conv1d", out=tmp_path / "ddp", nproc=2, epochs=1, **common)


# --------------------------------------------------------------------------- HTTP
def test_http_detect_on_a_series_model(trained):
    pytest.importorskip("httpx", reason="FastAPI's TestClient needs httpx")
    from fastapi.testclient import TestClient

    from aekit.serve import create_app

    det, _ = trained
    test = frame(400, channels=2, seed=2)
    test.loc[250:260, "ch1"] += 4.0
    client = TestClient(create_app({"s": det.model_}, test_images=0))
    body = {"series": {"timestamp": test["timestamp"].astype(str).tolist(), "ch0": test["ch0"].tolist(),
                       "ch1": test["ch1"].tolist()}}
    answer = client.post("/detect", json=body)
    assert answer.status_code == 200, answer.text
    got = answer.json()
    expected = det.detect(test)
    assert got["threshold"] == pytest.approx(det.threshold_)
    np.testing.assert_allclose(got["scores"], expected.scores.scores, rtol=1e-5)
    assert [(i["start"], i["end"]) for i in got["intervals"]] == [(i["start"], i["end"]) for i in expected.intervals]
    assert client.post("/detect", json={"series": test[["ch0", "ch1"]].to_numpy().tolist()}).status_code == 200
    # bad requests are 4xx with the reason, never 500
    short = client.post("/detect", json={"series": [[0.0, 1.0]] * 10})
    assert short.status_code == 422 and "fewer than one window" in short.json()["detail"]
    nan = client.post("/detect", json={"series": {"ch0": [1.0, None] * 50, "ch1": [0.0] * 100}})
    assert nan.status_code == 422, nan.text
    ragged = client.post("/detect", json={"series": {"ch0": [1.0] * 50, "ch1": [0.0] * 49}})
    assert ragged.status_code == 422 and "equal length" in ragged.json()["detail"]
    wrong = client.post("/encode", json={"images": [[0.0] * 48] * 2})
    assert wrong.status_code == 422 and "use /detect" in wrong.json()["detail"]
    assert client.get("/models").json()["models"][0]["kind"] == "series"
