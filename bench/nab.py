"""NAB: the Keras example reproduced, then every labelled NAB series with one default configuration.

**(a) The Keras example** ("Timeseries anomaly detection using an Autoencoder"): train on
``artificialNoAnomaly/art_daily_small_noise.csv`` (windows of 288, stride 1, normalised with the
training mean and std), threshold = the largest training score, and look for the labelled window
of ``artificialWithAnomaly/art_daily_jumpsup.csv``. Three rows: aekit's ``conv1d`` preset (the
example's model) through :class:`aekit.SeriesDetector` with its defaults (min-fold MAE: a
sample's score is the smallest error of the windows covering it; threshold ``max``, the largest
training window error), the example's own rule applied to the same aekit model (a window is anomalous
when its MAE exceeds the largest training window MAE; a sample when every window covering it is),
and, when ``keras`` imports (``KERAS_BACKEND=torch``), the example's Keras model and rule.

**(b) Every labelled series** in ``nab/labels/combined_windows.json`` (51 series here, 6 of them
without anomaly windows), one configuration for all (``DEFAULT`` below), unsupervised: the model
trains on the whole series, without labels (as PyOD/ADBench do), and the threshold is a robust
z-score of the series' own scores: median + ``AE_K`` x 1.4826 x MAD (a percentile would flag the
same share of every series, clean ones included). Series are windowed record by record
(``gaps="ignore"``, as NAB's detectors see them; the gaps found are counted in the JSON).
Baseline in the same run: a rolling z-score (trailing mean and std of ``Z_WINDOW`` samples,
``|z| > Z_K``), with the same interval post-processing. The settings of both were chosen on the
artificial series only (see ``TUNED_ON``); the real series' labels were used only to score.

Metrics, per series and summed over all: a labelled window is detected when an interval overlaps
it (recall); an interval overlapping no labelled window is a false positive (precision); F1 of
the two; time to first detection (from the window's start to the first flagged sample in it, or
0 when an interval already runs into it), median over detected windows, in samples and hours::

    python bench/nab.py                 # both parts (about 15-20 minutes on 2 busy cores)
    python bench/nab.py --part b --series artificial    # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

from common import RUNS, default_data_dir, markdown_table, write_results  # noqa: E402

CACHE = RUNS / "nab"  # per-series results of part (b), keyed by the settings: a killed run resumes

WINDOW = 288
KERAS_EPOCHS = 10  # the example trains up to 50 with early stopping (patience 5); both sides get the same budget
DEFAULT = dict(preset="conv1d", window=64, stride=8, epochs=6, batch_size=64, latent_dim=4, gaps="ignore",
               fold="window")
AE_K = 5.0  # threshold = median + AE_K * 1.4826 * MAD of the series' own scores (a robust z-score of the scores)
MERGE_GAP = 0
K_GRID: tuple[float, ...] = ()  # thresholds also evaluated in tuning runs (--tune '{"k_grid": [3, 4, 6]}')
Z_WINDOW = 64
Z_K = 3.0
TUNED_ON = ("thresholds chosen on the 11 artificial series only (artificialWithAnomaly + artificialNoAnomaly), "
            "from k in {3, 4, 5, 6, 8, 10, 14} for both detectors: aekit k 4 and 5 tie (F1 0.667, precision 1, "
            "recall 0.5), the higher (fewer alarms) kept; z-score k 3 best (F1 0.134). A first try with a "
            "percentile threshold (99) gave aekit F1 0.21 there (it flags every series, clean ones too) and was "
            "dropped. The min fold (SeriesDetector's default, made so for part (a)) scored F1 0.213 at its best "
            "k (5 and 6) there against the window fold's 0.667 (bench/results/nab_tune_min.md), so (b) keeps "
            "fold='window'. Window 64, stride 8, 6 epochs, latent 4 were set up front for time, not tuned")


# --------------------------------------------------------------------------- scoring against labels
def label_spans(series, windows: list[list[str]]) -> list[tuple[int, int]]:
    """NAB's labelled windows as inclusive sample ranges of ``series``."""
    import numpy as np

    ts = series.timestamps
    spans = []
    for start, end in windows:
        a = int(np.searchsorted(ts, np.datetime64(start), side="left"))
        b = int(np.searchsorted(ts, np.datetime64(end), side="right")) - 1
        if b >= a:
            spans.append((a, b))
    return spans


