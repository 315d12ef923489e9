"""aekit vs Keras 3 on the four classic Keras-tutorial autoencoders, MNIST, same run.

    python bench/vs_keras.py                        # torch-backend Keras vs aekit, 2 epochs each
    python bench/vs_keras.py --backends torch,tensorflow --epochs 3 --repeats 3
    python bench/vs_keras.py --backends torch,tensorflow --epochs 3 --threads 2 --tag 2threads

Architectures (as in "Building Autoencoders in Keras"): ``dense`` 784-32-784 (ReLU code,
sigmoid output, BCE, Adam, batch 256); ``deep`` 784-128-64-32-64-128-784; ``conv`` conv/pool
stack to a 4x4x8 code, upsampling decoder (batch 128); ``denoise`` 32-channel conv/pool denoiser,
Gaussian noise factor 0.5 (batch 128). Both sides: Adam lr 1e-3, the same training images, the
same epochs, the MNIST test set as validation data every epoch (Keras ``validation_data``, aekit
``fit(val=...)``), and afterwards the same held-out metric: BCE and MSE of each model's output
on the test set (for the denoiser, on one fixed noisy copy of it, against the clean images).

aekit is given ``model.init=glorot`` (Glorot-uniform weights, zero biases), Keras's default, so
both sides start from the same distribution of weights (``--init default`` keeps PyTorch's).
Keras trains the denoiser on one fixed noisy copy of the training set (the tutorial's way);
aekit draws fresh noise per batch (its way). Each (framework, architecture) pair runs in its own
process, so the peak RSS reported is that configuration's own. Time per epoch is the wall time
of ``fit`` divided by the epochs (training + validation, both sides).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

from common import RESULTS, default_data_dir, markdown_table, reset_peak_rss, rss_mb, write_results

ARCHS = ("dense", "deep", "conv", "denoise")
BATCH = {"dense": 256, "deep": 256, "conv": 128, "denoise": 128}
NOISE = 0.5
INIT = "glorot"  # Keras's default initialisation on both sides: the same model, not only the same shapes

# aekit presets + overrides that build the same networks
AEKIT = {
    "dense": ("dense", dict(latent_dim=32, code_activation="relu")),
    "deep": ("deep", dict(hidden=(128, 64), latent_dim=32, code_activation="relu")),
    "conv": ("conv", dict(channels=(16, 8, 8), downsample="pool", upsample="nearest", bottleneck="spatial",
                          latent_dim=8)),
    "denoise": ("conv-denoising-spatial", dict(channels=(32, 32), downsample="pool", upsample="nearest",
                                               latent_dim=32, schedule="none", corruption=(f"gaussian:{NOISE}",))),
}


def load_mnist(limit: int | None):
    from aekit.data import load_dataset

    splits = load_dataset("mnist", data_dir=default_data_dir(), val_fraction=0.0, progress=False)
    train, test = splits.train.images, splits.test.images
    if limit:
        train = train[:limit]
    rng = np.random.default_rng(1)
    noisy_test = np.clip(test.astype(np.float32) / 255 + NOISE * rng.standard_normal(test.shape, dtype=np.float32),
                         0, 1)
    return train, test, noisy_test


def rss_before_fit() -> float:
    """Resident memory now, with the peak restarted from here so ``fit_memory`` sees only training."""
    reset_peak_rss()
    return rss_mb()


def fit_memory(before_fit_mb: float) -> dict[str, float]:
    """Peak RSS during training, and its growth over the RSS just before ``fit`` (libraries
    imported, data loaded, model built): what training itself holds."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"fit_peak_rss_mb": peak, "fit_growth_mb": peak - before_fit_mb}


def held_out(pred: np.ndarray, clean_u8: np.ndarray) -> dict[str, float]:
    t = clean_u8.reshape(len(clean_u8), -1).astype(np.float64) / 255
    p = np.clip(pred.reshape(len(pred), -1).astype(np.float64), 1e-7, 1 - 1e-7)
    bce = float(np.mean(-(t * np.log(p) + (1 - t) * np.log(1 - p))))
    return {"val_bce": bce, "val_mse": float(np.mean((t - pred.reshape(len(pred), -1)) ** 2))}


