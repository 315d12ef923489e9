"""The contractive term on MNIST: is it exact, what does it cost per epoch, what does it do.

1. **Exactness**: on 16 MNIST test images, ``||dz/dx||_F^2`` from each method against the full
   Jacobian from ``torch.autograd.functional.jacobian`` (float64), as the worst relative error.
2. **Cost**: seconds per training epoch (54,000 images, Adam; batch 32 as in the ``contractive``
   preset, and 256) of the same network
   trained plainly and with the contractive term, measured side by side in this process,
   interleaved, repeated ``--repeats`` times (median). Ratios are what to read: the machine is
   shared, so absolute times drift, but both sides of a ratio see the same load. Expensive
   variants (exact VJPs on deep/conv encoders) are timed on ``--steps`` batches and scaled to
   an epoch, and marked so.
3. **Effect**: a plain and a contractive one-layer sigmoid model trained ``--epochs`` epochs:
   the mean Jacobian norm on the test set (smaller = more contractive) and the test PSNR.

Usage::

    AEKIT_DATA=../shared/data python bench/contractive_mnist.py
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from aekit.config import ModelConfig, ObjectiveConfig, TrainConfig
from aekit.data import load_dataset
from aekit.data.preprocess import Preprocessing
from aekit.models import build_model
from aekit.objectives import build_objective, jacobian_frobenius_sq
from aekit.train.checkpoint import TrainState
from aekit.train.loop import InMemoryBatches, make_optimizer, train_one_epoch
from common import markdown_table, write_results

ONE_LAYER = dict(architecture="mlp", hidden=(), code_activation="sigmoid", latent_dim=32)
DEEP = dict(architecture="mlp", hidden="auto", code_activation="sigmoid", latent_dim=32)
CONV = dict(architecture="conv", channels=(32, 64), code_activation="sigmoid", latent_dim=32)

# (label, model kwargs, contractive method or None for the plain model, timed on a full epoch?, batch size);
# the one-layer family at batch 32 (the contractive preset's) and 256 (the default).
VARIANTS = [
    *[(f"one-layer sigmoid b{b}, {kind}", ONE_LAYER, method, True, b)
      for b in (32, 256)
      for kind, method in (("plain", None), ("contractive closed form", "closed_form"),
                           ("contractive exact (VJPs)", "exact"), ("contractive Hutchinson (1 probe)", "hutchinson"))],
    ("deep 784-128-32 b256, plain", DEEP, None, True, 256),
    ("deep 784-128-32 b256, contractive exact (VJPs)", DEEP, "exact", False, 256),
    ("deep 784-128-32 b256, contractive Hutchinson (1 probe)", DEEP, "hutchinson", True, 256),
    ("conv 32-64 b256, plain", CONV, None, False, 256),
    ("conv 32-64 b256, contractive exact (VJPs)", CONV, "exact", False, 256),
    ("conv 32-64 b256, contractive Hutchinson (1 probe)", CONV, "hutchinson", False, 256),
]


def setup(model_kwargs: dict, method: str | None, lam: float, seed: int = 0):
    cfg = ModelConfig(input_shape=(1, 28, 28), **model_kwargs)
    torch.manual_seed(seed)
    model = build_model(cfg)
    obj_cfg = ObjectiveConfig(contractive=lam if method else 0.0, contractive_method=method or "auto")
    return cfg, model, build_objective(obj_cfg, cfg)


def timed_epoch(model, objective, batches: InMemoryBatches, steps: int | None) -> float:
    """Seconds for one epoch; with ``steps``, the time of that many batches scaled to the epoch."""
    optimizer = make_optimizer(model.parameters(), TrainConfig())
    generator = torch.Generator().manual_seed(0)
    if steps is None:
        started = time.perf_counter()
        train_one_epoch(model, objective, optimizer, batches, epoch=0, state=TrainState(), generator=generator,
                        device=torch.device("cpu"))
        return time.perf_counter() - started
    model.train()
    it = batches.epoch(0)
    started = time.perf_counter()
    for _ in range(steps):
        loss = objective(model, next(it), generator=generator)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return (time.perf_counter() - started) * len(batches) / steps


def exactness(x: torch.Tensor) -> list[dict]:
    rows = []
    for label, kwargs in (("one-layer sigmoid", ONE_LAYER), ("deep 784-128-32", DEEP), ("conv 32-64", CONV)):
        _, model, _ = setup(kwargs, None, 0.0)
        model = model.double()
        xd = x.double()
        brute = torch.stack([
            torch.autograd.functional.jacobian(lambda v, m=model: m.encode(v.unsqueeze(0))[0], xb).pow(2).sum()
            for xb in xd])
        for method in ("closed_form", "exact", "hutchinson"):
            if method == "closed_form" and kwargs is not ONE_LAYER:
                continue
            torch.manual_seed(0)
            probes = 1 if method != "hutchinson" else 64
            with torch.no_grad():
                ours = jacobian_frobenius_sq(model, xd, method, probes=probes)
            rel = float(((ours - brute).abs() / brute).max())
            rows.append({"encoder": label, "method": method + (" (64 probes)" if method == "hutchinson" else ""),
                         "max relative error": rel, "mean ||J||_F^2": float(brute.mean())})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20, help="batches timed for the expensive variants")
    parser.add_argument("--epochs", type=int, default=10, help="epochs of the effect comparison")
    parser.add_argument("--lam", type=float, default=1e-3, help="contractive weight for the timing runs")
    parser.add_argument("--skip-effect", action="store_true")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (1 helps on a shared machine)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    splits = load_dataset("mnist", progress=False)
    prep = Preprocessing((1, 28, 28))
    train = torch.from_numpy(splits.train.images).permute(0, 3, 1, 2).contiguous()
    test_x = torch.from_numpy(splits.test.images[:16]).permute(0, 3, 1, 2).float() / 255

    exact_rows = exactness(test_x)
    print(markdown_table(exact_rows, floatfmt=".2e"), flush=True)

    batches = {b: InMemoryBatches(train, b, prep, shuffle=True, seed=0) for b in (32, 256)}
    times: dict[str, list[float]] = {label: [] for label, *_ in VARIANTS}
    for r in range(args.repeats):  # interleaved: every variant sees the same drift in machine load
        for label, kwargs, method, full, batch in VARIANTS:
            _, model, objective = setup(kwargs, method, args.lam)
            times[label].append(timed_epoch(model, objective, batches[batch], None if full else args.steps))
            print(f"repeat {r + 1}: {label}: {times[label][-1]:.1f} s/epoch", flush=True)
    speed_rows = []
    plain = {}
    for label, _kwargs, method, full, _batch in VARIANTS:
        seconds = statistics.median(times[label])
        family = label.split(",")[0]
        if method is None:
            plain[family] = seconds
        speed_rows.append({"model": label, "s / epoch": seconds, "x plain": seconds / plain[family],
                           "timed": "full epochs" if full else f"{args.steps} batches, scaled"})
    print(markdown_table(speed_rows), flush=True)

    effect_rows = []
    if not args.skip_effect:
        from aekit.metrics import psnr_from_mse

        test = torch.from_numpy(splits.test.images).permute(0, 3, 1, 2).float() / 255
        for label, lam in (("plain", 0.0), ("contractive, lambda 1e-3 (the preset)", 1e-3),
                           ("contractive, lambda 1e-2", 1e-2)):
            _, model, objective = setup(ONE_LAYER, "closed_form" if lam else None, lam)
            optimizer = make_optimizer(model.parameters(), TrainConfig())
            started = time.perf_counter()
            for epoch in range(args.epochs):
                train_one_epoch(model, objective, optimizer, batches[32], epoch=epoch, state=TrainState(),
                                generator=torch.Generator().manual_seed(epoch), device=torch.device("cpu"))
            seconds = time.perf_counter() - started
            model.eval()
            with torch.no_grad():
                jac = torch.cat([jacobian_frobenius_sq(model, test[i:i + 1000]) for i in range(0, len(test), 1000)])
                mse = float(torch.cat([(model(test[i:i + 1000]).x_hat - test[i:i + 1000]).pow(2).flatten(1).mean(1)
                                       for i in range(0, len(test), 1000)]).mean())
            effect_rows.append({"model (one-layer sigmoid, k=32, batch 32)": label, "epochs": args.epochs,
                                "mean ||dz/dx||_F^2": float(jac.mean()), "test PSNR dB": psnr_from_mse(mse),
                                "train s": round(seconds, 1)})
            print(effect_rows[-1], flush=True)

    md = ["# Contractive term on MNIST", "",
          "## Exactness: against torch.autograd.functional.jacobian (float64, 16 test images)", "",
          markdown_table(exact_rows, floatfmt=".2e"), "",
          f"## Cost: seconds per epoch (54,000 images), median of {args.repeats} interleaved runs", "",
          markdown_table(speed_rows), ""]
    if effect_rows:
        md += ["## Effect", "", markdown_table(effect_rows), ""]
    md += ["Rerun: `AEKIT_DATA=../shared/data python bench/contractive_mnist.py`"]
    write_results("contractive_mnist", {"exactness": exact_rows, "speed": speed_rows, "times": times,
                                        "effect": effect_rows, "lambda": args.lam, "steps": args.steps},
                  "\n".join(md))


if __name__ == "__main__":
    main()