def score_intervals(intervals: list[tuple[int, int]], spans: list[tuple[int, int]]) -> dict:
    """Window-level counts: detected windows, missed windows, false intervals, detection delays."""
    detected, delays = 0, []
    for a, b in spans:
        hits = [(s, e) for s, e in intervals if s <= b and e >= a]
        if hits:
            detected += 1
            delays.append(max(0, min(s for s, _ in hits) - a))
    false = sum(1 for s, e in intervals if not any(s <= b and e >= a for a, b in spans))
    return {"windows": len(spans), "detected": detected, "intervals": len(intervals), "false": false,
            "delays": delays}


def prf(tp_windows: int, n_windows: int, n_intervals: int, false: int) -> dict:
    precision = (n_intervals - false) / n_intervals if n_intervals else float("nan")
    recall = tp_windows / n_windows if n_windows else float("nan")
    f1 = 2 * precision * recall / (precision + recall) if n_intervals and n_windows and precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def runs(flags) -> list[tuple[int, int]]:
    from aekit.tasks.series import find_intervals

    return [(a, b - 1) for a, b in find_intervals(flags, merge_gap=MERGE_GAP)]


def rolling_z(values, window: int, k: float):
    """Flags where |x - trailing mean| > k * trailing std (the previous ``window`` samples)."""
    import numpy as np
    import pandas as pd

    x = pd.Series(values)
    mean = x.rolling(window, min_periods=window).mean().shift(1)
    std = x.rolling(window, min_periods=window).std(ddof=0).shift(1)
    z = ((x - mean) / std.where(std > 1e-12)).abs().to_numpy()
    return np.nan_to_num(z, nan=0.0) > k


# --------------------------------------------------------------------------- (a) the Keras example
def keras_rule(train_window_mae, test_window_mae, window: int, n: int):
    """The example's rule: windows above the max training window MAE; sample i anomalous when every
    window covering it is (the example checks samples ``window - 1 .. n - window``)."""
    import numpy as np

    above = test_window_mae > train_window_mae.max()
    flags = np.zeros(n, dtype=bool)
    for i in range(window - 1, n - window + 1):
        flags[i] = bool(np.all(above[i - window + 1:i + 1]))
    return flags


def keras_model(window: int):
    import keras
    from keras import layers

    return keras.Sequential([
        layers.Input(shape=(window, 1)),
        layers.Conv1D(32, 7, padding="same", strides=2, activation="relu"),
        layers.Dropout(0.2),
        layers.Conv1D(16, 7, padding="same", strides=2, activation="relu"),
        layers.Conv1DTranspose(16, 7, padding="same", strides=2, activation="relu"),
        layers.Dropout(0.2),
        layers.Conv1DTranspose(32, 7, padding="same", strides=2, activation="relu"),
        layers.Conv1DTranspose(1, 7, padding="same"),
    ])


def part_a(data: Path, epochs: int, log) -> list[dict]:
    """Part (a), cached in ``bench/runs/nab/keras_example.json`` (keyed by the epochs)."""
    cache = CACHE / "keras_example.json"
    if cache.is_file() and json.loads(cache.read_text()).get("epochs") == epochs:
        rows = json.loads(cache.read_text())["rows"]
        for row in rows:
            log(f"  {row['model']}: {row} (cached)")
        return rows
    rows = _part_a(data, epochs, log)
    CACHE.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"epochs": epochs, "rows": rows}))
    return rows


