"""``aekit encode`` / ``aekit decode``: images to latent codes (.npy / .csv / .parquet) and back."""

from __future__ import annotations

import argparse

from .common import add_device, add_run


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "encode", help="images or table rows -> latent codes (.npy, .csv or .parquet)",
        description="Encode image files, folders or .npy/.npz arrays with a trained model (posterior means for "
                    "VAEs). .npy holds the (N, k) float32 array; .csv and .parquet hold a name column, z0..z{k-1} "
                    "and the inputs' labels when they have them. .parquet needs pyarrow. A table model encodes "
                    "the rows of one table file, keyed by its id column.",
        epilog="examples:\n  aekit encode runs/conv digits/ -o codes.npy\n"
               "  aekit encode runs/conv test.npz -o codes.csv\n"
               "  aekit encode runs/rows rows.csv -o codes.parquet --id-column id",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_run(p)
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders or .npy/.npz arrays")
    p.add_argument("-o", "--out", required=True, metavar="FILE", help="codes file: .npy, .csv or .parquet")
    p.add_argument("--id-column", metavar="COL", help="tables: the id column (default: the one trained with)")
    p.add_argument("--label-column", metavar="COL", help="tables: a label column to carry into the codes file")
    add_device(p)
    p.set_defaults(func=run_encode)

    p = sub.add_parser(
        "decode", help="latent codes -> images",
        description="Decode codes (a .npy array of shape (N, k), or a .csv / .parquet written by aekit encode) "
                    "into one PNG per code, named after the code's name column when there is one; a table model "
                    "writes the decoded rows to one .csv or .parquet file (-o rows.csv).",
        epilog="example:\n  aekit decode runs/conv codes.npy -o decoded/",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_run(p)
    p.add_argument("codes", metavar="CODES", help="codes file: .npy, .csv or .parquet")
    p.add_argument("-o", "--out", required=True, metavar="DIR", help="output folder (a .csv/.parquet file for tables)")
    add_device(p)
    p.set_defaults(func=run_decode)


def run_encode(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..errors import AekitError
    from ..model import load_model
    from ..runs.codes import CODE_FORMATS, write_codes
    from ..runs.files import read_inputs

    if Path(args.out).suffix.lower() not in CODE_FORMATS:
        raise AekitError(f"expected -o ending in {', '.join(CODE_FORMATS)}; got {args.out}")
    model = load_model(args.run, device=args.device)
    if model.preprocessing.kind == "table":
        from ..runs.tables import read_rows, row_names

        if len(args.inputs) != 1:
            raise AekitError("a table model encodes one table file at a time")
        rows = read_rows(model, args.inputs[0], id_column=args.id_column, label_column=args.label_column)
        codes = model.encode(rows.features)
        write_codes(args.out, codes, row_names(rows), rows.labels, name_column=rows.id_column or "row")
    else:
        images = read_inputs(model, args.inputs)
        codes = model.encode(images.images)
        write_codes(args.out, codes, images.names, images.labels)
    print(f"wrote {codes.shape[0]} code(s) of {codes.shape[1]} values to {args.out}")
    return 0


def run_decode(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..data import write_image
    from ..model import load_model
    from ..runs.codes import read_codes

    model = load_model(args.run, device=args.device)
    codes, names = read_codes(args.codes, model.latent_dim)
    if model.preprocessing.kind == "table":
        from ..runs.tables import write_rows

        rows = model.decode(codes)
        write_rows(args.out, rows)
        print(f"wrote {len(rows)} decoded row(s) to {args.out}")
        return 0
    images = model.decode(codes)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = names or [f"image_{i:05d}" for i in range(len(codes))]
    for name, image in zip(names, images, strict=True):
        write_image(out / f"{name}.png", image)
    print(f"wrote {len(images)} image(s) to {out}")
    return 0
