"""``aekit reconstruct``: images in, reconstructions out (same size and mode)."""

from __future__ import annotations

import argparse

from .common import add_device, add_run


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reconstruct", help="reconstruct images through a trained model",
        description="Encode and decode image files (PNG/JPEG/...), folders or .npy/.npz arrays through a "
                    "saved model, applying the preprocessing recorded at training time. Writes one PNG per "
                    "input image, same size and mode, named after the input.",
        epilog="example: aekit reconstruct runs/deep32 digits/*.png -o out/",
    )
    add_run(p)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders or .npy/.npz arrays")
    p.add_argument("-o", "--out", required=True, metavar="DIR", help="output folder")
    add_device(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..model import load_model
    from ..runs.files import reconstruct_files

    model = load_model(args.run, device=args.device)
    written = reconstruct_files(model, args.inputs, args.out)
    print(f"wrote {len(written)} reconstruction(s) to {args.out}")
    return 0
