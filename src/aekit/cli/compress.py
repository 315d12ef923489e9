"""``aekit compress`` / ``aekit decompress``: images to real ``.aek`` files through a trained model, and back."""

from __future__ import annotations

import argparse
import json

from .common import add_data_dir, add_device, add_run


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compress", help="compress images into .aek files with a trained model",
        description="Quantise each image's code (step --step) and range-code it with the per-dimension tables "
                    "saved with the model. Writes OUT/NAME.aek per image, or with --archive one file OUT holding "
                    "them all (the header is shared). Models need code tables for the step: --fit-codec fits "
                    "them on the model's training split and saves them in the model folder. Best with a model "
                    "trained for it (--preset codec; objective.rate sets the rate).",
        epilog="examples:\n"
               "  aekit compress runs/codec --fit-codec --step 1\n"
               "  aekit compress runs/codec digits/*.png -o packed/\n"
               "  aekit compress runs/codec test.npz -o all.aek --archive",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_run(p)
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="image files, folders or .npy/.npz arrays")
    p.add_argument("-o", "--out", metavar="PATH", help="output folder (or the archive file with --archive)")
    p.add_argument("--step", type=float, default=1.0, help="quantisation step of the code (default 1)")
    p.add_argument("--archive", action="store_true", help="write all images into one .aek file")
    p.add_argument("--fit-codec", action="store_true",
                   help="fit the code tables for --step on the model's training split and save them with it")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    add_data_dir(p)
    add_device(p)
    p.set_defaults(func=run_compress)

    p = sub.add_parser(
        "decompress", help="restore images from .aek files",
        description="Decode .aek files (or folders of them) with the model that wrote them into PNGs: NAME.png, "
                    "or NAME_0000.png ... for archives. Another model, or a truncated or foreign file, is an error.",
        epilog="example:\n  aekit decompress runs/codec packed/ -o restored/",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_run(p)
    p.add_argument("inputs", nargs="+", metavar="FILE", help=".aek files or folders")
    p.add_argument("-o", "--out", required=True, metavar="DIR", help="output folder")
    add_device(p)
    p.set_defaults(func=run_decompress)


def run_compress(args: argparse.Namespace) -> int:
    from ..codec import fit_codec_from_training_data
    from ..errors import AekitError
    from ..model import load_model
    from ..runs.compress import compress_files

    model = load_model(args.run, device=args.device)
    if args.fit_codec:
        priors = fit_codec_from_training_data(model, (args.step,), data_dir=args.data_dir)
        model.save(model.path)
        prior = priors[float(args.step)]
        print(f"fitted code tables for step {args.step:g} on {prior.n_fit} training codes "
              f"({prior.symbols} symbols per dimension); saved in {model.path}")
    if not args.inputs:
        if args.fit_codec:
            return 0
        raise AekitError("expected images to compress (or --fit-codec alone)")
    if not args.out:
        raise AekitError("expected -o OUT (a folder, or the archive file with --archive)")
    result = compress_files(model, args.inputs, args.out, step=args.step, archive=args.archive)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"compressed {result['images']} image(s) into {len(result['written'])} file(s), {result['bytes']} bytes "
          f"({result['bits_per_pixel']:.3f} bits per pixel) in {args.out}")
    return 0


def run_decompress(args: argparse.Namespace) -> int:
    from ..model import load_model
    from ..runs.compress import decompress_files

    model = load_model(args.run, device=args.device)
    result = decompress_files(model, args.inputs, args.out)
    print(f"restored {len(result['written'])} image(s) from {result['files']} file(s) into {args.out}")
    return 0
