"""``aekit train``: train a preset on a dataset and write a run folder."""

from __future__ import annotations

import argparse

from ..objectives.corruptions import usage as corruption_usage
from ..registry import LIKELIHOODS
from .common import add_data_dir, parse_key_values


def _loss_help() -> str:
    return "reconstruction loss: " + "; ".join(f"{name} ({kind.description})" if kind.description else name
                                               for name, kind in LIKELIHOODS.items())


def _noise_help() -> str:
    return (f"corrupt each training batch (clean target): {corruption_usage()}; chain with + "
            "(gaussian:0.3+masking:0.2); none")


# flag -> config field; every flag is optional and only overrides what the preset sets. The help
# texts of --loss and --noise are read from the registries when the parser is built.
_FLAGS = {
    "latent": ("latent_dim", "size of the code z (default 32; for tables a quarter of the columns, 2 to 32)"),
    "hidden": ("hidden", "MLP hidden sizes, e.g. 512,256, or 'auto' (784->32 gives 784-128-32)"),
    "channels": ("channels", "conv channels per stage, e.g. 32,64"),
    "activation": ("activation", "relu, leaky_relu, elu, celu, gelu, tanh, sigmoid"),
    "loss": ("reconstruction", _loss_help),
    "noise": ("corruption", _noise_help),
    "beta": ("beta", "weight of the KL term of VAEs (default 1: the ELBO)"),
    "kl_warmup": ("kl_warmup", "epochs over which the KL weight rises from 0 to beta (VAEs)"),
    "free_bits": ("free_bits", "nats per latent dimension the KL may use for free (VAEs)"),
    "binarize": ("binarize", "none, dynamic (fresh Bernoulli draws per batch) or static"),
    "epochs": ("epochs", "passes over the training data (default: 20, more on small datasets)"),
    "batch_size": ("batch_size", "samples per step (default 256)"),
    "lr": ("lr", "learning rate (default 1e-3)"),
    "optimizer": ("optimizer", "adam (default), adamw, sgd, rmsprop"),
    "schedule": ("schedule", "learning-rate schedule: none, cosine, step, plateau"),
    "early_stopping": ("early_stopping", "stop after N epochs without a better validation loss"),
    "seed": ("seed", "random seed (default 0)"),
    "device": ("device", "auto (default), cpu, cuda, cuda:N"),
    "threads": ("threads", "CPU threads for PyTorch (default: PyTorch's choice)"),
    "precision": ("precision", "auto (default: bf16 for conv models on CPUs with native bf16), fp32, bf16"),
    "memory_format": ("memory_format", "auto (default: channels-last for conv models on CPU), channels_last, "
                                       "contiguous"),
    "checkpoint_every": ("checkpoint_every", "also checkpoint every N steps (default: each epoch)"),
    "val_fraction": ("val_fraction", "share of training images held out for validation (default 0.1)"),
    "limit": ("limit", "use only the first N training images"),
    "image_size": ("image_size", "resize image-folder inputs, e.g. 64 or 64x48"),
    "label_column": ("label_column", "tables: a column of labels kept out of the features (0/1 labels are "
                                     "used to measure detection)"),
    "id_column": ("id_column", "tables: a column of row ids kept out of the features (keys the outputs)"),
    "scaling": ("scaling", "tables: standard (mean, std; default) or robust (median, IQR) for numeric columns"),
    "impute": ("impute", "tables: missing values are an error (none, default) or filled: median, mean, constant"),
    "fill_value": ("fill_value", "tables: the value --impute constant fills in (default 0)"),
    "unseen": ("unseen", "tables: a category not seen in training is an error (default) or 'other'"),
    "window": ("window", "time series: samples per window (makes --dataset a series CSV/Parquet), e.g. 288"),
    "stride": ("stride", "time series: samples between training windows (default 1)"),
    "timestamp_column": ("timestamp_column", "time series: the timestamp column (default: 'timestamp' if present)"),
    "value_columns": ("value_columns", "time series: the value columns, e.g. cpu,mem (default: all others)"),
    "gaps": ("gaps", "time series: split (default: windows stay inside gap-free segments), ignore, or error"),
}


