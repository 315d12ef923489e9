"""A big table through the CLI with bounded memory: ADBench ``11_donors`` (619,326 rows x 10).

Each stage runs as its own process (``aekit train`` on the ``.npz``, ``aekit detect`` on all
rows, ``aekit encode`` to Parquet), and its peak resident memory is read from the kernel
(``ru_maxrss`` of that child alone). Beside it, the same numbers for a process that only imports
torch and pandas and loads the table (the floor any tool pays), and the table's own size, so the
ratio says how much aekit adds. The detection AUROC against the labels (never used to train) is
reported too.

    python bench/table_scale.py                 # writes bench/results/table_scale.{json,md}
    python bench/table_scale.py --epochs 2      # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from common import REPO, RUNS, default_data_dir, machine, markdown_table, write_results

FLOOR = """
import numpy as np, pandas as pd, torch
d = np.load({path!r})
frame = pd.DataFrame(d["X"], columns=[f"f{{i}}" for i in range(d["X"].shape[1])])
print(frame.shape)
"""


def measured(argv: list[str], env: dict[str, str]) -> dict[str, float]:
    """Run ``argv`` in a fresh wrapper process; its wall time and the peak RSS of ``argv`` alone."""
    wrapper = ("import resource, subprocess, sys; rc = subprocess.run(sys.argv[1:]).returncode; "
               "print('PEAK', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, rc)")
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", wrapper, *argv], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    line = [x for x in out.stdout.splitlines() if x.startswith("PEAK")]
    if out.returncode != 0 or not line or line[-1].split()[2] != "0":
        raise SystemExit(f"failed: {' '.join(argv)}\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
    return {"seconds": round(seconds, 1), "peak_rss_mb": round(int(line[-1].split()[1]) / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=default_data_dir())
    parser.add_argument("--dataset", default="11_donors")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default: aekit's own choice)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    path = Path(args.data_dir) / "adbench" / f"{args.dataset}.npz"
    out = RUNS / f"table_scale_{args.dataset}"
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), OMP_NUM_THREADS=str(args.threads))
    aekit = [sys.executable, "-m", "aekit.cli"]
    import numpy as np

    with np.load(path) as d:
        n, dims = d["X"].shape
        table_mb = d["X"].nbytes / 2**20
    train = [*aekit, "train", "--dataset", str(path), "--out", str(out), "--overwrite", "--threads",
             str(args.threads)] + (["--epochs", str(args.epochs)] if args.epochs else [])
    stages = {
        "import + load (floor)": [sys.executable, "-c", FLOOR.format(path=str(path))],
        "aekit train": train,
        "aekit detect (all rows)": [*aekit, "detect", str(out), str(path), "-o", str(out / "detect"), "--json"],
        "aekit encode -> parquet": [*aekit, "encode", str(out), str(path), "-o", str(out / "codes.parquet")],
    }
    rows = []
    for name, argv in stages.items():
        print(f"running {name} ...", flush=True)
        rows.append({"stage": name, **measured(argv, env)})
        print(rows[-1], flush=True)
    detect = json.loads((out / "detect" / "detect.json").read_text())
    floor = rows[0]["peak_rss_mb"]
    for row in rows:
        row["over_floor_mb"] = round(row["peak_rss_mb"] - floor, 1)
    record = json.loads((out / "run.json").read_text())
    payload = {
        "dataset": args.dataset, "rows": n, "features": dims, "table_mb": round(table_mb, 1), "stages": rows,
        "epochs": record["config"]["train"]["epochs"], "batch_size": record["config"]["train"]["batch_size"],
        "auroc_all_rows": detect.get("auroc"), "average_precision_all_rows": detect.get("average_precision"),
        "threshold_source": detect["threshold_source"], "machine": machine(),
        "usage": f"python bench/table_scale.py{' --epochs ' + str(args.epochs) if args.epochs else ''}",
    }
    table = markdown_table(rows, ["stage", "seconds", "peak_rss_mb", "over_floor_mb"])
    notes = (f"{args.dataset}: {n:,} rows x {dims} features ({table_mb:.0f} MB as float64); "
             f"{payload['epochs']} epochs, batch {payload['batch_size']}; detection over all rows: AUROC "
             f"{payload['auroc_all_rows']:.4f}, AP {payload['average_precision_all_rows']:.4f} (labels unused "
             "in training).")
    print(table)
    print(notes)
    write_results("table_scale", payload, table, notes)


if __name__ == "__main__":
    main()
