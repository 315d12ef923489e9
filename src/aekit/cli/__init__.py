"""The ``aekit`` command: thin argparse verbs over the Python API.

Each verb lives in its own module with ``register(subparsers)`` (adds its parser and sets
``func``). Errors a user can cause print one line to stderr and exit 2; a bug prints a short
note (``AEKIT_DEBUG=1`` shows the traceback) and exits 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .._version import __version__
from ..errors import AekitError
from ..logs import console_logging
from . import (
    compress,
    denoise,
    detect,
    encode,
    evaluate,
    export,
    generate,
    inpaint,
    interpolate,
    likelihood,
    reconstruct,
    serve,
    summary,
    train,
    view,
)

COMMANDS = (train, evaluate, summary, reconstruct, denoise, inpaint, generate, interpolate, likelihood,
            detect, encode, compress, export, serve, view)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aekit",
        description="Autoencoders as real tools: train, evaluate, reconstruct, and more.",
        epilog="Run 'aekit VERB --help' for a verb's options. Datasets are read from --data-dir or "
               "$AEKIT_DATA.",
    )
    parser.add_argument("--version", action="version", version=f"aekit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="VERB", required=True)
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = os.environ.get("AEKIT_DEBUG", "") not in ("", "0")
    try:
        with console_logging():
            return int(args.func(args) or 0)
    except AekitError as err:
        if debug:
            raise
        print(f"aekit {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"aekit {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # a bug, not a user error: say so briefly
        if debug:
            raise
        print(f"aekit {args.command}: internal error: {type(err).__name__}: {err}\n"
              "(set AEKIT_DEBUG=1 to see the traceback, and please report it)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
