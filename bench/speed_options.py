"""Which speed options pay on this machine: threads, channels-last, torch.compile, bf16 autocast.

    python bench/speed_options.py                # dense (b256) and conv preset (b128), 40 steps each
    python bench/speed_options.py --steps 80 --models conv

Each option trains the same model from the same initial weights on the same MNIST batches
with aekit's objective + Adam; it reports ms/step, samples/s, the speed ratio to the fp32
baseline (same thread count) and the loss after the timed steps against the baseline's (the
tolerance check: an option may only become a default if it is faster *and* this stays within a
few percent). Memory: resident set size after importing torch, after loading MNIST, and the
peak after training, so the training overhead beyond data + libraries is visible.
"""

from __future__ import annotations

import argparse
import copy
import os
import resource

import torch

from common import markdown_table, write_results
from flops import build, load_train, time_steps

MODELS = {
    "dense 784-32 (b256)": ("dense", dict(latent_dim=32, batch_size=256)),
    "conv preset 32,64 (b128)": ("conv", dict(batch_size=128)),
}
OPTIONS = {
    "fp32 baseline": dict(),
    "channels-last": dict(channels_last=True),
    "torch.compile": dict(compile=True),
    "bf16 autocast": dict(precision="bf16"),
}


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--models", default="dense,conv")
    p.add_argument("--threads", default="1,2", help="thread counts to try for the baseline")
    p.add_argument("--options", default=",".join(OPTIONS))
    args = p.parse_args()
    from aekit.train.loop import InMemoryBatches
    from aekit.train.run import images_to_tensor

    memory = {"after_import_mb": rss_mb()}
    images = load_train(60000)
    memory["after_mnist_load_mb"] = rss_mb()
    memory["mnist_uint8_mb"] = images.nbytes / 2**20
    rows = []
    wanted = [m for m in MODELS if m.split()[0] in args.models.split(",")]
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
