"""``python -m aekit.train`` / ``torchrun -m aekit.train``: the ``aekit train`` verb as a module.

Under torchrun every process runs this; the trainer joins the process group from the
environment torchrun sets (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ...)::

    torchrun --nproc-per-node 2 -m aekit.train --preset conv --dataset mnist --out runs/conv-ddp
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> int:
    from ..cli import main as cli_main
    from .distributed import shutdown

    code = 0
    try:
        code = cli_main(["train", *(sys.argv[1:] if argv is None else argv)])
    finally:
        shutdown()
    return code


if __name__ == "__main__":
    code = main()
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        os._exit(code)  # skip interpreter teardown, where CPU (gloo) workers can abort
    sys.exit(code)
