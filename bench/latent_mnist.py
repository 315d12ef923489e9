"""Latent diagnostics on MNIST: the plain shallow model beside the sparse and contractive ones.

The classic comparison (Keras blog, "Building autoencoders in Keras"): the same 784-32-784
network with a ReLU code, trained plainly and with an L1 penalty on the code; the penalised
code's mean activation is much lower. Also the KL-sparse variant (sigmoid code, target rate
0.05) and the contractive one (sigmoid code), each with its test PSNR so the price is visible.

Usage::

    AEKIT_DATA=../shared/data python bench/latent_mnist.py --epochs 20
"""

from __future__ import annotations

import argparse
import json

from common import markdown_table, run_dir, trained_run, write_results

VARIANTS = {
    "dense (plain, ReLU code)": ("dense", {}),
    "sparse (L1 1e-4, ReLU code)": ("sparse", {}),
    "plain, sigmoid code": ("dense", {"code_activation": "sigmoid"}),
    "sparse KL (rho 0.05, beta 0.1, sigmoid code)": ("dense", {"code_activation": "sigmoid", "sparsity": 0.1,
                                                              "sparsity_target": 0.05}),
    "contractive (lambda 1e-3, sigmoid code)": ("contractive", {}),
}
BATCH = 32  # the same for every row; sigmoid codes need small batches to leave their early plateau


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--retrain", action="store_true")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (1 helps on a shared machine)")
    args = parser.parse_args()

    import torch

    from aekit.data import load_dataset
    from aekit.tasks.evaluate import evaluate_model

    if args.threads:
        torch.set_num_threads(args.threads)
    splits = load_dataset("mnist", progress=False)
    rows = []
    for label, (preset, overrides) in VARIANTS.items():
        out = run_dir("latent " + label)
        model = trained_run(out, preset, retrain=args.retrain, dataset="mnist", evaluate=False, epochs=args.epochs,
                            threads=args.threads, batch_size=BATCH, **overrides)
        status = json.loads((out / "run.json").read_text())["status"]
        result = evaluate_model(model, splits.test)
        lat = result["latent"]
        rows.append({"model": label, "epochs": status["epochs_done"], "mean |z|": lat["mean_abs_activation"],
                     "mean activation rate": lat["mean_activation_rate"], "dead units": lat["dead_units"],
                     "code size": lat["code_size"], "test PSNR dB": result["model"]["psnr"],
                     "train s": status.get("train_seconds")})
        print(rows[-1], flush=True)
    md = [f"# Latent diagnostics on MNIST (784-32-784, test set; batch {BATCH}, Adam lr 1e-3)", "",
          "mean |z| over test images and units; a unit is active on an image when |z| exceeds 1% of the largest "
          "|z| on the test set; dead = never active or constant.", "",
          markdown_table(rows, floatfmt=".3f"), "",
          f"Rerun: `AEKIT_DATA=../shared/data python bench/latent_mnist.py --epochs {args.epochs}`"]
    write_results("latent_mnist", {"rows": rows}, "\n".join(md))


if __name__ == "__main__":
    main()
