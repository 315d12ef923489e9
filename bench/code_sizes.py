"""MSE and PSNR on the MNIST test set for dense, deep and conv autoencoders and PCA at several
code sizes (issue 2's quality table).

    python bench/code_sizes.py                   # 20 epochs, sizes 2 8 16 32 64 (about an hour on 2 cores)
    python bench/code_sizes.py --epochs 2 --sizes 8 32 --limit 5000   # quick look

PSNR is of the mean MSE over the test set; PCA has as many components as the code, fitted on
the 60k training images, reconstructions clipped to [0, 1].
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from common import REPO, default_data_dir, markdown_table, trained_run, write_results


def same_settings(out: Path, args: argparse.Namespace) -> bool:
    """Whether the run in ``out`` (if any) was trained for these epochs on this many images."""
    if not (out / "run.json").exists():
        return True
    config = json.loads((out / "run.json").read_text())["config"]
    return config["train"]["epochs"] == args.epochs and config["data"]["limit"] == args.limit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2, 8, 16, 32, 64])
    parser.add_argument("--presets", nargs="+", default=["dense", "deep", "conv"])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--limit", type=int, default=None, help="training images (default: all)")
    parser.add_argument("--data-dir", default=default_data_dir())
    parser.add_argument("--runs", default=str(REPO / "bench" / "runs" / "code_sizes"))
    parser.add_argument("--name", default="code_sizes")
    parser.add_argument("--threads", type=int, default=0, help="torch threads per training (0: default)")
    parser.add_argument("--retrain", action="store_true",
                        help="train every model afresh (default: reuse finished runs with the same settings, "
                             "resume interrupted ones)")
    args = parser.parse_args()

    from aekit.data import load_dataset
    from aekit.metrics import summarize
    from aekit.tasks.evaluate import fit_pca, pca_reconstruct, to_unit

    splits = load_dataset("mnist", data_dir=args.data_dir, progress=False)
    import numpy as np

    train_all = to_unit(np.concatenate([splits.train.images, splits.val.images]))
    x_test = to_unit(splits.test.images)
    rows = []
    for k in args.sizes:
        started = time.perf_counter()
        pca = fit_pca(train_all, k)
        m = summarize(x_test, pca_reconstruct(pca, x_test))
        rows.append({"model": "PCA", "code": k, "mse": m["mse"], "psnr": m["psnr"], "ssim": m["ssim"],
                     "params": None, "train_s": round(time.perf_counter() - started, 1)})
        print(rows[-1], flush=True)
        for preset in args.presets:
            out = Path(args.runs) / f"{preset}-{k}"
            retrain = args.retrain or not same_settings(out, args)
            model = trained_run(out, preset, retrain=retrain, log=None, dataset="mnist", data_dir=args.data_dir,
                                latent_dim=k, epochs=args.epochs, limit=args.limit, threads=args.threads)
            result = json.loads((out / "eval.json").read_text())["model"]
            status = json.loads((out / "run.json").read_text())["status"]
            rows.append({"model": preset, "code": k, "mse": result["mse"], "psnr": result["psnr"],
                         "ssim": result["ssim"], "params": sum(p.numel() for p in model.module.parameters()),
                         "train_s": status["train_seconds"]})
            print(rows[-1], flush=True)
    rows.sort(key=lambda r: (r["code"], ["PCA", *args.presets].index(r["model"])))
    table = markdown_table(rows, ["code", "model", "mse", "psnr", "ssim", "params", "train_s"])
    write_results(args.name, {"epochs": args.epochs, "limit": args.limit, "rows": rows}, table,
                  notes=f"MNIST test set (10k). {args.epochs} epochs, each preset's default batch size and "
                        "learning rate (dense: 256 / 1e-3 as in the classic example; deep, conv: 128 / 2e-3), seed 0. "
                        "PSNR of the mean MSE; PCA fitted on 60k training images, clipped to [0, 1].")


if __name__ == "__main__":
    main()
