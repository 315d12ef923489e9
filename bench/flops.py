"""Training against the hardware: FLOPs of a training step vs this machine's float32 matmul peak.

    python bench/flops.py                 # threads = all cores
    python bench/flops.py --threads 1 --steps 30

For each model, ``torch.utils.flop_counter.FlopCounterMode`` counts the FLOPs of one training
step (forward + backward through aekit's objective; the optimizer's elementwise update is not
counted, it is O(parameters)). The same run measures the float32 peak as the best of several
large square ``torch.mm`` calls, then times real training steps with aekit's
``train_one_epoch`` on MNIST. Fraction of peak = (FLOPs per step x steps/s) / peak.
"""

from __future__ import annotations

import argparse
import time

import torch

from common import default_data_dir, markdown_table, write_results

# name -> (preset, overrides): the tutorial-sized models plus the conv presets
MODELS = {
    "dense 784-32-784 (b256)": ("dense", dict(latent_dim=32, batch_size=256)),
    "deep 784-512-256-32 (b256)": ("deep", dict(hidden=(512, 256), latent_dim=32, batch_size=256)),
    "conv preset 32,64 stride (b128)": ("conv", dict(batch_size=128)),
    "conv tutorial 16,8,8 pool (b128)": ("conv", dict(channels=(16, 8, 8), downsample="pool", upsample="nearest",
                                                      bottleneck="spatial", latent_dim=8, batch_size=128)),
    "denoiser tutorial 32,32 pool (b128)": ("conv-denoising-spatial", dict(
        channels=(32, 32), downsample="pool", upsample="nearest", latent_dim=32, batch_size=128)),
}


def matmul_peak(n: int = 2048, repeats: int = 8, dtype: torch.dtype = torch.float32) -> float:
    """Best GFLOP/s of an n x n matmul in ``dtype`` (the dense BLAS ceiling of this machine)."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    torch.mm(a, b)  # warm up
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9


def build(preset: str, overrides: dict, images):
    from aekit.data.preprocess import Preprocessing
    from aekit.models import build_model
    from aekit.objectives import build_objective
    from aekit.presets import build_run_config, route_overrides

    routed = route_overrides(overrides)
    run = build_run_config(preset, **routed)
    prep = Preprocessing.fit(images)
    model_config = run.model.with_overrides(input_shape=prep.input_shape)
    torch.manual_seed(0)
    return build_model(model_config), build_objective(run.objective, model_config), prep, run


def step_flops(model, objective, x) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        objective(model, x, generator=torch.Generator().manual_seed(0))["loss"].backward()
    model.zero_grad(set_to_none=True)
    return int(counter.get_total_flops())


def time_steps(model, objective, batches, steps: int, *, precision: str = "fp32", warmup: int = 3,
               channels_last: bool = False, compile: bool = False) -> tuple[float, float]:
    """Seconds per training step (median-free: total over ``steps`` after ``warmup``) and last loss."""
    from aekit.train.loop import autocast_context, make_optimizer

    class _Cfg:  # make_optimizer reads these fields only
        optimizer, lr, weight_decay = "adam", 1e-3, 0.0

    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    step_model = torch.compile(model) if compile else model
    opt = make_optimizer(model.parameters(), _Cfg)
    gen = torch.Generator().manual_seed(0)
    device = torch.device("cpu")
    it = batches.epoch(0)
    loss = torch.tensor(0.0)
    t0 = None
    for i in range(warmup + steps):
        if i == warmup:
            t0 = time.perf_counter()
        try:
            x = next(it)
        except StopIteration:
            it = batches.epoch(i)
            x = next(it)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast_context(device, precision):
            loss = objective(step_model, x, generator=gen)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return (time.perf_counter() - t0) / steps, float(loss)


def load_train(limit: int):
    from aekit.data import load_dataset

    return load_dataset("mnist", data_dir=default_data_dir(), val_fraction=0.0, progress=False).train.images[:limit]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    p.add_argument("--steps", type=int, default=30)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    import copy

    from aekit.data.imageset import images_to_tensor
    from aekit.train.loop import InMemoryBatches
    from aekit.train.speed import resolve

    images = load_train(20000)
    peaks = {"fp32": matmul_peak(), "bf16": matmul_peak(dtype=torch.bfloat16)}
    rows = []
    for name, (preset, overrides) in MODELS.items():
        model, objective, prep, run = build(preset, overrides, images)
        batches = InMemoryBatches(images_to_tensor(images), run.train.batch_size, prep, shuffle=True, seed=0)
        x = next(batches.epoch(0))
        flops = step_flops(model, objective, x)
        auto = resolve(run.train, model, torch.device("cpu"), objective)
        variants = {"fp32": ("fp32", False)}
        if (auto.precision, auto.channels_last) != ("fp32", False):
            variants[f"auto: {auto.precision}{', channels-last' if auto.channels_last else ''}"] = (
                auto.precision, auto.channels_last)
        for label, (precision, channels_last) in variants.items():
            seconds, _ = time_steps(copy.deepcopy(model), objective, batches, args.steps, precision=precision,
                                    channels_last=channels_last)
            achieved = flops / seconds / 1e9
            rows.append({"model": name, "params": sum(q.numel() for q in model.parameters()),
                         "batch": run.train.batch_size, "MFLOP/sample": flops / x.shape[0] / 1e6, "settings": label,
                         "ms/step": seconds * 1e3, "samples/s": x.shape[0] / seconds, "GFLOP/s": achieved,
                         "fraction of fp32 peak": achieved / peaks["fp32"],
                         "fraction of bf16 peak": achieved / peaks["bf16"] if precision == "bf16" else None})
            print(rows[-1], flush=True)
    notes = (f"Peaks = best of 8 torch.mm 2048x2048 in this run: fp32 {peaks['fp32']:.1f} GFLOP/s, bf16 "
             f"{peaks['bf16']:.1f} GFLOP/s ({torch.get_num_threads()} threads). Each step: aekit objective forward + "
             "backward + Adam, in float32 and with the settings aekit picks automatically for that model; FLOPs "
             f"from FlopCounterMode (matmul/conv only). {args.steps} timed steps after 3 warm-up steps, MNIST batches.")
    write_results("flops", {"args": vars(args), "peak_gflops": peaks, "rows": rows}, markdown_table(rows), notes)


if __name__ == "__main__":
    main()