def _part_a(data: Path, epochs: int, log) -> list[dict]:
    import numpy as np
    import torch

    from aekit import SeriesDetector, read_series

    labels = json.loads((data.parent / "labels" / "combined_windows.json").read_text())
    train_path = data / "artificialNoAnomaly" / "art_daily_small_noise.csv"
    test_path = data / "artificialWithAnomaly" / "art_daily_jumpsup.csv"
    test = read_series(test_path)
    spans = label_spans(test, labels["artificialWithAnomaly/art_daily_jumpsup.csv"])
    rows = []

    def row(name, intervals, seconds, threshold, note=""):
        s = score_intervals(intervals, spans)
        found = [(test.labels()[a], test.labels()[b]) for a, b in intervals]
        rows.append({"model": name, "found_window": s["detected"] == 1, "false_intervals": s["false"],
                     "intervals": "; ".join(f"{a} .. {b}" for a, b in found), "threshold": threshold,
                     "seconds": round(seconds, 1), "note": note})
        log(f"  {name}: {rows[-1]}")

    started = time.perf_counter()
    torch.manual_seed(0)
    det = SeriesDetector("conv1d", window=WINDOW, epochs=epochs, seed=0).fit(train_path)
    fit_seconds = time.perf_counter() - started
    found = det.detect(test_path)
    row("aekit conv1d (SeriesDetector defaults)", [(i["start"], i["end"]) for i in found.intervals],
        time.perf_counter() - started, det.threshold_,
        f"{len(det.model_.history)} epochs, min-fold MAE, threshold = max training window MAE")
    flags = keras_rule(det.fit_scores_.window_scores, found.scores.window_scores, WINDOW, len(test))
    row("aekit conv1d + the example's rule", runs(flags), fit_seconds, float(det.fit_scores_.window_scores.max()),
        "same model; threshold = max training window MAE")
    try:
        import keras
    except ImportError as err:  # pragma: no cover - depends on the environment
        rows.append({"model": "keras example", "note": f"keras not importable: {err}"})
        return rows
    started = time.perf_counter()
    keras.utils.set_random_seed(0)
    train = read_series(train_path).values[:, 0]
    mean, std = train.mean(), train.std(ddof=1)  # pandas' std, as the example

    def sequences(v):
        z = ((v - mean) / std).astype("float32")
        return np.stack([z[i:i + WINDOW] for i in range(len(z) - WINDOW + 1)])[..., None]

    x_train, x_test = sequences(train), sequences(test.values[:, 0])
    model = keras_model(WINDOW)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.001), loss="mse")
    history = model.fit(x_train, x_train, epochs=epochs, batch_size=128, validation_split=0.1, verbose=0,
                        callbacks=[keras.callbacks.EarlyStopping(monitor="val_loss", patience=5, mode="min")])
    train_mae = np.mean(np.abs(model.predict(x_train, verbose=0) - x_train), axis=(1, 2))
    test_mae = np.mean(np.abs(model.predict(x_test, verbose=0) - x_test), axis=(1, 2))
    flags = keras_rule(train_mae, test_mae, WINDOW, len(test))
    row(f"keras example (keras {keras.__version__}, backend {keras.backend.backend()})", runs(flags),
        time.perf_counter() - started, float(train_mae.max()), f"{len(history.history['loss'])} epochs")
    return rows


