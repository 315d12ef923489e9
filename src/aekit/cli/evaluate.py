"""``aekit eval``: test-set metrics of a run beside PCA at the same code size."""

from __future__ import annotations

import argparse
import json

from .common import add_data_dir, add_device, add_run


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval", help="evaluate a run on its test split (MSE, BCE, PSNR, SSIM vs PCA)",
        description="Evaluate a trained model on the test split of its dataset (or another one), beside "
                    "PCA with as many components as the code. Writes eval.json and report.html into the run "
                    "folder (or --out).",
    )
    add_run(p)
    p.add_argument("--dataset", help="evaluate on another dataset of the same image size")
    add_data_dir(p)
    p.add_argument("--split", default="test", choices=("test", "val", "train"), help="split to score")
    p.add_argument("--out", metavar="DIR", help="where to write eval.json and report.html (default: the run)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument("--no-report", action="store_true", help="write nothing, only print")
    add_device(p, default="auto")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..runs.evaluate import evaluate_saved
    from ..tasks.evaluate import format_table

    result = evaluate_saved(args.run, dataset=args.dataset, data_dir=args.data_dir, split=args.split,
                            out=None if args.no_report else (args.out or "<run>"), device=args.device,
                            progress=not args.json)
    if args.json:
        print(json.dumps(result))
    elif result.get("kind") == "table":
        from ..runs.tables import format_table_result

        print(format_table_result(result))
        print(f"report: {result['report']}")
    else:
        print(format_table(result, result.get("preset", "model")))
        if result.get("likelihood"):
            from ..tasks.likelihood import format_likelihood

            print(format_likelihood(result["likelihood"]))
        if result.get("report"):
            print(f"report: {result['report']}")
    return 0
