"""Inference throughput of a saved-model ``aekit.Model``: images/s for encode and reconstruct,
batch 1 and batch 256, uint8 MNIST images in (the recorded preprocessing is part of the cost).

    python bench/inference.py              # threads = all cores
    python bench/inference.py --threads 1

Weights are untrained: throughput does not depend on their values. Batch 1 calls the method
once per image (what a request handler does); batch 256 passes 256 images per call.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from common import markdown_table, write_results
from flops import build, load_train

MODELS = {
    "dense 784-32": ("dense", dict(latent_dim=32)),
    "deep auto 784-128-32": ("deep", dict(latent_dim=32)),
    "conv preset 32,64": ("conv", dict()),
    "conv-denoising": ("conv-denoising", dict()),
    "vae (deep, k=16)": ("vae", dict(latent_dim=16)),
}


def rate(fn, images: np.ndarray, batch: int, seconds: float) -> float:
    """Images per second of ``fn`` over batches of ``images``, for about ``seconds``."""
    fn(images[:batch])  # warm up
    done, started, i = 0, time.perf_counter(), 0
    while time.perf_counter() - started < seconds:
        chunk = images[i:i + batch]
        if len(chunk) < batch:
            i, chunk = 0, images[:batch]
        fn(chunk[0] if batch == 1 else chunk)
        done += batch
        i += batch
    return done / (time.perf_counter() - started)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    p.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from aekit.model import Model

    images = load_train(4096)
    rows = []
    for name, (preset, overrides) in MODELS.items():
        module, _, prep, run = build(preset, overrides, images)
        run = type(run)(preset=run.preset, model=run.model.with_overrides(input_shape=prep.input_shape),
                        objective=run.objective, train=run.train, data=run.data)
        model = Model(module, prep, run)
        row = {"model": name, "params": sum(q.numel() for q in module.parameters())}
        for verb in ("encode", "reconstruct"):
            for batch in (1, 256):
                row[f"{verb} b{batch} img/s"] = rate(getattr(model, verb), images, batch, args.seconds)
        rows.append(row)
        print(row, flush=True)
    notes = (f"{torch.get_num_threads()} torch thread(s); uint8 (H, W, 1) images in, codes / uint8 images out; "
             f"each figure ~{args.seconds:g} s of calls. `compress` is not benchmarked: the codec is not on this "
             "branch's main yet.")
    write_results("inference", {"args": vars(args), "rows": rows}, markdown_table(rows, floatfmt=".0f"), notes)


if __name__ == "__main__":
    main()
