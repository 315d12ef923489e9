"""``aekit generate``: new images from a trained model (prior samples, mixture samples, manifold)."""

from __future__ import annotations

import argparse

from .common import add_data_dir, add_device, add_run


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "generate", help="sample new images from a model (VAE prior, or a mixture fitted on training codes)",
        description="Decode sampled codes into a grid picture. A VAE samples its prior N(0, I); a deterministic "
                    "autoencoder samples the Gaussian mixture fitted on its training codes when it was trained "
                    "(--fit-sampler fits and saves one for models that lack it). --what manifold decodes a grid "
                    "over a 2-D latent space; --what traversal sweeps one latent dimension per row.",
        epilog="examples:\n  aekit generate runs/vae -n 64 -o grid.png --temperature 0.8\n"
               "  aekit generate runs/deep32 --fit-sampler -n 64 -o grid.png\n"
               "  aekit generate runs/vae2 --what manifold -n 20 -o manifold.png",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_run(p)
    p.add_argument("-n", type=int, default=64, help="samples (default 64); cells per side for --what manifold")
    p.add_argument("-o", "--out", required=True, metavar="PNG", help="output picture")
    p.add_argument("--what", choices=("samples", "manifold", "traversal"), default="samples",
                   help="samples (default), manifold (2-D latents) or traversal")
    p.add_argument("--temperature", type=float, default=1.0, help="scale of the sampled spread (default 1)")
    p.add_argument("--sampler", choices=("auto", "prior", "gmm"), default="auto",
                   help="auto (default: prior for VAEs, mixture otherwise), prior, gmm")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--ncols", type=int, default=None, help="images per row (default: a square grid)")
    p.add_argument("--fit-sampler", action="store_true",
                   help="fit a Gaussian mixture on the training codes first and save it with the model")
    p.add_argument("--components", type=int, default=10, help="mixture components for --fit-sampler (default 10)")
    add_data_dir(p)
    add_device(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..model import load_model
    from ..viz import save_png

    model = load_model(args.run, device=args.device)
    if args.fit_sampler:
        from ..tasks.generate import fit_sampler_from_training_data

        sampler = fit_sampler_from_training_data(model, data_dir=args.data_dir, n_components=args.components)
        model.save(model.path)
        print(f"fitted a {sampler.n_components}-component mixture on {sampler.n_fit_} training codes; "
              f"saved with the model in {model.path}")
    if args.what == "samples":
        from ..runs.pictures import sample_grid

        picture = sample_grid(model, args.n, temperature=args.temperature, sampler=args.sampler, seed=args.seed,
                              ncols=args.ncols)
    else:
        picture = _latent_picture(model, args)
    save_png(args.out, picture)
    print(f"wrote {args.out}")
    return 0


def _latent_picture(model, args: argparse.Namespace):
    import numpy as np

    from ..runs.pictures import manifold, traversal

    codes = None
    if not _has_prior(model):
        # Deterministic codes have no prior: span / sweep the codes of the test images.
        from ..data import load_splits

        data = model.config.data if args.data_dir is None else model.config.data.with_overrides(data_dir=args.data_dir)
        splits = load_splits(data, seed=model.config.train.seed, progress=False)
        codes = np.asarray(model.encode(splits.test.images))
    if args.what == "manifold":
        return manifold(model, args.n, codes=codes)
    return traversal(model, codes=codes)[0]


def _has_prior(model) -> bool:
    from ..tasks.generate import has_prior

    return has_prior(model)
