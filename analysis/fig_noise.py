"""Fig. 6: robustness of each autoencoder's decoder to noise added in its latent space.

Run: `python -m analysis.fig_noise` (DVC stage `fig_noise`). Reads the `noise_curve` of every
`runs/eval_ae/NAME/metrics.json` (z' = mu + eps * n * std_c, eps from `metrics.noise_eps`) and writes
`<results>/figures/noise_curves.{png,pdf}`: one row per dataset, columns rFD (the paper's panel), PSNR and the
perceptual distance against eps. Deterministic autoencoders (AE, DAE) are dashed, probabilistic ones solid, as in
the paper's caption.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from analysis import results, style
from bench.config import Params, load_params
from bench.layout import figures_dir
from bench.outputs import save_figures

NAME = "noise_curves"


def make_fig_noise(runs: str | Path, items: list[str], kinds: dict[str, str]) -> Figure:
    """rFD, PSNR and perceptual distance of reconstructions from perturbed latents, against eps.

    Args:
        runs: the stage-output root (`paths.runs`).
        items: autoencoder items to draw (eval_ae@ITEM must exist), in legend order.
        kinds: dataset name -> dataset kind (`data.sets`), for the paper-analogue panel titles.

    Returns:
        The figure: (datasets x 3) axes, x = eps, y = the labelled metric.
    """
    curves = results.noise_curves(runs, items)
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
            ax.set_xlabel("perturbation ratio ε")
            ax.set_ylabel(style.axis_label(column))
            ax.grid(alpha=0.3)
        row[0].set_title(style.dataset_title(dataset, kinds.get(dataset, "")), loc="left", fontsize=10)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=len(items), frameon=False)
    fig.suptitle("Fig. 6: reconstruction from noisy latents (dashed: deterministic, solid: probabilistic)")
    return fig


def main(params: Params) -> None:
    items = style.figure_items(params.autoencoders.names)
    kinds = style.dataset_kinds(params.data.sets)
    fig = make_fig_noise(params.paths.runs, items, kinds)
    out = figures_dir(params.paths)
    save_figures(fig, out / NAME)


if __name__ == "__main__":
    main(load_params())
