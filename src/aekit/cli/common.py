"""Arguments several verbs share."""

from __future__ import annotations

import argparse


def add_run(parser: argparse.ArgumentParser, what: str = "") -> None:
    """The positional RUN every verb that uses a trained model takes."""
    parser.add_argument("run", metavar="RUN", help=f"run folder (or model folder){what}")


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", metavar="DIR",
                        help="folder holding datasets (default: $AEKIT_DATA, else ~/.cache/aekit/data)")


def add_device(parser: argparse.ArgumentParser, default: str = "cpu") -> None:
    parser.add_argument("--device", default=default, metavar="DEV",
                        help=f"auto, cpu, cuda, cuda:N (default: {default})")


def parse_key_values(pairs: list[str] | None) -> dict[str, str]:
    from ..errors import AekitError

    out: dict[str, str] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise AekitError(f"--set expects KEY=VALUE (e.g. model.hidden=512,256); got {pair!r}")
        key, value = pair.split("=", 1)
        out[key.strip()] = value.strip()
    return out
