"""``aekit likelihood``: ELBO, importance-weighted NLL, active units and KL per dimension of a VAE."""

from __future__ import annotations

import argparse
import json

from .common import add_data_dir, add_device, add_run


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "likelihood", help="test-set ELBO and importance-weighted NLL of a VAE (nats per image)",
        description="Score a VAE on its dataset's test split: the ELBO and its parts (reconstruction "
                    "-log p(x|z) and KL), the negative log-likelihood estimated by importance sampling with "
                    "K posterior samples per image (Burda et al. 2016), active units and the KL of each latent "
                    "dimension. Binarised models are scored on the test set binarised once with a fixed seed.",
        epilog="example: aekit likelihood runs/vae -k 5000",
    )
    add_run(p, " of a VAE")
    p.add_argument("-k", type=int, default=1000, help="importance samples per image (default 1000; 5000 for "
                                                      "published numbers)")
    p.add_argument("--limit", type=int, default=None, help="estimate the NLL on the first N images only")
    p.add_argument("--split", choices=("train", "val", "test"), default="test", help="split to score")
    p.add_argument("--seed", type=int, default=0, help="binarisation and sampling seed (default 0)")
    p.add_argument("--rows", type=int, default=8192, help="decoder inputs per chunk (memory vs speed)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_data_dir(p)
    add_device(p, default="auto")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..data import load_splits
    from ..model import load_model, resolve_device
    from ..tasks.evaluate import to_unit
    from ..tasks.likelihood import check_probabilistic, evaluate_likelihood, format_likelihood

    model = load_model(args.run, device=resolve_device(args.device))
    check_probabilistic(model)
    data = model.config.data if args.data_dir is None else model.config.data.with_overrides(data_dir=args.data_dir)
    target = getattr(load_splits(data, seed=model.config.train.seed, progress=not args.json), args.split)
    result = evaluate_likelihood(model, to_unit(target.images), k=args.k, limit=args.limit, seed=args.seed,
                                 rows=args.rows, progress=not args.json, warn=False)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{args.split} split: {result['n']} images, {result['likelihood']} likelihood")
    print(format_likelihood(result))
    return 0
