"""Fig. 8: each autoencoder's latents drawn as images (PCA to RGB), titled with their relative sigma^2.

Run: `python -m analysis.fig_latents` (DVC stage `fig_latents`). Reads `runs/compress/NAME/maps.npz` (per-image PCA
of the latent features to 3 channels in [0, 1]), the raw-pixel reference `runs/compress_raw/maps.npz`, and the
sigma^2 of both stages' `metrics.json`, and writes `<results>/figures/latent_maps.{png,pdf}`: per compression set
the image, its ground-truth mask, the PCA map of the raw pixel patches and every autoencoder's. "Relative sigma^2"
is the set-level sigma^2 divided by the raw pixels' (below 1 = it compresses), the paper's "relative compression
degrees". Similar colours mean similar features: a dispersed (VAE-like) map is noisy within a part, an entangled
one paints different parts alike. The image is the example with the most mask labels, as in Fig. 4.
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

NAME = "latent_maps"


def make_fig_latents(runs: str | Path, items: list[str], levels: dict[str, str]) -> Figure:
    """Image, mask and per-autoencoder PCA-RGB latent maps, one row per compression set.

    Args:
        runs: the stage-output root (`paths.runs`).
        items: autoencoder items (compress@ITEM and compress_raw, metrics and maps, must exist).
        levels: compression set -> mask level, `analysis.compress.sets`.

    Returns:
        The figure: per set a subfigure of 1 x (3 + len(items)) axes: image, mask, raw pixels, each item.
    """
    maps = {item: results.maps(runs, item) for item in [*items, "raw"]}
    comp = results.compression(runs, items, with_raw=True).set_index(["dataset", "item"])["sigma2"]
    cols = 3 + len(items)
    fig = Figure(figsize=(1.6 * cols, 2.15 * len(levels) + 0.4), layout="constrained")
    subfigs = np.atleast_1d(fig.subfigures(len(levels), 1))
    for letter, sub, (dataset, level) in zip("abcdefgh", subfigs, levels.items(), strict=False):
        first = maps[items[0]]
        if f"{dataset}/pca" not in first:
            raise ValueError(f"compress@{items[0]} has no maps for '{dataset}': re-run the compress stage")
        index = pick_segmented(first[f"{dataset}/masks"])
        image, mask = first[f"{dataset}/images"][index], first[f"{dataset}/masks"][index]
        axes = sub.subplots(1, cols, squeeze=False)[0]
        axes[0].imshow(image, interpolation="nearest")
        axes[0].set_title("image", fontsize=9)
        n_labels = max(int(mask.max()) + 1, 1)
        show_map(axes[1], image, np.ma.masked_less(mask, 0), n_labels, mask_colours(n_labels))
        axes[1].set_title(f"{level} mask", fontsize=9)
        raw = comp.loc[(dataset, "raw")]
        h, w = image.shape[:2]
        for ax, item in zip(axes[2:], ["raw", *items], strict=True):
            ax.imshow(maps[item][f"{dataset}/pca"][index], interpolation="nearest", extent=(0, w, h, 0))
            relative = comp.loc[(dataset, item)] / raw
            ax.set_title(f"{style.label(item)}\nσ² = {relative:.2f} × raw", fontsize=9, color=style.colour(item))
        for ax in axes:
            ax.set_xticks([])
            ax.set_yticks([])
        sub.suptitle(f"({letter}) {style.level_title(dataset, level)}", fontsize=10)
    fig.suptitle("Fig. 8: latents as PCA-RGB images, with σ² relative to raw pixels", fontsize=11)
    return fig


def main(params: Params) -> None:
    items = style.figure_items(params.autoencoders)
    fig = make_fig_latents(params.paths.runs, items, params.analysis.compress.sets)
    out = figures_dir(params.paths)
    save_figures(fig, out / NAME)


if __name__ == "__main__":
    main(load_params())
