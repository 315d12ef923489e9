"""``aekit export``: a saved model as ONNX graphs (encoder, decoder, whole autoencoder)."""

from __future__ import annotations

import argparse

from .common import add_run


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export", help="export a model to ONNX (encoder.onnx, decoder.onnx, autoencoder.onnx)",
        description="Write the encoder, the decoder and the whole autoencoder as ONNX graphs with a free batch "
                    "dimension. They take and return model-space tensors; the recorded preprocessing (how pixels "
                    "become model space and back) is stored in each file's metadata and in export.json. The "
                    "graphs are run in onnxruntime and compared with PyTorch before the folder is written.",
        epilog="example: aekit export runs/conv32 --format onnx -o exported/",
    )
    add_run(p)
    p.add_argument("--format", default="onnx", choices=("onnx",), help="export format (default onnx)")
    p.add_argument("-o", "--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--opset", type=int, default=18, help="ONNX opset version (default 18)")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..model import load_model
    from ..runs.export import export

    model = load_model(args.run, device="cpu")
    manifest = export(model, args.out, format=args.format, opset=args.opset, overwrite=args.overwrite)
    print(f"wrote {', '.join(manifest['graphs'])} and export.json to {args.out}")
    diffs = manifest.get("max_abs_diff_vs_pytorch")
    if diffs:
        print("onnxruntime vs PyTorch, largest |difference|: "
              + ", ".join(f"{name.removesuffix('.onnx')} {d:.2e}" for name, d in diffs.items()))
    return 0
