"""``aekit denoise``: noisy images in, cleaned images out; PSNR / SSIM when a clean reference exists."""

from __future__ import annotations

import argparse
import json

from ..objectives.corruptions import usage as corruption_usage
from .common import add_device, add_run


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "denoise", help="remove noise from images with a trained (denoising) model",
        description="Denoise image files (PNG/JPEG/...), folders or .npy/.npz arrays through a saved model, "
                    "best one trained with a corruption (presets denoising, conv-denoising). Writes one PNG per "
                    "input, named after it. With --noise the inputs are taken as clean, corrupted first (the "
                    "noisy versions are written as NAME_noisy.png) and scored; with --reference the inputs are "
                    "scored against clean versions. Scores (PSNR of the mean MSE, SSIM) go to OUT/metrics.json.",
        epilog="examples:\n"
               "  aekit denoise runs/cdae noisy/*.png -o clean/\n"
               "  aekit denoise runs/cdae digits/ -o demo/ --noise gaussian:0.5\n"
               "  aekit denoise runs/cdae noisy/ -o clean/ --reference originals/",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_run(p)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders or .npy/.npz arrays")
    p.add_argument("-o", "--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--noise", metavar="SPEC",
                   help=f"corrupt the (clean) inputs first: {corruption_usage()}; chain with +")
    p.add_argument("--reference", nargs="+", metavar="CLEAN", help="clean images matching the inputs, for scores")
    p.add_argument("--seed", type=int, default=0, help="seed of the --noise draw (default 0)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    add_device(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..model import load_model
    from ..runs.denoise import denoise_files

    model = load_model(args.run, device=args.device)
    result = denoise_files(model, args.inputs, args.out, noise=args.noise, reference=args.reference,
                           seed=args.seed)
    if args.json:
        print(json.dumps(result))
        return 0
    noisy = sum(1 for p in result["written"] if p.endswith("_noisy.png"))
    print(f"wrote {len(result['written']) - noisy} denoised image(s)"
          + (f" and their {noisy} noisy input(s)" if noisy else "") + f" to {args.out}")
    metrics = result.get("metrics")
    if metrics:
        a, b = metrics["input"], metrics["output"]
        print(f"{'':<10}{'PSNR dB':>9}{'SSIM':>8}   ({len(metrics['per_image'])} image(s); PSNR of the mean MSE)")
        print(f"{'input':<10}{a['psnr']:>9.2f}{a['ssim']:>8.4f}")
        print(f"{'denoised':<10}{b['psnr']:>9.2f}{b['ssim']:>8.4f}")
    return 0
