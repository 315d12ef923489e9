"""``aekit detect``: anomaly scores, threshold and labels; histogram, pixel maps, ROC with labels."""

from __future__ import annotations

import argparse
import json

from ..errors import AekitError
from .common import add_device, add_run


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "detect", help="score inputs for anomalies with a trained model",
        description="Score image files, folders or .npy/.npz arrays, or the rows of a table (CSV, TSV, Parquet) "
                    "for a model trained on a table, with a trained model (reconstruction error, "
                    "or the negative ELBO for VAEs) and label those above the threshold saved with the model as "
                    "anomalies (1). Writes OUT/scores.csv, OUT/detect.json, a score histogram, the most anomalous "
                    "inputs with their per-pixel maps, and with --labels a ROC curve and the AUROC. A model "
                    "without a saved threshold needs --fit NORMAL (normal images whose scores set it; --save "
                    "keeps it in the model folder). For tables: OUT/scores.csv keyed by the id column, "
                    "OUT/top_rows.csv and report.html with the columns that made each top row anomalous; the "
                    "threshold saved at training is used unless --fit or --contamination is given. "
                    "For a model trained on a time series (aekit train --window) "
                    "INPUT is one series (CSV/Parquet): writes OUT/scores.csv (per timestamp), OUT/intervals.csv "
                    "and .json (anomaly intervals), OUT/threshold.json and OUT/series.png.",
        epilog="examples:\n"
               "  aekit detect runs/conv digits/ -o detect/ --fit normal/ --save\n"
               "  aekit detect runs/series series.csv -o detect/     # a series model: intervals, scores, plot\n"
               "  aekit detect runs/conv test.npz -o detect/ --normal-classes 3\n"
               "  aekit detect runs/conv in/ -o detect/ --labels truth.csv\n"
               "  aekit detect runs/rows new_rows.csv -o detect/ --id-column id",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_run(p)
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="image files, folders or .npy/.npz arrays; or one table file for a table model")
    p.add_argument("-o", "--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--labels", metavar="FILE",
                   help="true labels, one 0 (normal) / 1 (anomaly) per input: .npy, or text/CSV with one per line")
    p.add_argument("--normal-classes", metavar="C[,C...]",
                   help="take the inputs' own class labels (folders of classes, arrays with y) as truth: "
                        "these classes are normal, all others anomalies")
    p.add_argument("--fit", nargs="+", metavar="NORMAL", help="normal images (or rows) that set the threshold")
    p.add_argument("--id-column", metavar="COL", help="tables: the id column (default: the one trained with)")
    p.add_argument("--label-column", metavar="COL",
                   help="tables: a column of 0/1 labels (or see --normal-classes) to measure the detection")
    p.add_argument("--score", default=None, choices=("auto", "mse", "bce", "ssim", "elbo", "mae"),
                   help="score with --fit (default auto: elbo for VAEs, mse otherwise; series: mae or mse)")
    p.add_argument("--threshold", default=None, choices=("max", "percentile", "contamination"),
                   help="series, with --fit: the normal series' max score (default), a percentile, or "
                        "--contamination")
    p.add_argument("--fold", default=None, choices=("min", "window", "step"),
                   help="series, with --fit: a sample's score is the smallest (min, default) or the mean (window) "
                        "error of the windows covering it, or its own error in each (step)")
    p.add_argument("--min-length", type=int, default=None, metavar="N",
                   help="series, with --fit: drop anomaly intervals shorter than N samples")
    p.add_argument("--merge-gap", type=int, default=None, metavar="N",
                   help="series, with --fit: merge anomaly intervals at most N samples apart")
    p.add_argument("--contamination", type=float,
                   help="with --fit: expected share of anomalies in NORMAL; for tables without --fit, the "
                        "threshold is this upper quantile of the inputs' own scores")
    p.add_argument("--percentile", type=float, default=99.0,
                   help="with --fit and no --contamination: threshold percentile of the normal scores (default 99)")
    p.add_argument("--save", action="store_true", help="with --fit: save the threshold into the model folder")
    p.add_argument("--top", type=int, default=16, help="most anomalous inputs to picture (default 16)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    add_device(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..model import load_model
    from ..runs.detect import detect_files

    model = load_model(args.run, device=args.device)
    if model.preprocessing.kind == "series":
        return _run_series(model, args)
    for flag, value in (("--threshold", args.threshold), ("--fold", args.fold), ("--min-length", args.min_length),
                        ("--merge-gap", args.merge_gap)):
        if value is not None:
            raise AekitError(f"{flag} is for series models; {args.run} takes {model.preprocessing.describe_input()}")
    if model.preprocessing.kind == "table":
        return _run_table(model, args)
    result = detect_files(model, args.inputs, args.out, labels=args.labels, normal_classes=args.normal_classes,
                          fit=args.fit, score=args.score, contamination=args.contamination,
                          percentile=args.percentile, save=args.save, top=args.top)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{result['n']} input(s), score {result['score']}, threshold {result['threshold']:.6g}: "
          f"{result['n_anomalies']} flagged as anomalies")
    if "auroc" in result:
        print(f"AUROC {result['auroc']:.4f} ({result['n_true_anomalies']} true anomalies)")
    print(f"wrote scores, histogram and pictures to {args.out}")
    return 0