# --------------------------------------------------------------------------- (b) every labelled series
def part_b(data: Path, which: str, log) -> tuple[list[dict], dict]:
    import numpy as np

    from aekit import read_series

    labels = json.loads((data.parent / "labels" / "combined_windows.json").read_text())
    names = sorted(n for n in labels if which == "all" or n.startswith(which))
    rows, totals = [], {m: {"windows": 0, "detected": 0, "intervals": 0, "false": 0, "delays": [], "hours": [],
                            "seconds": 0.0} for m in ("aekit", "zscore")}
    options = {k: v for k, v in DEFAULT.items() if k != "preset"}
    grid: dict = {(m, k): [] for m in ("aekit", "zscore") for k in K_GRID}
    key = json.dumps([DEFAULT, AE_K, Z_K, Z_WINDOW, MERGE_GAP, K_GRID], sort_keys=True)
    for name in names:
        series = read_series(data / name)
        spans = label_spans(series, labels[name])
        step_h = float(np.median(np.diff(series.time_axis()))) / 3600
        cache = CACHE / (name.replace("/", "__") + ".json")
        if cache.is_file() and json.loads(cache.read_text()).get("key") == key:
            done = json.loads(cache.read_text())
            intervals, seconds = {m: [tuple(v) for v in iv] for m, iv in done["intervals"].items()}, done["seconds"]
            gaps = done["gaps"]
        else:
            intervals, seconds, gaps = _run_series(series, spans, options, grid)
            CACHE.mkdir(parents=True, exist_ok=True)
            cache.write_text(json.dumps({"key": key, "intervals": intervals, "seconds": seconds, "gaps": gaps}))
        row = {"series": name, "samples": len(series), "windows": len(spans), "gaps": gaps}
        for m in ("aekit", "zscore"):
            s = score_intervals(intervals[m], spans)
            t = totals[m]
            for k in ("windows", "detected", "intervals", "false"):
                t[k] += s[k]
            t["delays"] += s["delays"]
            t["hours"] += [d * step_h for d in s["delays"]]
            t["seconds"] += seconds[m]
            row.update({f"{m}_detected": s["detected"], f"{m}_intervals": s["intervals"], f"{m}_false": s["false"]})
        row["aekit_seconds"] = round(seconds["aekit"], 1)
        rows.append(row)
        log(f"  {name}: {row}")
    return _summary(rows, totals, grid, log)


def _run_series(series, spans, options: dict, grid: dict) -> tuple[dict, dict, int]:
    """aekit's and the z-score's intervals on one series, their seconds, and the gaps found."""
    import numpy as np
    import torch

    from aekit import SeriesDetector

    started = time.perf_counter()
    torch.manual_seed(0)
    det = SeriesDetector(DEFAULT["preset"], seed=0, **options).fit(series)
    scores = det.fit_scores_.scores
    median = np.nanmedian(scores)
    threshold = median + AE_K * 1.4826 * np.nanmedian(np.abs(scores - median))
    seconds = {"aekit": time.perf_counter() - started}
    intervals = {"aekit": runs(np.nan_to_num(scores, nan=-np.inf) > threshold)}
    started = time.perf_counter()
    intervals["zscore"] = runs(rolling_z(series.values[:, 0], Z_WINDOW, Z_K))
    seconds["zscore"] = time.perf_counter() - started
    for k in K_GRID:  # tuning runs (--tune) only: the same scores at other thresholds
        grid[("aekit", k)].append(score_intervals(
            runs(np.nan_to_num(scores, nan=-np.inf) > median + k * 1.4826 * np.nanmedian(np.abs(scores - median))),
            spans))
        grid[("zscore", k)].append(score_intervals(runs(rolling_z(series.values[:, 0], Z_WINDOW, k)), spans))
    return intervals, seconds, len(det.fit_scores_.layout.gaps)


