"""Rate–distortion on the MNIST test set: aekit's learned codec against PCA, JPEG, WebP and PNG.

Bits per pixel come from real file sizes: every method writes actual bytes (``.aek`` files,
Pillow's JPEG / WebP / PNG encoders), one file per 28×28 image and one file per 100 images (an
``.aek`` archive, or a 10×10 sprite for the classic codecs, where container overhead is
shared). PSNR is that of the mean MSE over the images, intensities in [0, 1].

- aekit: the ``codec`` preset (quantised code with a learned factorised density, MSE + rate·bpp)
  trained at several rate weights; each model is coded at quantisation steps 0.5, 1 and 2;
- PCA: coefficients quantised with a step and range-coded with the same per-dimension tables and
  file container as aekit (so the comparison isolates the transform);
- JPEG (Pillow, ``optimize=True``) over qualities, WebP lossy (``method=6``) over qualities,
  WebP lossless, PNG (``optimize=True``).

The Bjøntegaard delta rate (cubic fit of log rate against PSNR, averaged over the overlapping
PSNR range) and the rate ratio at equal PSNR between 20 and 24 dB (interpolated) compare aekit
with WebP and JPEG; encode and decode speeds are images per second, single-threaded, measured in
the same run::

    python bench/codec_mnist.py --train            # train the rate points, then measure
    python bench/codec_mnist.py                    # measure with the trained models
"""

from __future__ import annotations

import argparse
import io
import time

import numpy as np

from common import default_data_dir, markdown_table, run_dir, write_results

RATES = (0.03, 0.01, 0.003)
STEPS = (0.5, 1.0, 2.0)
JPEG_QUALITIES = (1, 3, 5, 10, 20, 30, 50, 75, 90)
WEBP_QUALITIES = (0, 5, 10, 20, 30, 50, 75, 90)
# PCA: (components, quantisation step of the coefficients of [0, 1] pixels)
PCA_SETTINGS = ((16, 0.5), (32, 0.25), (32, 0.125), (64, 0.25), (64, 0.125), (100, 0.125))
ARCHIVE = 100


