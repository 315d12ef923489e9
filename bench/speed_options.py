"""Which speed options pay on this machine: threads, channels-last, torch.compile, bf16 autocast.

    python bench/speed_options.py                # every model below, 40 steps per option
    python bench/speed_options.py --steps 80 --models conv,pool
    python bench/speed_options.py --train-epochs 4   # the tolerance check of the automatic defaults

Each option trains the same model from the same initial weights on the same MNIST batches
with aekit's objective + Adam; it reports ms/step, samples/s, the speed ratio to the fp32
baseline (same thread count) and the loss after the timed steps against the baseline's (the
tolerance check: an option may only become a default if it is faster *and* this stays within a
few percent). Memory: resident set size after importing torch, after loading MNIST, and the
peak after training, so the training overhead beyond data + libraries is visible.

``--train-epochs N`` is the full check behind ``train.precision=auto`` and
``train.memory_format=auto``: each model trains N epochs on MNIST (validated on the held-out
10 %) through ``aekit.train``, once in float32 with the default layout and once in bf16
(channels-last for conv models); it reports the final validation loss of both, the time per
epoch, and what ``auto`` picks for that model here.
"""

from __future__ import annotations

import argparse
import copy
import json
import resource

import torch

from common import RUNS, default_data_dir, markdown_table, rss_mb, write_results
from flops import build, load_train, time_steps
from vs_keras import AEKIT as TUTORIAL

# key (the first word, for --models) -> (preset, overrides)
MODELS = {
    "dense 784-32 (b256)": ("dense", dict(latent_dim=32, batch_size=256)),
    "deep tutorial 128,64,32 (b256)": (TUTORIAL["deep"][0], dict(TUTORIAL["deep"][1], batch_size=256)),
    "conv preset 32,64 stride (b128)": ("conv", dict(batch_size=128)),
    "pool tutorial conv 16,8,8 (b128)": (TUTORIAL["conv"][0], dict(TUTORIAL["conv"][1], batch_size=128)),
    "denoise tutorial conv 32,32 (b128)": (TUTORIAL["denoise"][0], dict(TUTORIAL["denoise"][1], batch_size=128)),
    "vae-conv preset": ("conv-vae", {}),
    "vae-mlp preset": ("vae", {}),
}
OPTIONS = {
    "fp32 baseline": dict(),
    "channels-last": dict(channels_last=True),
    "torch.compile": dict(compile=True),
    "bf16 autocast": dict(precision="bf16"),
    "channels-last + bf16": dict(channels_last=True, precision="bf16"),
}
FIXED = dict(precision="fp32", memory_format="contiguous")  # the reference
CANDIDATE = dict(precision="bf16", memory_format="auto")  # bf16, and channels-last for conv models
AUTO = dict(precision="auto", memory_format="auto")


