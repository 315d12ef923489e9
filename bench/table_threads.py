"""Threads for small MLPs on rows: the default table detector trained on one torch thread and on two.

``aekit.fitting.set_threads`` trains MLPs under ``SMALL_MODEL_PARAMS`` parameters on one thread
when ``threads`` is not given. This bench is the evidence for that rule: the fit time of
``AnomalyDetector()`` (its table recipe: bounded steps, batch 256) on ADBench tables of several
sizes with ``threads=1`` and ``threads=2``, side by side in one run, alternating the order and
taking the median of ``--repeats`` fits, plus the default (no ``threads``), which should match
one thread. The machine's load average is recorded: on a busy machine two threads suffer most.

    python bench/table_threads.py                       # writes bench/results/table_threads.{json,md}
    python bench/table_threads.py --datasets 43_WDBC --repeats 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from common import default_data_dir, machine, markdown_table, write_results

DATASETS = ("43_WDBC", "22_magic.gamma", "11_donors")
SETTINGS = (("1 thread", 1), ("2 threads", 2), ("default", None))


def fit_seconds(x, threads: int | None) -> tuple[float, int]:
    """Seconds to fit the default table detector on ``x``, and the threads torch used while it trained."""
    import torch

    from aekit import AnomalyDetector

    options = {} if threads is None else {"threads": threads}
    used: list[int] = []
    original = torch.set_num_threads

    def spy(n: int) -> None:  # the count set_threads chose (it restores the caller's afterwards)
        used.append(n)
        original(n)

    torch.set_num_threads = spy
    try:
        started = time.perf_counter()
        AnomalyDetector(seed=0, **options).fit(x)
        seconds = time.perf_counter() - started
    finally:
        torch.set_num_threads = original
    return seconds, used[0] if used else torch.get_num_threads()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=default_data_dir())
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import numpy as np
    import torch

    torch.set_num_threads(2)  # the caller's setting the default path starts from
    rows = []
    for name in [d for d in args.datasets.split(",") if d]:
        with np.load(Path(args.data_dir) / "adbench" / f"{name}.npz") as d:
            x = np.asarray(d["X"], dtype=np.float64)
        fit_seconds(x[:512], 1)  # warm-up: imports and first-call costs outside the timings
        times: dict[str, list[float]] = {label: [] for label, _ in SETTINGS}
        chosen: dict[str, int] = {}
        for r in range(args.repeats):
            order = SETTINGS if r % 2 == 0 else tuple(reversed(SETTINGS))
            for label, threads in order:
                seconds, chosen[label] = fit_seconds(x, threads)
                times[label].append(seconds)
                print(f"{name} {label}: {seconds:.2f} s (torch threads {chosen[label]})", flush=True)
        median = {label: statistics.median(v) for label, v in times.items()}
        rows.append({"dataset": name, "rows": len(x), "features": x.shape[1],
                     **{f"{label} s": round(median[label], 2) for label, _ in SETTINGS},
                     "default threads": chosen["default"],
                     "2 threads / 1 thread": round(median["2 threads"] / median["1 thread"], 2),
                     "load average": round(os.getloadavg()[0], 2)})
        print(rows[-1], flush=True)
    table = markdown_table(rows)
    notes = (f"Median of {args.repeats} fits of AnomalyDetector() (the table recipe) per setting, settings "
             "alternated; '2 threads / 1 thread' above 1 means one thread is faster. 'default threads' is what "
             "aekit chose with no threads given. Load average after each dataset in its row.")
    print(table)
    print(notes)
    write_results("table_threads", {"rows": rows, "repeats": args.repeats, "machine": machine()}, table, notes)


if __name__ == "__main__":
    main()