def _run_series(model, args: argparse.Namespace) -> int:
    from ..runs.series import detect_series

    if len(args.inputs) != 1 or (args.fit and len(args.fit) != 1):
        raise AekitError("a series model scores one series: aekit detect RUN SERIES.csv -o OUT [--fit NORMAL.csv]")
    for flag, value in (("--labels", args.labels), ("--normal-classes", args.normal_classes)):
        if value:
            raise AekitError(f"{flag} is for image and table models; a series model finds intervals in one series")
    result = detect_series(model, args.inputs[0], args.out, fit=args.fit[0] if args.fit else None, save=args.save,
                           score=args.score if args.score not in (None, "auto") else None, threshold=args.threshold,
                           percentile=args.percentile, contamination=args.contamination, fold=args.fold,
                           min_length=args.min_length, merge_gap=args.merge_gap)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{result['n']} samples ({result['layout']}), score {result['score']}, threshold {result['threshold']:.6g}: "
          f"{result['n_intervals']} anomaly interval(s), {result['n_flagged']} samples flagged")
    print(f"wrote scores.csv, intervals.csv/.json, threshold.json and series.png to {args.out}")
    return 0


def _run_table(model, args: argparse.Namespace) -> int:
    from ..errors import AekitError
    from ..runs.tables import detect_table

    if len(args.inputs) != 1 or (args.fit and len(args.fit) != 1):
        raise AekitError("a table model scores one table file at a time (and --fit takes one file of normal rows)")
    if args.labels:
        raise AekitError("for tables, name the labels' column with --label-column instead of --labels")
    result = detect_table(model, args.inputs[0], args.out, id_column=args.id_column, label_column=args.label_column,
                          normal_classes=args.normal_classes, fit=args.fit[0] if args.fit else None,
                          score=args.score, contamination=args.contamination, percentile=args.percentile,
                          save=args.save, top=args.top)
    if args.json:
        print(json.dumps(result))
        return 0
    threshold = "no threshold" if result["threshold"] is None else f"threshold {result['threshold']:.6g}"
    flagged = "" if result["n_anomalies"] is None else f": {result['n_anomalies']} flagged as anomalies"
    print(f"{result['n']} row(s), score {result['score']}, {threshold} ({result['threshold_source']}){flagged}")
    if "auroc" in result:
        print(f"AUROC {result['auroc']:.4f}, average precision {result['average_precision']:.4f} "
              f"({result['n_true_anomalies']} true anomalies)")
    for row in result["most_anomalous"][:3]:
        columns = ", ".join(f"{c['column']}={c['value']} (expected {c['expected']}, {c['share']:.0%})"
                            for c in row["columns"])
        print(f"  #{row['rank']} {row['id']}  score {row['score']:.4g}: {columns}")
    print(f"wrote scores.csv, top_rows.csv, histogram and report.html to {args.out}")
    return 0
