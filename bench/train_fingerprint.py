"""Does a change leave training exactly as it was? Train every preset briefly and hash the weights.

    python bench/train_fingerprint.py --tag before      # on the old commit (e.g. in a git worktree)
    python bench/train_fingerprint.py --tag after --compare bench/results/train_fingerprint_before.json

Each preset trains 2 epochs on the first 1,500 MNIST training images (seed 0, 2 threads) through
``aekit.train``; the table lists the last epoch's train and validation loss and a SHA-256 of the
final weights. Equal hashes mean bit-identical training on this machine. A refactor that keeps
every hash changed no numerics; one that changes a hash must say why.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
from pathlib import Path

from common import default_data_dir, markdown_table, write_results

PRESETS = ("dense", "deep", "conv", "denoising", "conv-denoising", "sparse", "contractive", "vae", "conv-vae",
           "codec")


def fingerprint(preset: str, data_dir: str, epochs: int, limit: int) -> dict:
    import aekit

    with tempfile.TemporaryDirectory() as tmp:
        model = aekit.train(preset, dataset="mnist", data_dir=data_dir, out=f"{tmp}/run", epochs=epochs,
                            limit=limit, threads=2, progress=False, evaluate=False)
        digest = hashlib.sha256()
        for name, tensor in sorted(model.module.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().float().cpu().numpy().tobytes())
        last = json.loads((Path(tmp) / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    return {"preset": preset, "train_loss": last["train/loss"], "val_loss": last.get("val/loss"),
            "weights_sha256": digest.hexdigest()[:16]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tag", required=True, help="writes bench/results/train_fingerprint_TAG.{json,md}")
    parser.add_argument("--compare", help="a previous result: report which presets' hashes differ")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--limit", type=int, default=1500)
    parser.add_argument("--data-dir", default=default_data_dir())
    args = parser.parse_args()
    rows = [fingerprint(p, args.data_dir, args.epochs, args.limit) for p in PRESETS]
    if args.compare:
        before = {r["preset"]: r for r in json.loads(Path(args.compare).read_text())["rows"]}
        for row in rows:
            row["same_as_compared"] = before.get(row["preset"], {}).get("weights_sha256") == row["weights_sha256"]
    columns = ["preset", "train_loss", "val_loss", "weights_sha256"] + (["same_as_compared"] if args.compare else [])
    write_results(f"train_fingerprint_{args.tag}", {"epochs": args.epochs, "limit": args.limit,
                                                    "compared_with": args.compare, "rows": rows},
                  markdown_table(rows, columns),
                  notes=f"{args.epochs} epochs on the first {args.limit} MNIST training images per preset, seed 0, "
                        "2 threads; weights_sha256: the final weights' SHA-256 (first 16 hex digits).")


if __name__ == "__main__":
    main()
