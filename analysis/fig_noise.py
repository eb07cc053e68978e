"""Fig. 6: robustness of each autoencoder's decoder to noise added in its latent space.

Run: `python -m analysis.fig_noise` (DVC stage `fig_noise`). Reads the `noise_curve` of every
`runs/eval_ae/NAME/metrics.json` (z' = mu + eps * n * std_c, eps from `metrics.noise_eps`) and writes
`<results>/figures/noise_curves.{png,pdf}`: one row per dataset, columns rFD (the paper's panel), PSNR and the
perceptual distance against eps. Deterministic autoencoders (AE, DAE) are dashed, probabilistic ones solid, as in
the paper's caption. Shaded bands are the confidence intervals of `runs/intervals/intervals.json` (the intervals
stage: paired bootstrap over eval images plus the judge-ensemble spread), drawn for the columns it covers (rFD).

The eps axis is symmetric-log (linear below 0.01, logarithmic above), so the paper's 0.01 ... 0.3 stay readable
beside the suite's larger ratios (up to 2); the part beyond the paper's largest eps is greyed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from analysis import paper, results, style
from bench.config import Params, load_params
from bench.layout import figures_dir
from bench.outputs import save_figures

NAME = "noise_curves"
LINEAR_BELOW = 0.01  # symlog axis: linear up to the paper's smallest non-zero eps, logarithmic above


def make_fig_noise(
    runs: str | Path, items: list[str], kinds: dict[str, str], intervals: Mapping[str, Any] | None = None
) -> Figure:
    """rFD, PSNR and perceptual distance of reconstructions from perturbed latents, against eps.

    Args:
        runs: the stage-output root (`paths.runs`).
        items: autoencoder items to draw (eval_ae@ITEM must exist), in legend order.
        kinds: dataset name -> dataset kind (`data.sets`), for the paper-analogue panel titles.
        intervals: `analysis.results.intervals(runs)`: a shaded band per curve where it holds that column's
            per-eps interval; None draws the curves alone.

    Returns:
        The figure: (datasets x 3) axes, x = eps, y = the labelled metric.
    """
    curves = results.noise_curves(runs, items)
    bands = {}  # (item, dataset, column) -> that curve's per-eps interval rows
    if intervals is not None:
        bands = dict(list(results.interval_frame(intervals, "noise").groupby(["item", "dataset", "column"])))
    datasets = list(dict.fromkeys(curves["dataset"]))
    columns = [results.column(curves, "rfd"), "psnr", results.column(curves, "perceptual")]
    fig = Figure(figsize=(4.2 * len(columns), 3.3 * len(datasets) + 0.6), layout="constrained")
    axes = fig.subplots(len(datasets), len(columns), squeeze=False)
    for row, dataset in zip(axes, datasets, strict=True):
        for ax, column in zip(row, columns, strict=True):
            for item in items:
                curve = curves[(curves["item"] == item) & (curves["dataset"] == dataset)].sort_values("eps")
                ax.plot(
                    curve["eps"],
                    curve[column],
                    color=style.colour(item),
                    ls=style.linestyle(item),
                    marker=style.marker(item),
                    ms=5,
                    lw=1.6,
                    label=style.label(item),
                )
                band = bands.get((item, dataset, column))
                if band is not None:
                    band = band.sort_values("eps")
                    ax.fill_between(band["eps"], band["low"], band["high"], color=style.colour(item), alpha=0.15, lw=0)
            ax.set_xscale("symlog", linthresh=LINEAR_BELOW)
            ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))  # 0.01, not 10^-2
            beyond = max(paper.FIG6_EPS)
            if curves["eps"].max() > beyond:
                ax.axvspan(beyond, curves["eps"].max(), color="0.5", alpha=0.08, lw=0)
            ax.set_xlabel("perturbation ratio ε")
            ax.set_ylabel(style.axis_label(column))
            ax.grid(alpha=0.3)
        row[0].set_title(style.dataset_title(dataset, kinds.get(dataset, "")), loc="left", fontsize=10)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=len(items), frameon=False)
    title = "Fig. 6: reconstruction from noisy latents (dashed: deterministic, solid: probabilistic)"
    if curves["eps"].max() > max(paper.FIG6_EPS):
        title += f"\ngrey: ε beyond the paper's largest ({max(paper.FIG6_EPS):g})"
    if intervals is not None:
        title += f"\nbands: {intervals['level']:.0%} CIs (paired bootstrap over eval images + judge-ensemble spread)"
    fig.suptitle(title)
    return fig


def main(params: Params) -> None:
    items = style.figure_items(params.autoencoders)
    kinds = style.dataset_kinds(params.data.sets)
    fig = make_fig_noise(params.paths.runs, items, kinds, results.intervals(params.paths.runs))
    out = figures_dir(params.paths)
    save_figures(fig, out / NAME)


if __name__ == "__main__":
    main(load_params())