def run_keras(arch: str, epochs: int, train, test, noisy_test) -> dict:
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    conv = arch in ("conv", "denoise")
    x = (train.astype("float32") / 255).reshape((len(train), 28, 28, 1) if conv else (len(train), 784))
    xt = (test.astype("float32") / 255).reshape((len(test), 28, 28, 1) if conv else (len(test), 784))
    if arch in ("dense", "deep"):
        inp = keras.Input((784,))
        h = inp
        for units in ((32,) if arch == "dense" else (128, 64, 32, 64, 128)):
            h = layers.Dense(units, activation="relu")(h)
        out = layers.Dense(784, activation="sigmoid")(h)
    elif arch == "conv":
        inp = keras.Input((28, 28, 1))
        h = layers.Conv2D(16, 3, activation="relu", padding="same")(inp)
        h = layers.MaxPooling2D(2, padding="same")(h)
        h = layers.Conv2D(8, 3, activation="relu", padding="same")(h)
        h = layers.MaxPooling2D(2, padding="same")(h)
        h = layers.Conv2D(8, 3, activation="relu", padding="same")(h)
        h = layers.MaxPooling2D(2, padding="same")(h)  # (4, 4, 8): the code
        h = layers.Conv2D(8, 3, activation="relu", padding="same")(h)
        h = layers.UpSampling2D(2)(h)
        h = layers.Conv2D(8, 3, activation="relu", padding="same")(h)
        h = layers.UpSampling2D(2)(h)
        h = layers.Conv2D(16, 3, activation="relu")(h)  # valid: 16 -> 14
        h = layers.UpSampling2D(2)(h)
        out = layers.Conv2D(1, 3, activation="sigmoid", padding="same")(h)
    else:
        inp = keras.Input((28, 28, 1))
        h = layers.Conv2D(32, 3, activation="relu", padding="same")(inp)
        h = layers.MaxPooling2D(2, padding="same")(h)
        h = layers.Conv2D(32, 3, activation="relu", padding="same")(h)
        h = layers.MaxPooling2D(2, padding="same")(h)  # (7, 7, 32)
        h = layers.Conv2D(32, 3, activation="relu", padding="same")(h)
        h = layers.UpSampling2D(2)(h)
        h = layers.Conv2D(32, 3, activation="relu", padding="same")(h)
        h = layers.UpSampling2D(2)(h)
        out = layers.Conv2D(1, 3, activation="sigmoid", padding="same")(h)
    model = keras.Model(inp, out)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
    x_in, xt_in = x, xt
    if arch == "denoise":
        rng = np.random.default_rng(0)
        x_in = np.clip(x + NOISE * rng.standard_normal(x.shape, dtype=np.float32), 0, 1)
        xt_in = noisy_test.reshape(xt.shape)
    stamps = []
    clock = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: stamps.append(time.perf_counter()))
    before_fit = rss_before_fit()
    started = time.perf_counter()
    model.fit(x_in, x, epochs=epochs, batch_size=BATCH[arch], shuffle=True, validation_data=(xt_in, xt), verbose=0,
              callbacks=[clock])
    seconds = time.perf_counter() - started
    memory = fit_memory(before_fit)
    pred = model.predict(xt_in, batch_size=1024, verbose=0)
    return {"seconds": seconds, "stamps": [started, *stamps], "params": int(model.count_params()),
            **memory, **held_out(pred, test)}


