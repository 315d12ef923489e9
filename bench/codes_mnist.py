"""Autoencoder codes as features on MNIST, against PCA with as many components.

For each model (trained on the MNIST training split): kNN accuracy (k = 5, fitted on the
training codes, scored on the 10,000 test codes), linear-probe accuracy (logistic regression on
standardised codes) and trustworthiness (5 neighbours, 2,000 test images) of the codes, beside
PCA-k fitted on the same training images; plus t-SNE maps of 2,000 test codes::

    python bench/codes_mnist.py --train           # train, then measure
    python bench/codes_mnist.py                   # measure the trained models
"""

from __future__ import annotations

import argparse
import time

from common import RESULTS, default_data_dir, markdown_table, run_dir, write_results

MODELS = {"deep-32": ("deep", {"latent_dim": 32}), "conv-32": ("conv", {"latent_dim": 32}),
          "vae-32": ("vae", {"latent_dim": 32}), "denoising-32": ("denoising", {"latent_dim": 32}),
          "contractive-32": ("contractive", {"latent_dim": 32})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", action="store_true", help="(re)train every model (missing ones always are)")
    parser.add_argument("--models", default="deep-32,conv-32")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--name", default="codes_mnist", help="results name (bench/results/NAME.json / .md)")
    parser.add_argument("--data-dir", default=default_data_dir())
    args = parser.parse_args()

    import numpy as np
    import torch

    import aekit
    from aekit.runs.pictures import write_map
    from aekit.tasks.embed import compare_with_pca
    from aekit.tasks.latent_maps import project

    torch.set_num_threads(args.threads)
    splits = aekit.data.load_dataset("mnist", data_dir=args.data_dir)
    train, test = splits.train, splits.test
    rows, results = [], {}
    pca_done = False
    rng = np.random.default_rng(0)
    subset = np.sort(rng.choice(len(test), 2000, replace=False))
    RESULTS.mkdir(parents=True, exist_ok=True)
    for name in [m for m in args.models.split(",") if m]:
        preset, overrides = MODELS[name]
        out = run_dir(f"codes-{name}")
        if args.train or not (out / "model").exists():  # models not trained yet are trained either way
            aekit.train(preset, dataset="mnist", data_dir=args.data_dir, out=out, overwrite=True, progress=False,
                        evaluate=False, epochs=args.epochs, threads=args.threads, **overrides)
        model = aekit.load(out)
        started = time.perf_counter()
        r = compare_with_pca(model, train, test)
        results[name] = r
        rows.append({"codes": f"{name} ({preset}, {model.config.train.epochs} epochs)", "dim": r["latent_dim"],
                     **{k: round(100 * v, 2) for k, v in r["model"].items()},
                     "s": round(time.perf_counter() - started)})
        if not pca_done:
            rows.append({"codes": f"PCA-{r['latent_dim']}", "dim": r["latent_dim"],
                         **{k: round(100 * v, 2) for k, v in r["pca"].items()}})
            pca_done = True
        codes = np.asarray(model.encode(test.images[subset]))
        write_map(project(codes, "tsne"), RESULTS / f"codes_mnist_tsne_{name}.png", test.labels[subset],
                  title=f"t-SNE of {name} test codes")
        print(rows, flush=True)
    table = markdown_table(rows, ["codes", "dim", "knn_accuracy", "linear_probe_accuracy", "trustworthiness", "s"])
    notes = ("MNIST: codes of the training split (54,000 images after the 10% validation hold-out) fit the kNN "
             "(k = 5) and the linear probe (standardised codes, logistic regression), scored on the 10,000 test "
             "codes; trustworthiness (scikit-learn, 5 neighbours) of 2,000 test codes against their pixels. "
             "Accuracies and trustworthiness in %. PCA fitted on the same training images in [0, 1]. "
             f"Autoencoders: preset defaults, epochs as listed, {args.threads} thread(s). t-SNE maps: "
             "codes_mnist_tsne_<model>.png.")
    write_results(args.name, {"results": results}, table, notes)


if __name__ == "__main__":
    main()
