"""Samples/s of one MNIST training epoch: aekit's trainer vs a straightforward PyTorch
DataLoader loop, same architecture, same batch size, same optimizer, same process.

    python bench/trainer_speed.py            # dense 784-32-784 and deep (auto sizes), batch 256

The plain loop is what a tutorial writes: a float32 TensorDataset in [0, 1], a shuffling
DataLoader (default workers), sigmoid outputs and ``F.binary_cross_entropy``. aekit holds the
uint8 images as one tensor, batches by index, scales per batch and uses BCE-with-logits.
Training time only (no validation); median over epochs after a warm-up epoch; the two sides
alternate ``--repeats`` times so drifting load on a shared machine hits both.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from common import default_data_dir, markdown_table, write_results


def plain_loop_epochs(model, x, epochs: int, batch_size: int) -> list[float]:
    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, TensorDataset

    loader = DataLoader(TensorDataset(x), batch_size=batch_size, shuffle=True)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    rates = []
    for _ in range(epochs + 1):
        started = time.perf_counter()
        for (xb,) in loader:
            loss = F.binary_cross_entropy(model(xb).x_hat, xb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        rates.append(x.shape[0] / (time.perf_counter() - started))
    return rates[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["dense", "deep"])
    parser.add_argument("--latent", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=2,
                        help="alternate aekit and the plain loop this many times (load on a shared machine drifts)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads for both sides (0: PyTorch's default)")
    parser.add_argument("--data-dir", default=default_data_dir())
    parser.add_argument("--name", default="trainer_speed", help="results file name")
    args = parser.parse_args()

    import torch

    import aekit
    from aekit.data import load_dataset
    from aekit.models import build_model
    from aekit.presets import build_run_config
    from aekit.tasks.evaluate import to_unit
    from aekit.train.callbacks import read_metrics

    if args.threads:
        torch.set_num_threads(args.threads)
    splits = load_dataset("mnist", data_dir=args.data_dir, progress=False)
    x_train = to_unit(splits.train.images)  # (54000, 1, 28, 28), what the plain loop gets
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for preset in args.presets:
            run = build_run_config(preset, input_shape=(1, 28, 28), model={"latent_dim": args.latent})
            aekit_rates, loop_rates = [], []
            for repeat in range(args.repeats):
                out = Path(tmp) / f"{preset}-{repeat}"
                aekit.train(preset, dataset="mnist", data_dir=args.data_dir, latent_dim=args.latent,
                            epochs=args.epochs + 1, batch_size=args.batch_size, lr=1e-3, out=out, evaluate=False,
                            threads=args.threads, progress=False)
                aekit_rates += [r["samples_per_s"] for r in read_metrics(out / "metrics.jsonl")][1:]
                torch.manual_seed(0)
                loop_rates += plain_loop_epochs(build_model(run.model), x_train, args.epochs, args.batch_size)
            a, b = statistics.median(aekit_rates), statistics.median(loop_rates)
            rows.append({"model": preset, "layers": json.dumps(_sizes(run)), "batch": args.batch_size,
                         "aekit_samples_per_s": round(a), "dataloader_samples_per_s": round(b),
                         "speedup": round(a / b, 2)})
            print(rows[-1], flush=True)
    table = markdown_table(rows)
    write_results(args.name, {"epochs_timed": args.epochs, "rows": rows}, table,
                  notes="One MNIST training epoch (54k images), median of the timed epochs after one warm-up. "
                        f"torch threads: {torch.get_num_threads()}.")


def _sizes(run) -> list[int]:
    from aekit.models import resolved_hidden

    hidden = resolved_hidden(run.model)
    return [784, *hidden, run.model.latent_dim, *reversed(hidden), 784]


if __name__ == "__main__":
    main()