def run_aekit(arch: str, epochs: int, train, test, noisy_test, *, threads: int, init: str = INIT) -> dict:
    import torch

    from aekit.data.imageset import images_to_tensor
    from aekit.data.preprocess import Preprocessing
    from aekit.models import build_model
    from aekit.objectives import build_objective
    from aekit.presets import build_run_config, route_overrides
    from aekit.train.callbacks import Callback
    from aekit.train.loop import InMemoryBatches, fit

    preset, overrides = AEKIT[arch]
    routed = route_overrides({**overrides, "batch_size": BATCH[arch], "lr": 1e-3, "epochs": epochs,
                              "threads": threads, "init": init})
    run = build_run_config(preset, **routed)
    prep = Preprocessing.fit(train)
    run = type(run)(preset=run.preset, model=run.model.with_overrides(input_shape=prep.input_shape),
                    objective=run.objective, train=run.train, data=run.data)
    torch.manual_seed(0)
    model = build_model(run.model)
    objective = build_objective(run.objective, run.model)
    device = torch.device("cpu")
    tr = InMemoryBatches(images_to_tensor(train), BATCH[arch], prep, shuffle=True, seed=0)
    va = InMemoryBatches(images_to_tensor(test), 1024, prep, shuffle=False)
    stamps = []

    class Clock(Callback):
        def on_epoch_end(self, record):
            stamps.append(time.perf_counter())

    before_fit = rss_before_fit()
    started = time.perf_counter()
    result = fit(model, objective, tr, va, run.train, device=device, progress=False, callbacks=(Clock(),))
    seconds = time.perf_counter() - started
    memory = fit_memory(before_fit)
    model.eval()
    inputs = torch.from_numpy(noisy_test).permute(0, 3, 1, 2) if arch == "denoise" else \
        prep.batch_to_model(images_to_tensor(test))
    with torch.no_grad():
        pred = torch.cat([model(inputs[i:i + 1024]).x_hat for i in range(0, len(inputs), 1024)])
    pred = pred.permute(0, 2, 3, 1).numpy()
    train_seconds = sum(r["epoch_seconds"] for r in result.history)
    return {"seconds": seconds, "stamps": [started, *stamps], "train_seconds": train_seconds,
            "params": sum(p.numel() for p in model.parameters()),
            **memory, **held_out(pred, test)}


def one(framework: str, arch: str, args) -> dict:
    limit = args.conv_limit if arch in ("conv", "denoise") else args.limit
    train, test, noisy_test = load_mnist(limit)
    import torch

    torch.set_num_threads(args.threads)
    if framework == "aekit":
        out = run_aekit(arch, args.epochs, train, test, noisy_test, threads=args.threads, init=args.init)
    else:
        out = run_keras(arch, args.epochs, train, test, noisy_test)
    # steady state: from the end of epoch 1 to the end of the last (first-call warm-up excluded)
    stamps = out.pop("stamps")
    steady = (stamps[-1] - stamps[1]) / (len(stamps) - 2) if len(stamps) > 2 else out["seconds"]
    out.update(framework=framework, arch=arch, train_images=len(train), epochs=args.epochs,
               first_epoch_s=stamps[1] - stamps[0], s_per_epoch=steady, samples_per_s=len(train) / steady)
    return out


def schedule(archs: list[str], frameworks: list[str], repeats: int):
    """(arch, repeat, framework) in run order: each repeat runs the frameworks in the opposite
    order of the one before, so slow drift of a shared machine does not favour one side."""
    for arch in archs:
        for repeat in range(repeats):
            for framework in (frameworks if repeat % 2 == 0 else frameworks[::-1]):
                yield arch, repeat, framework


