"""``aekit inpaint``: fill a masked region of images, keep the known pixels, score the fill."""

from __future__ import annotations

import argparse
import json

from .common import add_device, add_run


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "inpaint", help="fill a masked region of images with a trained model",
        description="Erase the masked pixels of each input, run it through a saved model and put the model's "
                    "pixels in the hole only; every known pixel is kept. Writes NAME.png (filled) and "
                    "NAME_masked.png (the input with the hole). Scores (MSE, PSNR) are computed on the masked "
                    "pixels only, against what the inputs held there (or --reference), into OUT/metrics.json. "
                    "Models trained with --noise blocks:6-14 inpaint best.",
        epilog="examples:\n"
               "  aekit inpaint runs/inpainter digit.png --box 9,9,10,10 -o out/\n"
               "  aekit inpaint runs/inpainter photos/ --mask hole.png -o out/",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_run(p)
    p.add_argument("inputs", nargs="+", metavar="IMAGE", help="image files, folders or .npy/.npz arrays")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--mask", metavar="MASK.png", help="mask image of the same size: white (non-zero) = missing")
    where.add_argument("--box", metavar="X,Y,W,H", help="missing rectangle: top-left corner and size in pixels")
    p.add_argument("-o", "--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--reference", nargs="+", metavar="CLEAN", help="intact images matching the inputs, for scores")
    p.add_argument("--iterations", type=int, default=1, help="passes through the model, each refining the fill")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    add_device(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..model import load_model
    from ..runs.inpaint import inpaint_files

    model = load_model(args.run, device=args.device)
    result = inpaint_files(model, args.inputs, args.out, mask=args.mask, box=args.box, reference=args.reference,
                           iterations=args.iterations)
    if args.json:
        print(json.dumps(result))
        return 0
    m = result["metrics"]
    print(f"wrote {len(result['written'])} image(s) to {args.out}")
    print(f"masked pixels: {m['masked_pixels']}  MSE {m['masked_mse']:.5f}  PSNR {m['masked_psnr']:.2f} dB "
          f"(against {m['reference']})")
    return 0
