"""Fig. 4: k-means clusters of one image's latent features for increasing k, per autoencoder.

Run: `python -m analysis.fig_kmeans` (DVC stage `fig_kmeans`). Reads `runs/compress/NAME/maps.npz` (k-means maps
on the latent grid for every k in `analysis.compress.kmeans_ks`, cluster ids renumbered by size so colours line
up) and writes `<results>/figures/kmeans_maps.{png,pdf}`: per compression set, the image and its ground-truth mask,
then one row per autoencoder with its maps for each k. The paper draws SD-VAE (top) against VMAE (bottom): a
hierarchical encoder splits object -> parts -> patterns as k grows, an over-compressed one stops at the object.

The image is picked deterministically: the stored example whose mask has the most distinct labels (first on
ties), so the maps have parts to separate.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from analysis import results, style
from analysis.panels import mask_colours, pick_segmented, show_map
from bench.config import Params, load_params
from bench.layout import figures_dir
from bench.outputs import save_figures

NAME = "kmeans_maps"


def make_fig_kmeans(runs: str | Path, items: list[str], levels: dict[str, str], ks: tuple[int, ...]) -> Figure:
    """k-means maps per autoencoder (rows) and k (columns), one panel per compression set.

    Args:
        runs: the stage-output root (`paths.runs`).
        items: autoencoder items (compress@ITEM must exist).
        levels: compression set -> mask level, `analysis.compress.sets`.
        ks: cluster counts, `analysis.compress.kmeans_ks`.

    Returns:
        The figure: per set a subfigure of len(items) x (1 + len(ks)) axes; column 0 holds the image and its mask.
    """
    maps = {item: results.maps(runs, item) for item in items}
    cols = 1 + len(ks)
    fig = Figure(figsize=(1.45 * cols * len(levels) + 0.8, 1.45 * len(items) + 1.0), layout="constrained")
    subfigs = np.atleast_1d(fig.subfigures(1, len(levels)))
    for sub, (dataset, level) in zip(subfigs, levels.items(), strict=True):
        first = maps[items[0]]
        if f"{dataset}/masks" not in first:
            raise ValueError(f"compress@{items[0]} has no maps for '{dataset}': re-run the compress stage")
        index = pick_segmented(first[f"{dataset}/masks"])
        image, mask = first[f"{dataset}/images"][index], first[f"{dataset}/masks"][index]
        axes = sub.subplots(len(items), cols, squeeze=False)
        for r, item in enumerate(items):
            for c, k in enumerate(ks, start=1):
                key = f"{dataset}/kmeans{k}"
                if key not in maps[item]:
                    raise ValueError(f"compress@{item} has no k = {k} map: is {k} in analysis.compress.kmeans_ks?")
                show_map(axes[r][c], image, maps[item][key][index], k, style.cluster_cmap(k))
                if r == 0:
                    axes[r][c].set_title(f"k = {k}", fontsize=9)
            axes[r][1].set_ylabel(style.label(item), fontsize=9, color=style.colour(item))
            axes[r][0].axis("off")
        axes[0][0].imshow(image, interpolation="nearest")
        axes[0][0].set_title("image", fontsize=9)
        if len(items) > 1:
            n_labels = int(mask.max()) + 1
            show_map(axes[1][0], image, np.ma.masked_less(mask, 0), n_labels, mask_colours(max(n_labels, 1)))
            axes[1][0].axis("on")
            axes[1][0].set_title(f"{level} mask", fontsize=9)
        sub.suptitle(style.level_title(dataset, level), fontsize=10)
    fig.suptitle("Fig. 4: k-means of latent features (clusters numbered by size)", fontsize=11)
    return fig


def main(params: Params) -> None:
    items = style.figure_items(params.autoencoders)
    cfg = params.analysis.compress
    fig = make_fig_kmeans(params.paths.runs, items, cfg.sets, cfg.kmeans_ks)
    out = figures_dir(params.paths)
    save_figures(fig, out / NAME)


if __name__ == "__main__":
    main(load_params())