def fastest_of_repeats(rows: list[dict]) -> list[dict]:
    """One row per (framework, arch): the repeat with the lowest s/epoch (the least disturbed by
    other load), with every repeat's s/epoch listed beside it; failures kept when nothing ran."""
    best: dict[tuple[str, str], dict] = {}
    for r in rows:
        key = (r["framework"], r["arch"])
        if "error" not in r and (key not in best or r["s_per_epoch"] < best[key]["s_per_epoch"]):
            best[key] = r
    for key, r in best.items():  # rows merged from an earlier file bring their own list
        r["all_s_per_epoch"] = [t for x in rows if (x["framework"], x["arch"]) == key and "error" not in x
                                for t in x.get("all_s_per_epoch") or [round(x["s_per_epoch"], 3)]]
    return list(best.values()) + [r for r in rows if "error" in r and (r["framework"], r["arch"]) not in best]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--archs", default=",".join(ARCHS))
    p.add_argument("--backends", default="torch", help="Keras backends: torch, tensorflow (comma-separated)")
    p.add_argument("--limit", type=int, default=None, help="training images for the dense models (default all)")
    p.add_argument("--conv-limit", type=int, default=None, help="training images for the conv models (default all)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=1,
                   help="run every (framework, arch) this many times, alternating the order; keep the fastest")
    p.add_argument("--init", default=INIT, choices=("glorot", "default"), help="aekit's model.init")
    p.add_argument("--merge", action="store_true",
                   help="replace only these --archs in the results file (a partial rerun)")
    p.add_argument("--tag", default="", help="write bench/results/vs_keras_TAG.* instead of vs_keras.*")
    p.add_argument("--one", nargs=2, metavar=("FRAMEWORK", "ARCH"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        framework, arch = args.one
        if framework.startswith("keras-"):
            os.environ["KERAS_BACKEND"] = framework.split("-", 1)[1]
        print("RESULT " + json.dumps(one(framework, arch, args)))
        return
    name = f"vs_keras_{args.tag}" if args.tag else "vs_keras"
    frameworks = ["aekit"] + [f"keras-{b}" for b in args.backends.split(",") if b]
    rows = []
    for arch, repeat, framework in schedule(args.archs.split(","), frameworks, args.repeats):
        env = dict(os.environ, KERAS_BACKEND=framework.split("-", 1)[-1], TF_NUM_INTRAOP_THREADS=str(args.threads),
                   TF_NUM_INTEROP_THREADS="1", OMP_NUM_THREADS=str(args.threads), TF_CPP_MIN_LOG_LEVEL="2")
        cmd = [sys.executable, __file__, "--one", framework, arch, "--epochs", str(args.epochs),
               "--threads", str(args.threads), "--init", args.init]
        for flag in ("limit", "conv_limit"):
            if getattr(args, flag):
                cmd += ["--" + flag.replace("_", "-"), str(getattr(args, flag))]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        line = next((ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if line is None:
            print(done.stdout[-2000:], done.stderr[-3000:], file=sys.stderr)
            rows.append({"framework": framework, "arch": arch, "error": done.stderr.strip().splitlines()[-1:]})
            continue
        row = json.loads(line[len("RESULT "):])
        row["repeat"] = repeat
        rows.append(row)
        print(f"{arch:8s} {framework:17s} #{repeat + 1} {row['s_per_epoch']:8.2f} s/epoch  "
              f"{row['samples_per_s']:9.0f}/s  "
              f"val BCE {row['val_bce']:.4f}  MSE {row['val_mse']:.4f}  RSS {row['fit_peak_rss_mb']:.0f} MB "
              f"(+{row['fit_growth_mb']:.0f} in fit)",
              flush=True)
    if args.merge:  # keep the other architectures' rows of the previous results file
        previous = json.loads((RESULTS / f"{name}.json").read_text())["rows"]
        redone = set(args.archs.split(","))
        rows = [r for r in previous if r["arch"] not in redone] + rows
        rows.sort(key=lambda r: ARCHS.index(r["arch"]))
    rows = fastest_of_repeats(rows)
    by = {(r["framework"], r["arch"]): r for r in rows if "error" not in r}
    for r in rows:
        base = by.get(("aekit", r["arch"]))
        if base and "error" not in r:
            r["speedup_of_aekit"] = r["s_per_epoch"] / base["s_per_epoch"]
            r["val_bce_minus_aekit"] = r["val_bce"] - base["val_bce"]
    cols = ["arch", "framework", "params", "train_images", "epochs", "first_epoch_s", "s_per_epoch", "samples_per_s",
            "val_bce", "val_mse", "fit_peak_rss_mb", "fit_growth_mb", "speedup_of_aekit", "val_bce_minus_aekit",
            "all_s_per_epoch"]
    notes = (f"{args.epochs} epochs per model (reduced from the tutorials' 50/100 to fit a shared 2-core CPU), "
             f"{args.threads} thread(s) per process, Adam 1e-3, the fastest of the runs listed in `all_s_per_epoch` "
             "per row (repeats alternate the order of the frameworks). `speedup_of_aekit` = that row's "
             "s/epoch divided by aekit's (>1: aekit faster). `val_bce_minus_aekit` > 0: aekit's "
             "held-out BCE is lower (better). "
             "`s_per_epoch` is the steady state (end of epoch 1 to the end of the last, so one-off warm-up such as "
             "lazy imports and graph tracing is excluded; `first_epoch_s` shows it) and includes the per-epoch "
             "validation pass over the 10k test images on both sides; `samples_per_s` = training images / "
             "s_per_epoch. `fit_peak_rss_mb`: the process's peak resident memory while training (libraries, data "
             "and model included; the held-out scoring afterwards is not); `fit_growth_mb`: that peak minus the "
             "resident memory just before training started, i.e. what training itself held (for aekit this includes "
             "PyTorch code imported on first use during training, such as torch._dynamo, which the optimizer imports).")
    write_results(name, {"args": vars(args), "rows": rows}, markdown_table(rows, cols), notes)


if __name__ == "__main__":
    main()
