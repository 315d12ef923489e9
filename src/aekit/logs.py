"""Where aekit's log lines go: the ``aekit`` logger, shown as plain lines by the CLI.

The library only logs (``logging.getLogger(__name__)``); it never configures logging for a
program that imports it. The CLI and the DDP worker processes it starts call
:func:`console_logging` so epoch lines, tables and paths print as they always did.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

ROOT = "aekit"


@contextlib.contextmanager
def console_logging(level: int = logging.INFO) -> Iterator[None]:
    """Print ``aekit`` log records at ``level`` and above to stdout, message only, while inside."""
    logger = logging.getLogger(ROOT)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    saved = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False  # the program's own root handlers would print every line twice
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


def console_level() -> int | None:
    """The level :func:`console_logging` is active at, or ``None`` (for handing on to subprocesses)."""
    logger = logging.getLogger(ROOT)
    return logger.level if any(isinstance(h, logging.StreamHandler) for h in logger.handlers) else None
