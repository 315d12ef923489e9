"""``aekit summary``: layers, output shapes, parameter counts, compression factor."""

from __future__ import annotations

import argparse
import json

from .common import add_run


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("summary", help="print layers, shapes, parameter counts and the compression factor",
                       description="Describe a saved model: every layer with its output shape and parameter "
                                   "count, the chosen hidden sizes, and how much smaller the code is than the input.")
    add_run(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..model import load_model
    from ..models.summary import summary_dict, summary_text

    model = load_model(args.run)
    print(json.dumps(summary_dict(model)) if args.json else summary_text(model))
    return 0
