"""Shared by the benchmark scripts: where things go, and writing a result as JSON + markdown."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
RUNS = BENCH / "runs"  # trained models (ignored by git; rebuilt by --train)
sys.path.insert(0, str(BENCH.parent / "src"))  # run from a checkout without installing


def run_dir(name: str) -> Path:
    """Where the bench keeps the trained model called ``name``."""
    return RUNS / "".join(c if c.isalnum() else "_" for c in name)


def machine() -> dict[str, Any]:
    import torch

    return {"python": platform.python_version(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "cpus": os.cpu_count(), "cuda": torch.cuda.is_available(), "date": time.strftime("%Y-%m-%d %H:%M")}


def markdown_table(rows: list[dict[str, Any]], columns: list[str] | None = None, floatfmt: str = ".2f") -> str:
    columns = columns or list(dict.fromkeys(k for r in rows for k in r))

    def cell(v: Any) -> str:
        if v is None:
            return ""
        if isinstance(v, float):
            return format(v, floatfmt)
        return str(v).replace("|", "\\|")  # a bare | would split the cell

    lines = ["| " + " | ".join(cell(c) for c in columns) + " |", "|" + "|".join(" --- " for _ in columns) + "|"]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def write_results(name: str, data: dict[str, Any], markdown: str) -> None:
    """Print ``markdown`` and write ``results/<name>.json`` and ``results/<name>.md``."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    data = {"benchmark": name, "machine": machine(), **data}
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(markdown.rstrip() + "\n")
    print(markdown)
    print(f"\nwrote {RESULTS / (name + '.json')} and {RESULTS / (name + '.md')}")