def psnr(x: np.ndarray, y: np.ndarray) -> float:
    mse = float(np.mean((x.astype(np.float64) / 255 - y.astype(np.float64) / 255) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1 / mse)


def sprite(images: np.ndarray) -> np.ndarray:
    n, h, w = images.shape
    side = int(np.ceil(np.sqrt(n)))
    canvas = np.zeros((side * h, side * w), np.uint8)
    for i, im in enumerate(images):
        r, c = divmod(i, side)
        canvas[r * h:(r + 1) * h, c * w:(c + 1) * w] = im
    return canvas


def unsprite(canvas: np.ndarray, n: int, h: int, w: int) -> np.ndarray:
    side = canvas.shape[1] // w
    return np.stack([canvas[(i // side) * h:(i // side + 1) * h, (i % side) * w:(i % side + 1) * w]
                     for i in range(n)])


def pillow_codec(fmt: str, **options):
    from PIL import Image

    def encode(image: np.ndarray) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(image, mode="L").save(buf, fmt, **options)
        return buf.getvalue()

    def decode(data: bytes) -> np.ndarray:
        return np.asarray(Image.open(io.BytesIO(data)).convert("L"))

    return encode, decode


def measure_pillow(name: str, images: np.ndarray, fmt: str, **options) -> dict:
    encode, decode = pillow_codec(fmt, **options)
    n, h, w = images.shape
    started = time.perf_counter()
    files = [encode(im) for im in images]
    enc_s = time.perf_counter() - started
    started = time.perf_counter()
    decoded = np.stack([decode(f) for f in files])
    dec_s = time.perf_counter() - started
    sizes = [len(f) for f in files]
    archive_bytes, archive_decoded = 0, []
    for start in range(0, n, ARCHIVE):
        part = images[start:start + ARCHIVE]
        data = encode(sprite(part))
        archive_bytes += len(data)
        archive_decoded.append(unsprite(decode(data), len(part), h, w))
    archive_psnr = psnr(images, np.concatenate(archive_decoded))
    return {"method": name, "bpp_file": 8 * float(np.mean(sizes)) / (h * w), "psnr": psnr(images, decoded),
            "bpp_archive": 8 * archive_bytes / (n * h * w), "psnr_archive": archive_psnr,
            "bytes_file": float(np.mean(sizes)), "encode_img_s": n / enc_s, "decode_img_s": n / dec_s}


def measure_aek(name: str, images: np.ndarray, compress, decompress) -> dict:
    """``compress(batch) -> bytes`` and ``decompress(bytes) -> (N, H, W)`` uint8."""
    n, h, w = images.shape
    started = time.perf_counter()
    files = [compress(images[i:i + 1]) for i in range(n)]
    enc_s = time.perf_counter() - started
    started = time.perf_counter()
    decoded = np.concatenate([decompress(f) for f in files])
    dec_s = time.perf_counter() - started
    archive_bytes, archive_decoded = 0, []
    for start in range(0, n, ARCHIVE):
        data = compress(images[start:start + ARCHIVE])
        archive_bytes += len(data)
        archive_decoded.append(decompress(data))
    archive_decoded = np.concatenate(archive_decoded)  # may differ from per-file in the last bit: batched float math
    sizes = [len(f) for f in files]
    return {"method": name, "bpp_file": 8 * float(np.mean(sizes)) / (h * w), "psnr": psnr(images, decoded),
            "bpp_archive": 8 * archive_bytes / (n * h * w), "psnr_archive": psnr(images, archive_decoded),
            "bytes_file": float(np.mean(sizes)), "encode_img_s": n / enc_s, "decode_img_s": n / dec_s}


# --------------------------------------------------------------------------- comparisons
def hull(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """(rate, psnr) points -> the efficient ones (no other point has lower rate and higher PSNR), by rate."""
    pts = sorted(p for p in points if np.isfinite(p[1]))
    out: list[tuple[float, float]] = []
    for r, q in pts:
        if not out or q > out[-1][1]:
            out.append((r, q))
    return out


def bd_rate(anchor: list[tuple[float, float]], test: list[tuple[float, float]]) -> float | None:
    """Bjøntegaard delta rate (%) of ``test`` against ``anchor``: negative = fewer bits at equal PSNR."""
    a, t = hull(anchor), hull(test)
    if len(a) < 2 or len(t) < 2:
        return None
    lo, hi = max(a[0][1], t[0][1]), min(a[-1][1], t[-1][1])
    if hi <= lo:
        return None

    def integral(points):
        q = np.array([p[1] for p in points])
        r = np.log(np.array([p[0] for p in points]))
        coeffs = np.polyfit(q, r, min(3, len(points) - 1))
        prim = np.polyint(coeffs)
        return (np.polyval(prim, hi) - np.polyval(prim, lo)) / (hi - lo)

    return float((np.exp(integral(t) - integral(a)) - 1) * 100)


def rate_at(points: list[tuple[float, float]], target: float) -> float | None:
    """Rate at PSNR ``target`` by linear interpolation of log rate between hull points."""
    h = hull(points)
    for (r0, q0), (r1, q1) in zip(h, h[1:], strict=False):
        if q0 <= target <= q1:
            f = (target - q0) / (q1 - q0) if q1 > q0 else 0.0
            return float(np.exp(np.log(r0) + f * (np.log(r1) - np.log(r0))))
    return None


def ratios(aek: list[tuple[float, float]], other: list[tuple[float, float]], lo: float = 20.0, hi: float = 24.0):
    """other rate / aekit rate at equal PSNR on a grid in [lo, hi] where both curves reach."""
    out = []
    for target in np.arange(lo, hi + 1e-9, 0.5):
        ra, ro = rate_at(aek, target), rate_at(other, target)
        if ra and ro:
            out.append((float(target), ro / ra))
    return out


def plot(rows: list[dict], path, key: str, title: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.4))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    families: dict[str, list] = {}
    for r in rows:
        families.setdefault(r["family"], []).append((r[f"bpp_{key}"], r["psnr" if key == "file" else "psnr_archive"]))
    for fam, pts in families.items():
        pts = sorted(pts)
        finite = [(b, q) for b, q in pts if np.isfinite(q)]
        lossless = [b for b, q in pts if not np.isfinite(q)]
        if finite:
            ax.plot([b for b, _ in finite], [q for _, q in finite], marker="o", markersize=3, label=fam)
        for b in lossless:
            ax.axvline(b, linestyle=":", color="0.5")
            ax.text(b, 21, f" {fam}\n lossless", fontsize=7, color="0.3")
    ax.axhspan(20, 24, color="0.9", zorder=0)
    ax.set_xscale("log")
    from matplotlib.ticker import NullFormatter

    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("bits per pixel (file sizes)")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", action="store_true", help="train the rate points first")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--limit", type=int, default=None, help="training images (default: all)")
    parser.add_argument("--rates", default=",".join(map(str, RATES)))
    parser.add_argument("--arch", default="mlp", choices=("conv", "mlp"),
                        help="codec networks: mlp (auto hidden sizes; 4x faster to train on CPU) or conv")
    parser.add_argument("--n", type=int, default=10000, help="test images")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data-dir", default=default_data_dir())
    args = parser.parse_args()

    import torch

    import aekit
    from aekit.codec import Codec, CodePrior, fit_codec
    from aekit.codec.container import Header, pack, read_header, unpack
    from aekit.tasks.evaluate import fit_pca, to_unit

    torch.set_num_threads(args.threads)

    splits = aekit.data.load_dataset("mnist", data_dir=args.data_dir, limit=args.limit)
    test = splits.test.images[:args.n]
    gray = test[..., 0]
    rates = [float(r) for r in args.rates.split(",")]
    rows: list[dict] = []

    # ---- aekit
    for rate in rates:
        name = f"codec-{args.arch}-rate{rate:g}"
        out = run_dir(name)
        if args.train:
            overrides = {"rate": rate, "epochs": args.epochs, "threads": args.threads}
            if args.arch == "mlp":
                overrides.update(architecture="mlp", hidden="auto")
            if args.limit:
                overrides["limit"] = args.limit
            model = aekit.train("codec", dataset="mnist", data_dir=args.data_dir, out=out, overwrite=True,
                                progress=False, evaluate=False, **overrides)
            fit_codec(model, splits.train.images, STEPS)
            model.save(out / "model")
        model = aekit.load(out)
        for step in STEPS:
            codec = Codec(model, step)

            def compress(batch, codec=codec):
                return codec.compress(batch)

            def decompress(data, codec=codec):
                return codec.model.decode(codec.decompress_codes(data))[..., 0]

            r = measure_aek(f"aekit λ={rate:g} Δ={step:g}", gray, compress, decompress)
            rows.append({"family": "aekit", **r})
            print(r, flush=True)

    # ---- PCA with quantised coefficients, same tables and container
    train_unit = to_unit(splits.train.images[:20000])
    for components, step in PCA_SETTINGS:
        pca = fit_pca(train_unit, components)
        coeffs = pca.transform(train_unit.reshape(len(train_unit), -1).numpy())
        prior = CodePrior.fit(coeffs, step)

        def compress(batch, pca=pca, prior=prior, step=step):
            c = pca.transform(batch.reshape(len(batch), -1).astype(np.float32) / 255)
            return pack(Header(bytes(6), (1, 28, 28), step, len(batch)), prior.symbols_of(c), prior.pmf)

        def decompress(data, pca=pca, prior=prior):
            header, payload = read_header(data)
            c = prior.codes_of(unpack(data, prior.pmf, header, payload))
            x = pca.inverse_transform(c).clip(0, 1)
            return (x.reshape(-1, 28, 28) * 255 + 0.5).astype(np.uint8)

        r = measure_aek(f"PCA-{components} Δ={step:g}", gray, compress, decompress)
        rows.append({"family": "PCA (quantised, range-coded)", **r})
        print(r, flush=True)

    # ---- classic codecs
    for q in JPEG_QUALITIES:
        rows.append({"family": "JPEG", **measure_pillow(f"JPEG q{q}", gray, "JPEG", quality=q, optimize=True)})
    for q in WEBP_QUALITIES:
        rows.append({"family": "WebP", **measure_pillow(f"WebP q{q}", gray, "WEBP", quality=q, method=6)})
    rows.append({"family": "WebP lossless", **measure_pillow("WebP lossless", gray, "WEBP", lossless=True)})
    rows.append({"family": "PNG", **measure_pillow("PNG", gray, "PNG", optimize=True)})

    # ---- comparisons
    def curve(family: str, key: str):
        psnr_key = "psnr" if key == "file" else "psnr_archive"
        return [(r[f"bpp_{key}"], r[psnr_key]) for r in rows if r["family"] == family]

    summary = {}
    for key in ("file", "archive"):
        aek = curve("aekit", key)
        for other in ("JPEG", "WebP", "PCA (quantised, range-coded)"):
            oc = curve(other, key)
            rr = ratios(aek, oc)
            summary[f"{key}: vs {other}"] = {
                "bd_rate_percent": bd_rate(oc, aek),
                "ratio_at_equal_psnr_20_24": rr,
                "min_ratio": min((x for _, x in rr), default=None),
                "mean_ratio": float(np.mean([x for _, x in rr])) if rr else None,
            }
    from common import RESULTS

    RESULTS.mkdir(parents=True, exist_ok=True)
    plot(rows, RESULTS / "codec_mnist_rd_file.png", "file", "MNIST test, one file per 28×28 image")
    plot(rows, RESULTS / "codec_mnist_rd_archive.png", "archive", f"MNIST test, {ARCHIVE} images per file")

    table_rows = [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items() if k != "family"}
                  for r in rows]
    table = markdown_table(table_rows, ["method", "bytes_file", "bpp_file", "psnr", "bpp_archive", "psnr_archive",
                                        "encode_img_s", "decode_img_s"])
    lines = ["", "| comparison | BD-rate (aekit vs other) | rate ratio other/aekit at equal PSNR 20–24 dB "
             "(min / mean) | PSNR points |", "|---|---|---|---|"]
    for k, v in summary.items():
        bd = "n/a" if v["bd_rate_percent"] is None else f"{v['bd_rate_percent']:.1f} %"
        mn = "n/a" if v["min_ratio"] is None else f"{v['min_ratio']:.2f}× / {v['mean_ratio']:.2f}×"
        pts = ", ".join(f"{t:g}" for t, _ in v["ratio_at_equal_psnr_20_24"]) or "no overlap"
        lines.append(f"| {k} | {bd} | {mn} | {pts} |")
    notes = (f"{len(gray)} MNIST test images. aekit: preset codec ({args.arch}), rate weights {rates}, "
             f"{args.epochs} epochs on {len(splits.train)} training images, {args.threads} thread(s); code tables "
             f"fitted on the training codes; Δ = quantisation step. bpp from real file sizes (.aek includes its "
             "20-byte header + CRC; JPEG/WebP/PNG their own headers). Archive: 100 images per file (.aek archive; "
             "10×10 sprite for the classic codecs). PSNR of the mean MSE. Speeds: images/s, single thread, this "
             "run (aekit per-file encode = network + range coder per image). BD-rate: Bjøntegaard, cubic fit of "
             "log-rate vs PSNR over the overlapping PSNR range; negative = aekit needs fewer bits. "
             "Plots: codec_mnist_rd_file.png, codec_mnist_rd_archive.png.")
    write_results("codec_mnist", {"rows": rows, "summary": summary, "rates": rates, "steps": STEPS,
                                  "epochs": args.epochs, "arch": args.arch, "n": len(gray)},
                  table + "\n" + "\n".join(lines), notes)


if __name__ == "__main__":
    main()
