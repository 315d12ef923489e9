"""``aekit interpolate``: a strip of decoded images between two images (files or dataset indices)."""

from __future__ import annotations

import argparse

from .common import add_data_dir, add_device, add_run


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "interpolate", help="decode the latent path between two images into a strip",
        description="Encode two images, walk between their codes (linear, or spherical: slerp) and decode "
                    "each step. A and B are image files, or integers: indices into the run's dataset split "
                    "(--split, default test). The strip shows A, the decoded path, then B.",
        epilog="examples:\n  aekit interpolate runs/vae 3 7 --steps 10 -o strip.png\n"
               "  aekit interpolate runs/vae a.png b.png --method both -o strip.png",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_run(p)
    p.add_argument("a", metavar="A", help="first image: a file, or an index into the dataset split")
    p.add_argument("b", metavar="B", help="second image: a file, or an index into the dataset split")
    p.add_argument("--steps", type=int, default=10, help="decoded images between and including the ends (default 10)")
    p.add_argument("--method", choices=("linear", "slerp", "both"), default="linear",
                   help="linear (default), slerp, or both (one row each)")
    p.add_argument("--split", choices=("train", "val", "test"), default="test",
                   help="split that integer indices refer to (default test)")
    p.add_argument("-o", "--out", required=True, metavar="PNG", help="output strip")
    add_data_dir(p)
    add_device(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..model import load_model
    from ..runs.pictures import write_strip
    from ..tasks.interpolate import METHODS

    model = load_model(args.run, device=args.device)
    a, b = _resolve(model, [args.a, args.b], args)
    methods = METHODS if args.method == "both" else (args.method,)
    write_strip(model, a, b, args.out, steps=args.steps, methods=methods)
    print(f"wrote {args.out}")
    return 0


def _resolve(model, specs: list[str], args: argparse.Namespace):
    """Each spec is an integer index into the dataset split, or an image file."""
    from ..errors import AekitError
    from ..runs.files import read_inputs

    images, split = [], None
    for spec in specs:
        if spec.lstrip("-").isdigit():
            if split is None:
                from ..data import load_splits

                data = model.config.data
                if args.data_dir is not None:
                    data = data.with_overrides(data_dir=args.data_dir)
                split = getattr(load_splits(data, seed=model.config.train.seed, progress=False), args.split)
            index = int(spec)
            if not 0 <= index < len(split):
                raise AekitError(f"expected an index in 0..{len(split) - 1} of the {args.split} split "
                                 f"({len(split)} images); got {index}")
            images.append(split.images[index])
        else:
            images.append(read_inputs(model, [spec]).images[0])
    return images