def _summary(rows: list[dict], totals: dict, grid: dict, log) -> tuple[list[dict], dict]:
    import numpy as np

    for (m, k), scored in grid.items():
        f = prf(*(sum(s[key] for s in scored) for key in ("detected", "windows", "intervals", "false")))
        log(f"  tuning: {m} k={k}: precision {f['precision']:.3f} recall {f['recall']:.3f} F1 {f['f1']:.3f}")
    summary = {}
    for m, t in totals.items():
        summary[m] = {**prf(t["detected"], t["windows"], t["intervals"], t["false"]),
                      "windows": t["windows"], "detected": t["detected"], "intervals": t["intervals"],
                      "false_intervals": t["false"],
                      "median_delay_samples": float(np.median(t["delays"])) if t["delays"] else None,
                      "median_delay_hours": float(np.median(t["hours"])) if t["hours"] else None,
                      "seconds": round(t["seconds"], 1)}
    return rows, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", default="ab", help="a, b or ab")
    parser.add_argument("--series", default="all", help="all, or a prefix such as artificial or realTweets")
    parser.add_argument("--keras-epochs", type=int, default=KERAS_EPOCHS)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data-dir", default=default_data_dir())
    parser.add_argument("--name", default="nab", help="results file name (bench/results/NAME.json/.md)")
    parser.add_argument("--tune", default="{}", help='tuning runs only: JSON overrides, e.g. {"window": 32, '
                                                     '"percentile": 99.5, "z_k": 3}')
    args = parser.parse_args()
    global AE_K, Z_K, Z_WINDOW, K_GRID
    tune = json.loads(args.tune)
    AE_K = float(tune.pop("ae_k", AE_K))
    K_GRID = tuple(float(k) for k in tune.pop("k_grid", ()))
    Z_K = float(tune.pop("z_k", Z_K))
    Z_WINDOW = int(tune.pop("z_window", Z_WINDOW))
    DEFAULT.update(tune)

    import torch

    torch.set_num_threads(args.threads)
    data = Path(args.data_dir) / "nab" / "data"
    started = time.perf_counter()
    payload: dict = {"settings": {"window_a": WINDOW, "epochs_a": args.keras_epochs, "default_b": DEFAULT,
                                  "robust_k_b": AE_K, "merge_gap": MERGE_GAP, "zscore": {"window": Z_WINDOW,
                                                                                                 "k": Z_K},
                                  "protocol_b": "unsupervised: each series trains its own model on all of itself "
                                                "(no labels), threshold = median + k * 1.4826 * MAD of its own scores",
                                  "tuning": TUNED_ON}}
    text = []
    if "a" in args.part:
        print("(a) the Keras example: train on art_daily_small_noise, find the window in art_daily_jumpsup")
        payload["keras_example"] = part_a(data, args.keras_epochs, print)
        text += ["## (a) The Keras example", "",
                 markdown_table(payload["keras_example"], ["model", "found_window", "false_intervals", "intervals",
                                                           "threshold", "seconds", "note"])]
    if "b" in args.part:
        print(f"(b) every labelled series ({args.series})")
        rows, summary = part_b(data, args.series, print)
        payload["series"], payload["summary"] = rows, summary
        text += ["", f"## (b) Every labelled series ({len(rows)}), one configuration", "",
                 markdown_table([{"detector": m, **v} for m, v in summary.items()],
                                ["detector", "precision", "recall", "f1", "windows", "detected", "intervals",
                                 "false_intervals", "median_delay_samples", "median_delay_hours", "seconds"]),
                 "", "<details><summary>per series</summary>", "",
                 markdown_table(rows), "", "</details>"]
    payload["total_seconds"] = round(time.perf_counter() - started, 1)
    compute = {"a": sum(r.get("seconds", 0) for r in payload.get("keras_example", [])
                        if "example's rule" not in r["model"]),  # that row reuses the aekit model
               "b": sum(v["seconds"] for v in payload.get("summary", {}).values())}
    payload["compute_seconds"] = {k: round(v, 1) for k, v in compute.items()}
    notes = (f"Compute: part (a) {compute['a']:.0f} s (aekit fit + detect, and the Keras model), part (b) "
             f"{compute['b']:.0f} s (summed per series), on 2 cores shared with other jobs (load average 5-9); this "
             f"invocation took {payload['total_seconds']} s, reusing the per-series and part (a) results cached in "
             f"bench/runs/nab by the run that computed them. torch threads {args.threads}. (b) protocol: "
             f"{payload['settings']['protocol_b']}; config {DEFAULT}, k {AE_K}; rolling z-score "
             f"window {Z_WINDOW}, k {Z_K}. Tuning: {TUNED_ON}; the real series' labels were used only to score.")
    write_results(args.name, payload, "\n".join(text), notes=notes)


if __name__ == "__main__":
    main()
