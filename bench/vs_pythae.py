"""aekit ``vae`` vs pythae's ``VAE`` with the same architecture, MNIST, same run.

    python bench/vs_pythae.py                       # 3 epochs each, latent 16
    python bench/vs_pythae.py --epochs 10 --latent 32

Both: encoder 784-512-256 (ReLU) -> mu, log-variance (k each); decoder k-256-512-784, sigmoid;
Bernoulli likelihood on the [0, 1] pixels summed per image + KL (the ELBO), mean over the batch;
Adam lr 1e-3, batch 128, the 60k training images, the 10k test images as evaluation data every
epoch. pythae runs its ``TrainingPipeline`` (``BaseTrainer``; checkpoints off as far as it allows);
aekit its ``fit``. Time per epoch is steady state (end of epoch 1 to the end of the last, taken
from each trainer's epoch callback). The test ELBO is computed by one shared function from each
model's encoder and decoder: 5 posterior samples per test image, the same seed, in nats.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time

import numpy as np
import torch
from torch import nn

from common import default_data_dir, markdown_table, write_results

BATCH, LR = 128, 1e-3


def load():
    from aekit.data import load_dataset

    splits = load_dataset("mnist", data_dir=default_data_dir(), val_fraction=0.0, progress=False)
    return splits.train.images, splits.test.images


@torch.no_grad()
def test_elbo(encode, decode, x: torch.Tensor, samples: int = 5) -> float:
    """Mean ELBO (nats per image) over ``x`` (N, 1, 28, 28) in [0, 1]; ``encode`` -> (mu, logvar)."""
    gen = torch.Generator().manual_seed(0)
    total = 0.0
    for i in range(0, len(x), 1000):
        xb = x[i:i + 1000]
        mu, logvar = encode(xb)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(-1)
        std = (0.5 * logvar).exp()
        rec = 0.0
        for _ in range(samples):
            z = mu + std * torch.randn(mu.shape, generator=gen)
            p = decode(z).reshape(len(xb), -1).clamp(1e-7, 1 - 1e-7)
            t = xb.reshape(len(xb), -1)
            rec = rec + (t * p.log() + (1 - t) * (1 - p).log()).sum(-1)
        total += float((rec / samples - kl).sum())
    return total / len(x)


def run_pythae(train: np.ndarray, test: np.ndarray, epochs: int, latent: int) -> dict:
    from pythae.models import VAE, VAEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder
    from pythae.pipelines import TrainingPipeline
    from pythae.trainers import BaseTrainerConfig
    from pythae.trainers.training_callbacks import TrainingCallback

    class Encoder(BaseEncoder):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU())
            self.mu, self.logvar = nn.Linear(256, latent), nn.Linear(256, latent)

        def forward(self, x):
            h = self.body(x)
            return ModelOutput(embedding=self.mu(h), log_covariance=self.logvar(h))

    class Decoder(BaseDecoder):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(latent, 256), nn.ReLU(), nn.Linear(256, 512), nn.ReLU(),
                                      nn.Linear(512, 784), nn.Sigmoid())

        def forward(self, z):
            return ModelOutput(reconstruction=self.body(z).reshape(-1, 1, 28, 28))

    stamps = []

    class Clock(TrainingCallback):
        def on_epoch_end(self, training_config, **kwargs):
            stamps.append(time.perf_counter())

    torch.manual_seed(0)
    config = VAEConfig(input_dim=(1, 28, 28), latent_dim=latent, reconstruction_loss="bce")
    model = VAE(config, encoder=Encoder(), decoder=Decoder())
    x = (train.astype(np.float32) / 255).transpose(0, 3, 1, 2)
    xt = (test.astype(np.float32) / 255).transpose(0, 3, 1, 2)
    with tempfile.TemporaryDirectory() as out:
        training = BaseTrainerConfig(output_dir=out, num_epochs=epochs, learning_rate=LR,
                                     per_device_train_batch_size=BATCH, per_device_eval_batch_size=1000,
                                     optimizer_cls="Adam", steps_saving=None, no_cuda=True)
        pipeline = TrainingPipeline(training_config=training, model=model)
        started = time.perf_counter()
        pipeline(train_data=x, eval_data=xt, callbacks=[Clock()])
        seconds = time.perf_counter() - started
    model = pipeline.trainer._best_model if getattr(pipeline.trainer, "_best_model", None) is not None else model
    model.eval()

    def encode(xb):
        out = model.encoder(xb)
        return out.embedding, out.log_covariance

    elbo = test_elbo(encode, lambda z: model.decoder(z).reconstruction, torch.from_numpy(xt))
    return {"seconds": seconds, "stamps": [started, *stamps], "params": sum(p.numel() for p in model.parameters()),
            "test_elbo": elbo}


def run_aekit(train: np.ndarray, test: np.ndarray, epochs: int, latent: int, threads: int) -> dict:
    from aekit.data.imageset import images_to_tensor
    from aekit.train.callbacks import Callback
    from aekit.train.loop import InMemoryBatches, fit
    from flops import build

    module, objective, prep, run = build("vae", dict(latent_dim=latent, hidden=(512, 256), batch_size=BATCH, lr=LR,
                                                     epochs=epochs, threads=threads), train)
    stamps = []

    class Clock(Callback):
        def on_epoch_end(self, record):
            stamps.append(time.perf_counter())

    tr = InMemoryBatches(images_to_tensor(train), BATCH, prep, shuffle=True, seed=0)
    va = InMemoryBatches(images_to_tensor(test), 1000, prep, shuffle=False)
    started = time.perf_counter()
    result = fit(module, objective, tr, va, run.train, device=torch.device("cpu"), progress=False,
                 callbacks=(Clock(),))
    seconds = time.perf_counter() - started
    module.load_state_dict(result.best_state)
    module.eval()

    def encode(xb):
        q = module.posterior(xb)
        return q.mean, q.logvar

    xt = torch.from_numpy(test.astype(np.float32) / 255).permute(0, 3, 1, 2)
    elbo = test_elbo(encode, module.decode, xt)
    return {"seconds": seconds, "stamps": [started, *stamps], "params": sum(p.numel() for p in module.parameters()),
            "test_elbo": elbo}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--latent", type=int, default=16)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--one", choices=("aekit", "pythae"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        import json

        torch.set_num_threads(args.threads)
        train, test = load()
        out = run_aekit(train, test, args.epochs, args.latent, args.threads) if args.one == "aekit" else \
            run_pythae(train, test, args.epochs, args.latent)
        stamps = out.pop("stamps")
        steady = (stamps[-1] - stamps[1]) / (len(stamps) - 2) if len(stamps) > 2 else out["seconds"] / args.epochs
        out.update(framework=args.one, epochs=args.epochs, first_epoch_s=stamps[1] - stamps[0], s_per_epoch=steady,
                   samples_per_s=len(train) / steady,
                   peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        print("RESULT " + json.dumps(out))
        return
    import json
    import subprocess

    rows = []
    for framework in ("aekit", "pythae"):
        cmd = [sys.executable, __file__, "--one", framework, "--epochs", str(args.epochs), "--latent",
               str(args.latent), "--threads", str(args.threads)]
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
        done = subprocess.run(cmd, capture_output=True, text=True, env=env)
        line = next((ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if line is None:
            print(done.stdout[-2000:], done.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"{framework} failed")
        rows.append(json.loads(line[len("RESULT "):]))
        print(rows[-1], flush=True)
    base = rows[0]
    for r in rows:
        r["speedup_of_aekit"] = r["s_per_epoch"] / base["s_per_epoch"]
    cols = ["framework", "params", "epochs", "first_epoch_s", "s_per_epoch", "samples_per_s", "test_elbo",
            "peak_rss_mb", "speedup_of_aekit"]
    notes = (f"VAE 784-512-256-{args.latent}, {args.epochs} epochs (reduced to fit a shared 2-core CPU), "
             f"batch {BATCH}, Adam {LR}, {args.threads} thread(s) per process. "
             "`test_elbo`: nats per image (higher is better), "
             "5 posterior samples, shared evaluation code. `speedup_of_aekit` > 1: aekit faster per epoch.")
    write_results("vs_pythae", {"args": vars(args), "rows": rows}, markdown_table(rows, cols), notes)


if __name__ == "__main__":
    main()
