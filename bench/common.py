"""Shared by the benchmark scripts: machine facts, markdown tables, result files."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
RUNS = Path(__file__).resolve().parent / "runs"  # trained models (ignored by git; rebuilt by --train)
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))  # run from a checkout without installing


def run_dir(name: str) -> Path:
    """Where the bench keeps the trained model called ``name``."""
    return RUNS / "".join(c if c.isalnum() else "_" for c in name)


def trained_run(out: Path, preset: str, *, retrain: bool = False, log=print, **train_args: Any):
    """The model trained by ``aekit.train(preset, out=out, **train_args)``, without redoing work.

    A finished run is reused, an interrupted one (a checkpoint, no "finished" status) is resumed
    from its checkpoint, anything else is trained afresh; ``retrain`` always trains afresh.
    Benchmarks train for hours on 2 cores, so a killed bench must not lose them.
    """
    import aekit
    from aekit.runs.folder import read_run_file

    out = Path(out)
    if not retrain and (out / "run.json").exists():
        if read_run_file(out)["status"].get("state") == "finished" and (out / "model" / "config.json").exists():
            return aekit.load(out)
        if (out / "checkpoints" / "last.safetensors").exists():
            if log:
                log(f"resuming {out}")
            keep = {k: train_args[k] for k in ("threads", "data_dir", "evaluate") if k in train_args}
            return aekit.train(out=out, resume=True, progress=False, **keep)
    if log:
        log(f"training {preset} {train_args} -> {out}")
    return aekit.train(preset, out=out, overwrite=True, progress=False, **train_args)


def rss_mb() -> float:
    """This process's resident memory now, in MB (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def reset_peak_rss() -> None:
    """Restart the peak that ``ru_maxrss`` reports from the current RSS (Linux >= 4.0)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def default_data_dir() -> str:
    return os.environ.get("AEKIT_DATA") or str(REPO.parent / "shared" / "data")


def machine() -> dict[str, Any]:
    import numpy
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }


def markdown_table(rows: list[dict[str, Any]], columns: list[str] | None = None, floatfmt: str = ".4g") -> str:
    columns = columns or list(dict.fromkeys(k for r in rows for k in r))

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return format(v, floatfmt)
        return "" if v is None else str(v).replace("|", "\\|")  # a bare | would split the cell

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def write_results(name: str, payload: dict[str, Any], table: str, notes: str = "") -> None:
    """Write ``results/<name>.json`` and ``results/<name>.md`` and print the table.

    ``table`` may be a whole markdown document with its own title; ``notes`` adds a title and text above it.
    """
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": name, "machine": machine(), **payload}
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n")
    head = f"# {name}\n\n{notes.strip()}\n\n" if notes else ""
    text = f"{head}{table.rstrip()}\n\nMachine: {json.dumps(payload['machine'])}\n"
    (RESULTS / f"{name}.md").write_text(text)
    print(table)
    print(f"\nwrote {RESULTS / (name + '.json')} and {RESULTS / (name + '.md')}")
