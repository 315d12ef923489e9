"""ADBench tabular anomaly detection: aekit's default table detector against PyOD, side by side.

Data: the 30 ADBench "Classical" sets in ``../shared/data/adbench`` (``X``, ``y`` with 1 = outlier).
Protocols (those of ADBench / PyOD's benchmark):

- ``unsupervised``: fit without labels on all of ``X``, score every row;
- ``semi``: fit on a seeded 50 % of the inliers, score the rest (the other inliers and every outlier).

Detectors: ``aekit`` (``AnomalyDetector()`` on rows, its defaults), ``aekit-vae`` (the same recipe
with the ``vae`` preset), PyOD's ``AutoEncoder`` and ``VAE`` with their defaults (``verbose=0``),
``IForest``, ``ECOD`` and ``KNN``. ROC-AUC and average precision per dataset, their means, the
average rank, fit and score seconds, peak RSS of the worker process.

Every (dataset, detector, seed, protocol) runs in its own worker process (at most ``--workers`` at
a time, one torch thread each) and is killed after ``--time-cap`` seconds, then recorded as a
timeout, never dropped. Results are cached in ``results/adbench_cache.json`` as they finish, so
a long run can be stopped and continued, or run piecewise::

    python bench/adbench.py                                     # everything not cached yet
    python bench/adbench.py --datasets 39_vertebral,43_WDBC --detectors aekit,iforest --seeds 0
    python bench/adbench.py --protocols unsupervised --seeds 0 --time-cap 300
    python bench/adbench.py --report                            # tables from the cache only
    python bench/adbench.py --rerun aekit                       # forget a detector's cached results

Tuning honesty: the defaults of aekit's table detector were chosen on the ``DEV`` sets below only;
the tables report the mean over the other 20 sets (held out) separately from the mean over all 30.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import time
import traceback
from pathlib import Path
from typing import Any

from common import RESULTS, default_data_dir, markdown_table, write_results

DATASETS = (
    "1_ALOI", "2_annthyroid", "5_campaign", "7_Cardiotocography", "8_celeba", "10_cover", "11_donors", "12_fault",
    "15_Hepatitis", "16_http", "17_InternetAds", "19_landsat", "20_letter", "22_magic.gamma", "23_mammography",
    "24_mnist", "26_optdigits", "27_PageBlocks", "28_pendigits", "30_satellite", "32_shuttle", "33_skin",
    "34_smtp", "35_SpamBase", "37_Stamps", "39_vertebral", "41_Waveform", "43_WDBC", "44_Wilt", "46_WPBC",
)
# The development sets: the only ones looked at while choosing aekit's table defaults (fixed before tuning).
DEV = ("39_vertebral", "43_WDBC", "12_fault", "7_Cardiotocography", "23_mammography", "27_PageBlocks",
       "2_annthyroid", "28_pendigits", "30_satellite", "41_Waveform")
DETECTORS = ("aekit", "aekit-vae", "pyod-ae", "pyod-vae", "iforest", "ecod", "knn")
DETERMINISTIC = ("ecod", "knn")  # no seed: under the unsupervised protocol seed 0's result stands for all
PROTOCOLS = ("unsupervised", "semi")
CACHE = RESULTS / "adbench_cache.json"


# --------------------------------------------------------------------------- one job, in a worker
def make_detector(name: str, seed: int) -> Any:
    if name in ("aekit", "aekit-vae"):
        from aekit.tasks.anomaly import AnomalyDetector

        return AnomalyDetector("auto" if name == "aekit" else "vae", seed=seed)
    if name == "pyod-ae":
        from pyod.models.auto_encoder import AutoEncoder

        return AutoEncoder(random_state=seed, verbose=0)
    if name == "pyod-vae":
        from pyod.models.vae import VAE

        return VAE(random_state=seed, verbose=0)
    if name == "iforest":
        from pyod.models.iforest import IForest

        return IForest(random_state=seed)
    if name == "ecod":
        from pyod.models.ecod import ECOD

        return ECOD()
    if name == "knn":
        from pyod.models.knn import KNN

        return KNN()
    raise ValueError(f"unknown detector {name!r}; valid: {', '.join(DETECTORS)}")


def fit_rows(data_dir: str, dataset: str, protocol: str) -> int:
    """Rows a detector fits on under ``protocol`` (read from the labels only)."""
    import numpy as np

    with np.load(Path(data_dir) / "adbench" / f"{dataset}.npz") as f:
        y = np.asarray(f["y"]).ravel()
    return int(len(y)) if protocol == "unsupervised" else int((y == 0).sum() // 2)


def split(y, protocol: str, seed: int):
    """Indices to fit on and to score, per protocol."""
    import numpy as np

    every = np.arange(len(y))
    if protocol == "unsupervised":
        return every, every
    inliers = np.flatnonzero(y == 0)
    order = np.random.default_rng(seed).permutation(inliers)
    train = np.sort(order[: len(order) // 2])
    return train, np.setdiff1d(every, train)


def run_job(data_dir: str, dataset: str, detector: str, seed: int, protocol: str) -> dict[str, Any]:
    import resource
    import warnings

    import numpy as np
    import torch
    from sklearn.metrics import average_precision_score, roc_auc_score

    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    np.random.seed(seed)
    with np.load(Path(data_dir) / "adbench" / f"{dataset}.npz") as f:
        X, y = np.asarray(f["X"], dtype=np.float64), np.asarray(f["y"]).astype(int).ravel()
    train, test = split(y, protocol, seed)
    det = make_detector(detector, seed)
    started = time.perf_counter()
    det.fit(X[train])
    fit_s = time.perf_counter() - started
    started = time.perf_counter()
    scores = np.asarray(det.decision_function(X[test]), dtype=np.float64)
    score_s = time.perf_counter() - started
    if not np.isfinite(scores).all():  # rank them last rather than crash the metric
        scores = np.where(np.isfinite(scores), scores, np.nanmax(np.where(np.isfinite(scores), scores, -np.inf)))
    return {"status": "ok", "auroc": float(roc_auc_score(y[test], scores)),
            "ap": float(average_precision_score(y[test], scores)), "fit_s": fit_s, "score_s": score_s,
            "n_fit": int(len(train)), "n_score": int(len(test)),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def warm_up() -> None:
    """Pay the one-off first-call costs (lazy imports of torch's optimiser and compiler stack,
    PyOD's and aekit's modules) once in the parent, before workers fork from it, so no
    detector's fit time includes them (they took 13 s of PyOD's first fit on an 80-row set)."""
    import numpy as np
    import pyod.models.auto_encoder  # noqa: F401
    import pyod.models.ecod  # noqa: F401
    import pyod.models.iforest  # noqa: F401
    import pyod.models.knn  # noqa: F401
    import pyod.models.vae  # noqa: F401
    import torch

    import aekit.tasks.anomaly  # noqa: F401

    torch.set_num_threads(1)
    x = np.random.default_rng(0).normal(size=(64, 4))
    for name in ("aekit", "pyod-ae"):
        make_detector(name, 0).fit(x)


def _worker(queue, *args) -> None:
    try:
        queue.put(run_job(*args))
    except Exception as err:  # recorded, not raised: one failing peer must not stop the bench
        queue.put({"status": "error", "error": f"{type(err).__name__}: {err}",
                   "trace": traceback.format_exc()[-2000:]})


# --------------------------------------------------------------------------- the cache
def key(dataset: str, detector: str, seed: int, protocol: str) -> str:
    return f"{dataset}|{detector}|{seed}|{protocol}"


def load_cache() -> dict[str, dict[str, Any]]:
    return json.loads(CACHE.read_text()) if CACHE.exists() else {}


def save_cache(cache: dict[str, dict[str, Any]], drop: tuple[str, ...] = ()) -> None:
    """Merge ``cache`` into the file (another bench process may be adding to it), minus ``drop``."""
    import fcntl

    CACHE.parent.mkdir(parents=True, exist_ok=True)
    with open(CACHE.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        merged = {k: v for k, v in {**load_cache(), **cache}.items() if k not in drop}
        cache.update(merged)
        tmp = CACHE.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(dict(sorted(merged.items())), indent=1) + "\n")
        os.replace(tmp, CACHE)  # a killed bench never leaves half a cache


def run_jobs(jobs: list[tuple[str, str, int, str]], cache: dict, args) -> None:
    """Run ``jobs`` in at most ``args.workers`` processes, each killed after ``args.time_cap`` s."""
    ctx = mp.get_context("fork")
    pending, running = list(jobs), []
    while pending or running:
        while pending and len(running) < args.workers:
            job = pending.pop(0)
            dataset, detector, seed, protocol = job
            if detector in DETERMINISTIC and protocol == "unsupervised" and seed != 0:
                base = cache.get(key(dataset, detector, 0, protocol))
                if base is not None:  # the same fit on the same data: seed 0 stands for all seeds
                    cache[key(*job)] = {**base, "note": "deterministic: seed 0's result"}
                    save_cache(cache)
                    continue
            n_fit = fit_rows(args.data_dir, dataset, protocol)
            smaller = sorted((r["n_fit"], k.split("|")[0]) for k, r in cache.items()
                             if k.split("|")[1] == detector and k.split("|")[3] == protocol
                             and r.get("status") == "timeout" and r.get("n_fit", 1 << 62) <= n_fit
                             and "not run" not in r.get("note", ""))
            if smaller:  # its fit time grows with the rows: it would time out again; recorded, not run
                cache[key(*job)] = {"status": "timeout", "cap_s": args.time_cap, "n_fit": n_fit,
                                    "note": f"not run: it timed out on {smaller[0][1]} ({smaller[0][0]} fit rows)"}
                save_cache(cache)
                print(f"{' '.join(map(str, job)):58s} timeout (not run: {smaller[0][1]} timed out)", flush=True)
                continue
            queue = ctx.Queue()
            proc = ctx.Process(target=_worker, args=(queue, args.data_dir, *job), daemon=True)
            proc.start()
            running.append((job, proc, queue, time.perf_counter()))
        time.sleep(0.05)
        for item in list(running):
            job, proc, queue, started = item
            result = None
            if not queue.empty():
                result = queue.get()
                proc.join()
            elif time.perf_counter() - started > args.time_cap:
                proc.kill()
                proc.join()
                result = {"status": "timeout", "cap_s": args.time_cap, "n_fit": fit_rows(args.data_dir, *job[:1],
                                                                                        job[3])}
            elif not proc.is_alive() and queue.empty():
                result = {"status": "error", "error": f"worker died (exit code {proc.exitcode})"}
            if result is None:
                continue
            running.remove(item)
            result["wall_s"] = time.perf_counter() - started
            cache[key(*job)] = result
            save_cache(cache)
            shown = (f"AUROC {result['auroc']:.4f} AP {result['ap']:.4f} fit {result['fit_s']:.1f}s "
                     f"score {result['score_s']:.1f}s" if result["status"] == "ok" else result["status"] +
                     (": " + result.get("error", "") if result["status"] == "error" else ""))
            print(f"{' '.join(map(str, job)):58s} {shown}", flush=True)


# --------------------------------------------------------------------------- the report
def summarise(cache: dict, datasets: list[str], detectors: list[str], seeds: list[int], protocol: str):
    """Per-dataset means over seeds, and per-detector means, ranks and fit-time wins."""
    import numpy as np
    from scipy.stats import rankdata

    per: dict[str, dict[str, dict[str, Any]]] = {}
    for d in datasets:
        per[d] = {}
        for det in detectors:
            runs = [cache.get(key(d, det, s, protocol)) for s in seeds]
            runs = [r for r in runs if r is not None]
            ok = [r for r in runs if r["status"] == "ok"]
            if ok:
                per[d][det] = {"auroc": float(np.mean([r["auroc"] for r in ok])),
                               "ap": float(np.mean([r["ap"] for r in ok])),
                               "fit_s": float(np.mean([r["fit_s"] for r in ok])),
                               "score_s": float(np.mean([r["score_s"] for r in ok])),
                               "peak_rss_mb": float(max(r["peak_rss_mb"] for r in ok)), "seeds": len(ok)}
            elif runs:
                per[d][det] = {"status": runs[0]["status"], "cap_s": runs[0].get("cap_s")}
    complete = [d for d in datasets if all(det in per[d] for det in detectors)]
    ranks: dict[str, list[float]] = {det: [] for det in detectors}
    for d in complete:
        # A timeout or error ranks last (tied), as ADBench would have no score for it.
        values = [per[d][det].get("auroc", -1.0) for det in detectors]
        for det, r in zip(detectors, rankdata([-v for v in values]), strict=True):
            ranks[det].append(float(r))
    return per, complete, ranks


def detector_rows(per, datasets, detectors, ranks, complete) -> list[dict[str, Any]]:
    import numpy as np

    rows = []
    finished_by_all = [d for d in complete if all("auroc" in per[d][det] for det in detectors)]
    held = [d for d in finished_by_all if d not in DEV]
    dev = [d for d in finished_by_all if d in DEV]
    for det in detectors:
        def mean(metric, sets, det=det):
            vals = [per[d][det][metric] for d in sets if "auroc" in per[d].get(det, {})]
            return float(np.mean(vals)) if vals else None

        done = [d for d in datasets if "auroc" in per[d].get(det, {})]
        rows.append({
            "detector": det,
            "ROC-AUC (all done)": mean("auroc", done), "sets done": len(done),
            "ROC-AUC (common)": mean("auroc", finished_by_all), "AP (common)": mean("ap", finished_by_all),
            "ROC-AUC held-out": mean("auroc", held), "ROC-AUC dev": mean("auroc", dev),
            "AP held-out": mean("ap", held),
            "avg rank": float(np.mean(ranks[det])) if ranks[det] else None,
            "timeouts": sum(per[d].get(det, {}).get("status") == "timeout" for d in datasets),
            "fit s (sum)": float(sum(per[d][det]["fit_s"] for d in done)),
        })
    return rows, finished_by_all, held, dev


def dataset_rows(per, datasets, detectors, metric: str) -> list[dict[str, Any]]:
    rows = []
    for d in datasets:
        row: dict[str, Any] = {"dataset": d + (" (dev)" if d in DEV else "")}
        for det in detectors:
            r = per[d].get(det)
            row[det] = None if r is None else (round(r[metric], 4) if metric in r else r["status"])
        if "aekit" in per[d] and "iforest" in per[d] and metric in per[d]["aekit"] and metric in per[d]["iforest"]:
            row["aekit - iforest"] = round(per[d]["aekit"][metric] - per[d]["iforest"][metric], 4)
        rows.append(row)
    return rows


def pairwise_rows(per, datasets, detectors) -> list[dict[str, Any]]:
    import numpy as np

    rows = []
    for det in detectors:
        if det == "aekit" or "aekit" not in detectors:
            continue
        both = [d for d in datasets if "auroc" in per[d].get("aekit", {}) and "auroc" in per[d].get(det, {})]
        if not both:
            continue
        held = [d for d in both if d not in DEV]
        a = [per[d]["aekit"]["auroc"] for d in both]
        b = [per[d][det]["auroc"] for d in both]
        rows.append({"peer": det, "sets": len(both), "aekit ROC-AUC": float(np.mean(a)),
                     "peer ROC-AUC": float(np.mean(b)),
                     "aekit better on": sum(x > y for x, y in zip(a, b, strict=True)),
                     "held-out sets": len(held),
                     "aekit held-out": float(np.mean([per[d]["aekit"]["auroc"] for d in held])) if held else None,
                     "peer held-out": float(np.mean([per[d][det]["auroc"] for d in held])) if held else None})
    return rows


def fit_time_rows(per, datasets) -> tuple[list[dict[str, Any]], int, int]:
    rows, wins, compared = [], 0, 0
    for d in datasets:
        a, p = per[d].get("aekit"), per[d].get("pyod-ae")
        if not a or "fit_s" not in a or not p:
            continue
        compared += 1
        pyod = p.get("fit_s")
        faster = pyod is None or a["fit_s"] < pyod  # a PyOD timeout ran longer than the cap
        wins += faster
        rows.append({"dataset": d, "aekit fit s": round(a["fit_s"], 2),
                     "pyod-ae fit s": round(pyod, 2) if pyod is not None else f"timeout (>{p.get('cap_s')} s)",
                     "aekit faster": "yes" if faster else "no", "aekit peak RSS MB": round(a["peak_rss_mb"])})
    return rows, wins, compared


def report(cache: dict, args) -> None:
    datasets, detectors, seeds = args.dataset_list, args.detector_list, args.seed_list
    payload: dict[str, Any] = {"datasets": datasets, "dev": list(DEV), "detectors": detectors, "seeds": seeds,
                               "time_cap_s": args.time_cap, "protocols": {}}
    doc = []
    for protocol in args.protocol_list:
        per, complete, ranks = summarise(cache, datasets, detectors, seeds, protocol)
        rows, common, held, dev = detector_rows(per, datasets, detectors, ranks, complete)
        doc.append(f"## {protocol}\n\nMeans over datasets of the per-dataset mean over seeds {seeds}. "
                   f"'common': the {len(common)} sets every detector finished; held-out: {len(held)} of them "
                   f"outside the dev sets; dev: {len(dev)}. Rank: per dataset over the {len(complete)} sets every "
                   "detector was run on (a timeout ranks last).\n\n" + markdown_table(rows, floatfmt=".4f"))
        doc.append(f"### {protocol}: ROC-AUC per dataset\n\n" + markdown_table(dataset_rows(per, datasets, detectors,
                                                                                          "auroc")))
        doc.append(f"### {protocol}: average precision per dataset\n\n" +
                   markdown_table(dataset_rows(per, datasets, detectors, "ap")))
        pairs = pairwise_rows(per, datasets, detectors)
        if pairs:
            doc.append(f"### {protocol}: aekit against each peer on the sets both finished\n\n" +
                       markdown_table(pairs, floatfmt=".4f"))
        entry: dict[str, Any] = {"pairwise": pairs, "summary": rows, "per_dataset": per, "common": common,
                                 "held_out": held,
                                 "dev": dev}
        if protocol == "unsupervised":
            frows, wins, compared = fit_time_rows(per, datasets)
            doc.append(f"### {protocol}: fit time, aekit vs PyOD AutoEncoder\n\naekit fits faster on {wins} of "
                       f"{compared} sets (a PyOD timeout counts as slower: it ran past the cap).\n\n"
                       + markdown_table(frows))
            entry.update(fit_faster=wins, fit_compared=compared, fit_rows=frows)
        payload["protocols"][protocol] = entry
    notes = (
        "ADBench Classical, 30 sets. Unsupervised: fit on all of X without labels, score every row. Semi: fit "
        "on a seeded 50 % of the inliers, score the rest. aekit: `AnomalyDetector()` on rows (defaults; "
        "`aekit-vae`: the same recipe with the vae preset); PyOD 2.x/3.x `AutoEncoder`, `VAE`, `IForest`, "
        "`ECOD`, `KNN` with their defaults (verbose=0). One torch thread per worker process, "
        f"{args.workers} workers, a job is killed after {args.time_cap} s and recorded as a timeout. "
        f"aekit's table defaults were chosen on the dev sets only ({', '.join(DEV)}); the held-out columns "
        "are the other sets. Fit seconds include what each detector's `fit` does (PyOD's fit also scores its "
        "training rows). A detector that timed out on a set is not run on larger sets under the same protocol "
        "(its fit time grows with the rows); those are recorded as timeouts with a note in the cache. "
        "Deterministic detectors (ECOD, KNN) run once under the unsupervised protocol. "
        "'ROC-AUC (all done)' averages each detector over the sets it finished, so compare detectors on the "
        "'common' columns and the rank." + (f" {args.note}" if args.note else ""))
    write_results("adbench", payload, "\n\n".join(doc), notes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated; 'dev' or 'held-out' too")
    parser.add_argument("--detectors", default=",".join(DETECTORS), help="comma-separated, of " + ", ".join(DETECTORS))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--protocols", default=",".join(PROTOCOLS))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--time-cap", type=float, default=600.0, help="seconds per fit+score before a timeout")
    parser.add_argument("--report", action="store_true", help="only write the tables from the cache")
    parser.add_argument("--rerun", default="", help="comma-separated detectors whose cached results are dropped "
                                                    "(for the selected datasets, seeds and protocols)")
    parser.add_argument("--data-dir", default=default_data_dir())
    parser.add_argument("--note", default="", help="a sentence added to the notes of the markdown (run conditions)")
    args = parser.parse_args()
    names = {"dev": list(DEV), "held-out": [d for d in DATASETS if d not in DEV], "all": list(DATASETS)}
    args.dataset_list = [d for part in args.datasets.split(",") if part for d in names.get(part, [part])]
    args.detector_list = [d for d in args.detectors.split(",") if d]
    args.seed_list = [int(s) for s in args.seeds.split(",") if s]
    args.protocol_list = [p for p in args.protocols.split(",") if p]
    for what, chosen, valid in (("dataset", args.dataset_list, DATASETS), ("detector", args.detector_list, DETECTORS),
                                ("protocol", args.protocol_list, PROTOCOLS)):
        bad = [c for c in chosen if c not in valid]
        if bad:
            parser.error(f"unknown {what}(s) {', '.join(bad)}; valid: {', '.join(valid)}")

    cache = load_cache()
    rerun = [d for d in args.rerun.split(",") if d]
    drop = []
    for k in [k for k in cache if k.split("|")[1] in rerun]:
        d, det, s, p = k.split("|")
        if d in args.dataset_list and int(s) in args.seed_list and p in args.protocol_list:
            drop.append(k)
            del cache[k]
    if drop:
        save_cache(cache, tuple(drop))
    if not args.report:
        # Seeds outermost: a stopped run has every dataset at seed 0 before any at seed 1.
        jobs = [(d, det, s, p) for s in args.seed_list for p in args.protocol_list for d in args.dataset_list
                for det in args.detector_list if key(d, det, s, p) not in cache]
        print(f"{len(jobs)} jobs to run ({len(cache)} cached)", flush=True)
        if jobs:
            warm_up()
        run_jobs(jobs, cache, args)
    report(cache, args)


if __name__ == "__main__":
    main()
