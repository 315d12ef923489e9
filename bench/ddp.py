"""Data-parallel training on this machine: 1 process vs N processes (DDP, gloo on CPU), same run.

    python bench/ddp.py                           # deep + conv presets on MNIST, 2 epochs, 1 vs 2 processes
    python bench/ddp.py --epochs 3 --conv-limit 60000

Each configuration is a real ``aekit.train(..., nproc=N)`` run. One process gets all cores'
threads (PyTorch's default); N processes get cores / N threads each (aekit's default under DDP),
so both use the whole CPU. Time per epoch is the steady-state training time from
``metrics.jsonl`` (epochs 2..E; epoch 1 includes warm-up), and the whole wall time including process
start-up is reported beside it. The same global batch size is used; each process holds its
shard of the data and draws its share of every batch from it, so the losses agree closely but
not bit for bit.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from common import default_data_dir, markdown_table, write_results

CONFIGS = {"deep": dict(), "conv": dict()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--nproc", type=int, default=2)
    p.add_argument("--presets", default="deep,conv")
    p.add_argument("--limit", type=int, default=20000, help="MNIST images for the dense presets (default 20000)")
    p.add_argument("--conv-limit", type=int, default=6000, help="MNIST images for conv (default 6000)")
    args = p.parse_args()
    import aekit
    from aekit.train.callbacks import read_metrics

    rows = []
    with tempfile.TemporaryDirectory(prefix="aekit-bench-ddp-") as tmp:
        for preset in args.presets.split(","):
            limit = args.conv_limit if "conv" in preset else args.limit
            # (processes, threads per process): one process on one core, one on all cores, N on all cores
            for nproc, threads in ((1, 1), (1, os.cpu_count() or 1), (args.nproc, 0)):
                out = Path(tmp) / f"{preset}-{nproc}-{threads}"
                started = time.perf_counter()
                aekit.train(preset, dataset="mnist", data_dir=default_data_dir(), out=out, epochs=args.epochs,
                            limit=limit, nproc=nproc, threads=threads, progress=False, evaluate=False)
                wall = time.perf_counter() - started
                records = read_metrics(out / "metrics.jsonl")
                steady = records[1:] or records
                per_epoch = sum(r["epoch_seconds"] for r in steady) / len(steady)
                per_process = threads or max(1, (os.cpu_count() or 1) // nproc)
                rows.append({"preset": preset, "processes": nproc, "threads_each": per_process,
                             "train_images": int(0.9 * (limit or 60000)),
                             "s_per_epoch": per_epoch,
                             "samples_per_s": sum(r["samples_per_s"] for r in steady) / len(steady),
                             "wall_s": wall, "final_train_loss": records[-1]["train/loss"],
                             "final_val_loss": records[-1]["val/loss"]})
                print(rows[-1], flush=True)
    for r in rows:
        same = [b for b in rows if b["preset"] == r["preset"] and b["processes"] == 1]
        r["speedup_vs_1x1"] = same[0]["s_per_epoch"] / r["s_per_epoch"]
        r["speedup_vs_1_all_cores"] = same[-1]["s_per_epoch"] / r["s_per_epoch"]
    notes = (f"{os.cpu_count()} cores, {args.epochs} epochs, 90% of the "
             "limited MNIST images for training; s_per_epoch from metrics.jsonl, epochs 2..E. speedup_vs_1x1: one "
             "process on one thread / this row; speedup_vs_1_all_cores: one process using every core / this row "
             "(>1: this row is faster).")
    write_results("ddp", {"args": vars(args), "rows": rows}, markdown_table(rows), notes)


if __name__ == "__main__":
    main()
