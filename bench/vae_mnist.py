"""VAEs on dynamically binarised MNIST: test NLL (importance-weighted, K=5000), ELBO, training time.

Trains (or reuses, when its run folder is finished) three models and evaluates them::

    vae32      dense VAE 784-512-256-32, Bernoulli likelihood, the NLL target (<= 90 nats)
    conv-vae32 the conv-vae preset with a 32-dimensional latent
    vae2       dense VAE with a 2-D latent at lr 3e-3 for 50 epochs: the manifold picture, and
               the full-scale check that training stays finite at a high learning rate

Dynamic binarisation: every training batch is drawn afresh as Bernoulli(pixel intensity); the
test set is binarised once with a fixed seed. NLL is -log p(x) estimated by importance
sampling with K posterior samples per image (Burda et al. 2016), in nats, averaged over the
test images; the ELBO is the K=1 bound on the same binarised images.

Run from the repository root (MNIST from $AEKIT_DATA), ideally with ``nice``::

    python bench/vae_mnist.py                          # everything (hours on 2 CPU cores)
    python bench/vae_mnist.py --models vae32 --phase train
    python bench/vae_mnist.py --models vae32 --phase eval --k 5000

Writes bench/results/vae_mnist.json and .md (entries of other models are kept), and the
pictures bench/results/vae_mnist_*.png.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

RESULTS = ROOT / "bench" / "results"
RUNS = ROOT / "runs" / "bench"

BINARY = {"objective.binarize": "dynamic"}
MODELS = {
    "vae32": dict(preset="vae", latent_dim=32, hidden=(512, 256), epochs=60, batch_size=128, lr=1e-3,
                  schedule="cosine", **BINARY),
    "conv-vae32": dict(preset="conv-vae", latent_dim=32, epochs=30, batch_size=128, lr=1e-3,
                       schedule="cosine", **BINARY),
    "vae2": dict(preset="vae", latent_dim=2, hidden=(512, 256), epochs=50, batch_size=128, lr=3e-3, **BINARY),
}


def train_model(name: str, threads: int = 1, log=print):
    import aekit
    from aekit.train.run import read_run_file

    spec = dict(MODELS[name])
    preset = spec.pop("preset")
    out = RUNS / name
    if (out / "run.json").exists() and read_run_file(out)["status"].get("state") == "finished":
        log(f"[{name}] reusing finished run {out}")
        return aekit.load(out)
    resume = (out / "checkpoints" / "last.safetensors").exists()
    log(f"[{name}] {'resuming' if resume else 'training'} {preset} into {out}")
    if resume:
        return aekit.train(out=out, resume=True, progress=False, evaluate=False, threads=threads)
    return aekit.train(preset, dataset="mnist", out=out, overwrite=True, progress=False, evaluate=False,
                       threads=threads, **spec)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--phase", choices=("train", "eval", "all"), default="all")
    parser.add_argument("--k", type=int, default=5000, help="importance samples per test image")
    parser.add_argument("--limit", type=int, default=None, help="evaluate on the first N test images only")
    parser.add_argument("--threads", type=int, default=1,
                        help="PyTorch threads (default 1: on a shared 2-core machine, 2 threads oversubscribe "
                             "the cores and run several times slower)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    for name in args.models:
        started = time.perf_counter()
        if args.phase in ("train", "all"):
            train_model(name, threads=args.threads)
        if args.phase in ("eval", "all"):
            from vae_mnist_eval import evaluate_and_record

            evaluate_and_record(name, RUNS / name, k=args.k, limit=args.limit, results_dir=RESULTS)
        print(f"[{name}] done in {time.perf_counter() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