def tolerance(names: list[str], epochs: int, threads: int, retrain: bool) -> list[dict]:
    """Full training in float32 vs bf16 (conv models channels-last): final validation loss, s/epoch,
    and what ``auto`` picks for each model on this machine."""
    import aekit
    from aekit.objectives import build_objective
    from aekit.train.speed import resolve

    rows = []
    for name in names:
        preset, overrides = MODELS[name]
        results = {}
        for label, settings in (("fp32", FIXED), ("bf16", CANDIDATE)):
            out = RUNS / "speed_options" / f"{name.split()[0]}-{label}-e{epochs}"
            if retrain or not (out / "metrics.jsonl").exists():
                aekit.train(preset, dataset="mnist", data_dir=default_data_dir(), out=out, overwrite=True,
                            progress=False, evaluate=False, epochs=epochs, threads=threads,
                            **overrides, **settings)
            history = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
            results[label] = {"val_loss": history[-1]["val/loss"],
                              "s_per_epoch": sum(h["epoch_seconds"] for h in history) / len(history)}
        model = aekit.load(out)
        auto = resolve(model.config.train.with_overrides(**AUTO), model.module, torch.device("cpu"),
                       build_objective(model.config.objective))
        fp32, bf16 = results["fp32"], results["bf16"]
        rows.append({"model": name, "epochs": epochs,
                     "fp32 val loss": fp32["val_loss"], "bf16 val loss": bf16["val_loss"],
                     "loss change %": 100 * (bf16["val_loss"] / fp32["val_loss"] - 1),
                     "fp32 s/epoch": fp32["s_per_epoch"], "bf16 s/epoch": bf16["s_per_epoch"],
                     "speedup": fp32["s_per_epoch"] / bf16["s_per_epoch"], "auto picks": auto.describe()})
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--models", default="dense,deep,conv,pool,denoise,vae-conv,vae-mlp",
                   help="first words of the model names: dense, deep, conv, pool, denoise, vae-conv, vae-mlp")
    p.add_argument("--threads", default="1,2", help="thread counts to try for the baseline")
    p.add_argument("--options", default=",".join(OPTIONS))
    p.add_argument("--train-epochs", type=int, default=0,
                   help="instead of timing steps, train each model this many epochs in fp32 and with "
                        "the automatic settings and compare (writes speed_options_tolerance.json)")
    p.add_argument("--retrain", action="store_true", help="with --train-epochs: ignore finished runs")
    args = p.parse_args()
    wanted = [m for m in MODELS if m.split()[0] in args.models.split(",")]
    if args.train_epochs:
        threads = int(args.threads.split(",")[-1])
        rows = tolerance(wanted, args.train_epochs, threads, args.retrain)
        notes = (f"Each model trained {args.train_epochs} epochs on 54,000 MNIST training images with "
                 f"{threads} thread(s), validated on the 6,000 held out after every epoch (aekit's default "
                 "split; the s/epoch includes that pass); 'loss change %' is the automatic settings' final "
                 "validation loss in bf16 relative to float32's. Same seed, same batches; the runs are in "
                 "bench/runs/speed_options. The runs are reused across invocations and some shared the machine "
                 "with other jobs, so their s/epoch is indicative only: speed_options.md (one process, "
                 "alternating options) is the speed reference.")
        write_results("speed_options_tolerance", {"args": vars(args), "rows": rows}, markdown_table(rows), notes)
        return
    from aekit.data.imageset import images_to_tensor
    from aekit.train.loop import InMemoryBatches

    memory = {"after_import_mb": rss_mb()}
    images = load_train(60000)
    memory["after_mnist_load_mb"] = rss_mb()
    memory["mnist_uint8_mb"] = images.nbytes / 2**20
    rows = []
    threads = [int(t) for t in args.threads.split(",")]
    for name in wanted:
        preset, overrides = MODELS[name]
        base_model, objective, prep, run = build(preset, overrides, images)
        batches = InMemoryBatches(images_to_tensor(images), run.train.batch_size, prep, shuffle=True, seed=0)
        params_mb = sum(q.numel() for q in base_model.parameters()) * 4 / 2**20
        for t in threads:
            torch.set_num_threads(t)
            baseline = None
            for option in args.options.split(","):
                if t != threads[-1] and option != "fp32 baseline":
                    continue  # options are compared at the largest thread count
                kwargs = OPTIONS[option]
                model = copy.deepcopy(base_model)
                seconds, loss = time_steps(model, objective, batches, args.steps, **kwargs)
                row = {"model": name, "threads": t, "option": option, "ms/step": seconds * 1e3,
                       "samples/s": run.train.batch_size / seconds, "loss after steps": loss,
                       "params MB": params_mb}
                if option == "fp32 baseline":
                    baseline = row
                row["speed vs fp32"] = baseline["ms/step"] / row["ms/step"]
                row["loss vs fp32"] = loss / baseline["loss after steps"]
                rows.append(row)
                print(row, flush=True)
    memory["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    notes = (f"{args.steps} timed steps after 3 warm-up steps (compile: its warm-up includes compilation). "
             f"Memory (MB): {', '.join(f'{k} {v:.0f}' for k, v in memory.items())}; the peak covers every "
             "model and option above, each holding a copy of the model and Adam state.")
    write_results("speed_options", {"args": vars(args), "memory": memory, "rows": rows}, markdown_table(rows), notes)


if __name__ == "__main__":
    main()
