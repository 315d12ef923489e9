"""Inpainting a random 10x10 block on MNIST test digits: trained models against the mean-image fill.

Each of the 10,000 test digits loses one random 10x10 square (seeded); a method fills it and
keeps every other pixel. The score is the MSE over the masked pixels only (intensities in
[0, 1]), pooled over the set, and its ratio to filling the hole with the mean training image.
Models trained on random square holes (``--noise blocks:6-14``) are compared with ones that
never saw a hole (a plain ``conv`` model and the Gaussian denoiser), run for 1 and 3
iterations (each pass feeds the filled image back in).

Usage::

    AEKIT_DATA=../shared/data python bench/inpaint_mnist.py --train
"""

from __future__ import annotations

import argparse
import json

import torch

from common import markdown_table, run_dir, trained_run, write_results

MODELS: dict[str, tuple[str, dict, str]] = {
    "inpainting (conv-denoising, blocks:6-14)": (
        "conv-denoising", dict(corruption=("blocks:6-14",), epochs=15),
        "the conv-denoising preset (dense code of 256 values) trained on random 6-14 px square holes"),
}
# trained by bench/denoise_mnist.py (no holes in their training); used when present
OTHERS = ("conv-denoising, k=256, gaussian",)


def train_missing(names: list[str], retrain: bool, threads: int) -> None:
    for name in names:
        preset, overrides, _ = MODELS[name]
        trained_run(run_dir(name), preset, retrain=retrain, dataset="mnist", threads=threads, **overrides)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", action="store_true", help="train the models that are missing")
    parser.add_argument("--retrain", action="store_true")
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--block", type=int, default=10)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (1 helps on a shared machine)")
    args = parser.parse_args()

    import aekit
    from aekit.data import load_dataset
    from aekit.tasks.evaluate import to_unit
    from aekit.tasks.inpaint import inpaint_unit, masked_quality, mean_image_fill, random_block_masks

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.train or args.retrain:
        train_missing(args.models, args.retrain, args.threads)
    splits = load_dataset("mnist", progress=False)
    x = to_unit(splits.test.images[: args.limit])
    masks = random_block_masks(len(x), 28, 28, size=args.block, seed=0)
    mean_image = to_unit(splits.train.images).mean(0, keepdim=True)

    rows = []
    baseline = masked_quality(x, mean_image_fill(mean_image, x, masks), masks)
    rows.append({"method": "mean training image", "iterations": None, **baseline, "ratio to mean fill": 1.0})
    rows.append({"method": "zeros (black)", "iterations": None,
                 **masked_quality(x, x.masked_fill(masks, 0.0), masks)})
    candidates = {name: run_dir(name) for name in args.models}
    candidates.update({f"{name} (no holes in training)": run_dir(name) for name in OTHERS
                       if (run_dir(name) / "model" / "config.json").exists()})
    info = []
    for name, path in candidates.items():
        if not (path / "model" / "config.json").exists():
            raise SystemExit(f"missing model {path}; run with --train")
        model = aekit.load(path)
        status = json.loads((path / "run.json").read_text())["status"]
        info.append({"model": name, "trained on": ", ".join(model.config.objective.corruption) or "clean",
                     "code values": model.latent_dim, "epochs": status.get("epochs_done"),
                     "train min": round(status.get("train_seconds", 0) / 60, 1)})
        for iterations in (1, 3):
            q = masked_quality(x, inpaint_unit(model, x, masks, iterations=iterations), masks)
            rows.append({"method": name, "iterations": iterations, **q})
    for r in rows:
        r["ratio to mean fill"] = r["masked_mse"] / baseline["masked_mse"]
        print(r, flush=True)
    md = [f"# Inpainting a random {args.block}x{args.block} block, MNIST test set ({len(x)} images)", "",
          "MSE and PSNR over the masked pixels only (intensities in [0, 1]); known pixels are kept as they are. "
          "Target: a masked-pixel MSE at most half that of the mean-image fill (ratio ≤ 0.5).", "",
          markdown_table(rows, ["method", "iterations", "masked_mse", "masked_psnr", "ratio to mean fill"],
                         floatfmt=".4f"), "",
          markdown_table(info), "",
          "Rerun: `AEKIT_DATA=../shared/data python bench/inpaint_mnist.py --train`"]
    write_results("inpaint_mnist", {"n_test": len(x), "block": args.block, "rows": rows, "models": info},
                  "\n".join(md))


if __name__ == "__main__":
    main()
