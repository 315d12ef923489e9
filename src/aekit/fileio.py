"""Crash-safe writes: a reader sees the old file or the new one, never half of one.

Each write goes to a temporary file in the destination folder, is flushed and fsynced, then
renamed over the destination (``os.replace`` is atomic on POSIX and Windows). CSV goes
through the ``csv`` module both ways, so cells holding commas or quotes round-trip.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .errors import AekitError

# mkstemp creates files readable by the owner only; give written files the usual permissions.
_UMASK = os.umask(0)
os.umask(_UMASK)
_FILE_MODE = 0o666 & ~_UMASK


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # Windows cannot open folders; the rename is still atomic there
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, _FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def atomic_write_csv(path: str | os.PathLike, rows: Iterable[Sequence[Any]]) -> None:
    """Write ``rows`` (the header first) as CSV: cells with commas, quotes or newlines are quoted."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    atomic_write_text(path, buf.getvalue())


def read_csv_rows(path: str | os.PathLike) -> list[list[str]]:
    """The rows of a CSV file (``csv`` module quoting), blank lines skipped.

    Raises:
        AekitError: the file is not UTF-8 text or not readable as CSV.
    """
    with open(path, newline="", encoding="utf-8") as f:
        try:
            return [row for row in csv.reader(f) if any(cell.strip() for cell in row)]
        except (csv.Error, UnicodeDecodeError) as err:
            raise AekitError(f"{path} is not a readable CSV file ({err})") from None


def append_line(path: str | os.PathLike, line: str) -> None:
    """Append one line and fsync it (used for ``metrics.jsonl``)."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(line.rstrip("\n") + "\n")
        f.flush()
        os.fsync(f.fileno())


def replace_dir(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Move a fully written folder ``src`` to ``dst``, replacing any folder already there.

    The old folder is first renamed aside, so at every moment ``dst`` is either the complete
    old folder or the complete new one (a crash in between leaves ``dst.old`` to clean up).
    """
    src, dst = Path(src), Path(dst)
    old = dst.with_name(dst.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if dst.exists():
        os.replace(dst, old)
    os.replace(src, dst)
    _fsync_dir(dst.parent)
    if old.exists():
        shutil.rmtree(old)
