"""The report's sections beyond the metrics: the code, likelihoods, samples, interpolations, maps.

Each section is a function ``(report, model, result, test, out_dir) -> None`` that writes its
pictures into ``out_dir`` and adds them to ``report``; :data:`aekit.runs.report.SECTIONS` lists
them in order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import NotFittedError
from ..model import Model
from ..tasks.generate import get_sampler, has_prior
from ..tasks.interpolate import METHODS, pick_pair
from ..tasks.latent_maps import TSNE_POINTS, project, umap_available
from ..tasks.likelihood import ACTIVE_KL_HINT
from ..viz import save_png
from ..viz.latents import plot_code_histogram, plot_kl_per_dim, plot_unit_rates
from .pictures import manifold, traversal, write_map, write_samples, write_strip


def latent_section(report: Any, model: Any, result: dict[str, Any], test: Any, out_dir: str | Path) -> None:
    """``EXTRA_SECTIONS`` hook: the code histogram, per-unit rates and a table in the report."""
    stats = result.get("latent")
    if not stats:
        return
    out_dir = Path(out_dir)
    report.heading("Latent code")
    report.table({
        "code size": stats["code_size"],
        "mean |z|": stats["mean_abs_activation"],
        "mean z": stats["mean_activation"],
        "mean activation rate": stats["mean_activation_rate"],
        "dead units": stats["dead_units"],
        "active threshold |z| >": stats["threshold"],
    }, caption="on the test set; a unit is active on an image when |z| exceeds 1% of the largest |z|")
    report.image(plot_code_histogram(stats, out_dir / "code_histogram.png"), caption="code values",
                 pixelated=False)
    report.image(plot_unit_rates(stats, out_dir / "unit_activation.png"),
                 caption="activation rate per unit; dead units have rate 0 or never change", pixelated=False)


def likelihood_section(report: Any, model: Model, result: dict[str, Any], test: Any, out_dir: Any) -> None:
    """``EXTRA_SECTIONS`` entry: the likelihood table, KL per dimension and any collapse warning."""
    lk = result.get("likelihood")
    if not lk:
        return

    report.heading("Likelihood")
    row = {"ELBO": lk["elbo"], "−log p(x|z)": lk["recon"], "KL": lk["kl"]}
    if "nll" in lk:
        row[f"NLL (K={lk['nll_k']}, {lk['nll_n']} images)"] = lk["nll"]
    row["active units"] = f"{lk['active_units']} / {lk['latent_dim']}"
    report.table([row], caption="nats per image on the test set"
                 + (" (binarised once with a fixed seed)" if lk["binarized"] != "none" else "")
                 + f"; {lk['likelihood']} likelihood; NLL by importance sampling (Burda et al. 2016)")
    if lk["collapse"]:
        report.text(f"**Warning:** {lk['collapse']}")
    path = Path(out_dir) / "kl_per_dim.png"
    plot_kl_per_dim(lk["kl_per_dim"], path, threshold=ACTIVE_KL_HINT, title="KL per latent dimension")
    report.image(path, caption="mean KL(q(z_u|x) ‖ N(0,1)) of each latent dimension over the test set, largest "
                               f"first (grey: below {ACTIVE_KL_HINT} nats); {lk['active_units']} of "
                               f"{lk['latent_dim']} dimensions are active", pixelated=False)


# --------------------------------------------------------------------- report
def samples_section(report: Any, model: Model, result: dict[str, Any], test: Any, out_dir: Any) -> None:
    """``EXTRA_SECTIONS`` entry: sample grids at temperature 1 and 0.7."""
    report.heading("Samples")
    try:
        source = get_sampler(model)
    except NotFittedError as err:
        report.text(f"No samples: {err}")
        return
    what = ("the prior N(0, I)" if source.kind == "prior" else
            f"a {source.n_components}-component Gaussian mixture fitted on {source.n_fit_} training codes")
    for temperature, name in ((1.0, "samples.png"), (0.7, "samples_t07.png")):
        path = write_samples(model, Path(out_dir) / name, n=64, temperature=temperature, ncols=16)
        report.image(path, caption=f"64 decoded samples of {what}, temperature {temperature:g}")


def interpolation_section(report: Any, model: Model, result: dict[str, Any], test: Any, out_dir: Any) -> None:
    """``EXTRA_SECTIONS`` entry: linear and spherical interpolation between two test images."""
    if len(test) < 2:
        return
    i, j = pick_pair(test)
    path = write_strip(model, test.images[i], test.images[j], Path(out_dir) / "interpolation.png", steps=10,
                       methods=METHODS)
    report.heading("Interpolation")
    report.image(path, caption=f"test images {i} and {j} at the ends; between them 10 decoded codes on the "
                               "straight line (linear) and on the great circle (slerp) between their codes")


# --------------------------------------------------------------------- report
def latent_map_section(report: Any, model: Model, result: dict[str, Any], test: Any, out_dir: Any) -> None:
    """``EXTRA_SECTIONS`` entry: manifold (2-D codes) or projections, and traversals."""

    out_dir = Path(out_dir)
    codes = np.asarray(model.encode(test.images))
    labels = test.labels
    what = "posterior means" if has_prior(model) else "codes"
    report.heading("Latent space")
    if model.latent_dim == 2:
        path = save_png(out_dir / "manifold.png", manifold(model, 20, codes=codes))
        layout = ("prior quantiles 5%–95% on both axes" if has_prior(model)
                  else "the 1st–99th percentiles of the test codes")
        report.image(path, caption=f"decoded 20×20 grid of 2-D codes spanning {layout}; z₁ left to right, "
                                   "z₂ bottom to top")
        write_map(codes, out_dir / "latent_map.png", labels, title=f"test {what}")
        report.image(out_dir / "latent_map.png", caption=f"test-set {what}, coloured by label", pixelated=False)
    else:
        write_map(project(codes, "pca"), out_dir / "latent_pca.png", labels, title=f"PCA of test {what}")
        report.image(out_dir / "latent_pca.png", caption=f"test-set {what} projected on their first two "
                                                          "principal components, coloured by label", pixelated=False)
        rng = np.random.default_rng(0)
        idx = np.sort(rng.choice(len(codes), min(TSNE_POINTS, len(codes)), replace=False))
        sub_labels = labels[idx] if labels is not None else None
        for method in ("tsne", "umap") if umap_available() else ("tsne",):
            if len(idx) < 5:
                break
            name = {"tsne": "t-SNE", "umap": "UMAP"}[method]
            write_map(project(codes[idx], method), out_dir / f"latent_{method}.png", sub_labels,
                      title=f"{name} of test {what}")
            report.image(out_dir / f"latent_{method}.png", caption=f"{name} of {len(idx)} test-set {what} "
                                                                   "(a random subset), coloured by label",
                         pixelated=False)
    picture, order = traversal(model, codes=codes)
    save_png(out_dir / "traversal.png", picture)
    sweep = "from −3 to 3 (prior standard deviations)" if has_prior(model) else "over ±3 standard deviations"
    rest = "prior mean" if has_prior(model) else "mean code"
    report.image(out_dir / "traversal.png", caption=f"latent traversal: each row sweeps one dimension {sweep} "
                                                    f"with the others held at the {rest}; rows are the most "
                                                    "varied dimensions")