def register(sub: argparse._SubParsersAction) -> None:
    from ..data import dataset_names
    from ..presets import PRESETS

    width = max(map(len, PRESETS)) + 2
    presets = "\n".join(f"  {name:<{width}}{p.description}" for name, p in PRESETS.items())
    p = sub.add_parser(
        "train", help="train an autoencoder and write a run folder",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train a preset on a dataset. Writes RUN/ with the exported model, checkpoints, "
                    "metrics.jsonl, loss curves, reconstructions and report.html.\n\npresets:\n" + presets,
        epilog="examples:\n"
               "  aekit train                                     # default model on the default data\n"
               "  aekit train --preset deep --dataset mnist --latent 32 --epochs 20 --out runs/deep32\n"
               "  aekit train --preset conv --dataset photos/ --image-size 64 --set model.channels=32,64,128\n"
               "  aekit train --dataset rows.csv --id-column id --label-column fraud --out runs/rows   # a table\n"
               "  aekit train --preset conv1d --dataset series.csv --timestamp-column timestamp --window 288 "
               "--out runs/s  # a time series\n"
               "  aekit train --resume runs/deep32 --epochs 40      # continue, or train longer",
    )
    p.add_argument("--preset", default=None,
                   help="model variant (default: deep for images, denoising with the table recipe for a table, "
                        "conv1d for a series)")
    p.add_argument("--dataset", default=None,
                   help=f"{', '.join(dataset_names())}, an image folder, a table (.csv, .tsv, .parquet, or "
                        ".npy/.npz of rows (N, D)) or images in .npy/.npz (default: mnist if found locally, "
                        "else digits)")
    add_data_dir(p)
    p.add_argument("--out", "-o", metavar="RUN", help="run folder (default: runs/<preset>-<dataset>)")
    p.add_argument("--resume", metavar="RUN", help="continue the run in RUN from its last checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    for flag, (_field, text) in _FLAGS.items():
        p.add_argument("--" + flag.replace("_", "-"), dest=flag, metavar="V", help=text() if callable(text) else text)
    p.add_argument("--normalize", action="store_true",
                   help="standardise channels with the training mean/std (needs --set model.output_activation=none "
                        "and --loss mse)")
    p.add_argument("--compile", action="store_true", help="use torch.compile for the training step")
    p.add_argument("--nproc", type=int, default=1, metavar="N",
                   help="data-parallel processes (PyTorch DDP: gloo on CPU, NCCL on GPUs); the global batch is "
                        "split across them. For several machines use torchrun -m aekit.train (see README)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="any config field, e.g. model.code_activation=relu or train.weight_decay=1e-5 (repeatable)")
    p.add_argument("--tracker", action="append", choices=("tensorboard", "wandb"),
                   help="also log to TensorBoard or Weights & Biases (offline); repeatable")
    p.add_argument("--no-eval", action="store_true", help="skip the test-set evaluation and report")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (epoch lines still print)")
    p.add_argument("--list-presets", action="store_true", help="list presets and exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..presets import PRESETS
    from ..runs.train import train

    if args.list_presets:
        width = max(map(len, PRESETS)) + 2
        for name, preset in PRESETS.items():
            print(f"{name:<{width}}{preset.description}")
        return 0
    overrides: dict[str, object] = {}
    for flag, (field, _text) in _FLAGS.items():
        value = getattr(args, flag)
        if value is not None:
            overrides[field] = value
    if args.noise is not None:
        overrides["corruption"] = "" if args.noise.lower() == "none" else args.noise.replace("+", ",")
    if args.normalize:
        overrides["normalize"] = "true"
    if args.compile:
        overrides["compile"] = "true"
    if args.data_dir:
        overrides["data_dir"] = args.data_dir
    overrides.update(parse_key_values(args.set))
    common = dict(progress=not args.no_progress, evaluate=not args.no_eval, trackers=tuple(args.tracker or ()),
                  nproc=args.nproc)
    if args.resume:
        train(resume=True, out=args.resume, **common, **overrides)
    else:
        train(args.preset, dataset=args.dataset, out=args.out, overwrite=args.overwrite, **common, **overrides)
    return 0
