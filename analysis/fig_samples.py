"""Figs 1 and 9: generated samples of the DiT trained on each autoencoder's latents, one figure per dataset.

Run: `python -m analysis.fig_samples DATASET` (DVC stage `fig_samples@DATASET`, one per `diffusion.datasets` key).
Reads `runs/sample/NAME/DATASET/samples.npy` of every paper autoencoder with a DiT on DATASET and writes
`<results>/figures/samples_DATASET.{png,pdf}`: one row per autoencoder, its first `data.preview_count` samples
side by side. The paper shows LDMAE's samples only (Fig. 1: ImageNet-1K, Fig. 9: CelebA-HQ); every autoencoder is
drawn here so the rows can be compared.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from analysis import results, style
from analysis.paper import ANALOGUE
from bench.config import Params, load_params
from bench.layout import figures_dir
from bench.outputs import save_figures

GAP = 2  # white pixels between tiles
TILE_IN, MAX_WIDTH_IN = 1.25, 13.0  # inches per sample, and at most per row
PAPER_FIGURE = {"imagenet": "Fig. 1", "celebahq": "Fig. 9"}  # the paper's sample figure of each analogue


def tile_row(images: np.ndarray, gap: int = GAP) -> np.ndarray:
    """Images side by side with white gaps.

    Args:
        images: uint8 (N, H, W, 3).
        gap: pixels of white between neighbours.

    Returns:
        uint8 (H, N * W + (N - 1) * gap, 3).
    """
    n, h, w, _ = images.shape
    row = np.full((h, n * w + (n - 1) * gap, 3), 255, np.uint8)
    for i, image in enumerate(images):
        row[:, i * (w + gap) : i * (w + gap) + w] = image
    return row


def make_fig_samples(runs: str | Path, items: list[str], dataset: str, count: int, kind: str) -> Figure:
    """A row of `count` generated samples per autoencoder.

    Args:
        runs: the stage-output root (`paths.runs`).
        items: autoencoder items with a DiT on `dataset` (sample@ITEM must exist).
        dataset: the generation dataset.
        count: samples per row (fewer if an item drew fewer).
        kind: the dataset's kind (`data.sets`), for the title (Fig. 1: ImageNet-1K analogue, Fig. 9: CelebA-HQ).

    Returns:
        The figure: one image axes per item.
    """
    if not items:
        raise ValueError(f"no autoencoder has a DiT on '{dataset}': add it to diffusion.items")
    rows = [results.samples(runs, item, dataset)[:count] for item in items]
    n = min(len(r) for r in rows)
    rows = [tile_row(r[:n]) for r in rows]
    height, width = rows[0].shape[:2]
    strip = min(MAX_WIDTH_IN, TILE_IN * n)  # inches of one row of tiles
    fig = Figure(figsize=(strip + 1.2, (strip * height / width + 0.15) * len(rows) + 0.5), layout="constrained")
    axes = fig.subplots(len(rows), 1, squeeze=False)[:, 0]
    for ax, item, row in zip(axes, items, rows, strict=True):
        ax.imshow(row, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_ylabel(style.label(item), rotation=0, ha="right", va="center", fontsize=10, color=style.colour(item))
    figure = PAPER_FIGURE.get(ANALOGUE.get(kind, ""), "Figs 1 / 9")
    title = style.dataset_title(dataset, kind)
    fig.suptitle(f"{figure}: samples of the DiT on each autoencoder's latents, {title}", fontsize=11)
    return fig


def sampled_items(params: Params, dataset: str) -> list[str]:
    """The paper's autoencoders with a DiT on `dataset` (`diffusion.items`), in the paper's order."""
    if dataset not in params.diffusion.datasets:
        raise ValueError(f"'{dataset}' is not a generation dataset; choose one of {list(params.diffusion.datasets)}")
    return [i for i in style.figure_items(params.autoencoders) if dataset in params.diffusion.items.get(i, ())]


def main(params: Params, dataset: str) -> None:
    items = sampled_items(params, dataset)
    kind = params.data.sets[dataset].kind
    fig = make_fig_samples(params.paths.runs, items, dataset, params.data.preview_count, kind)
    out = figures_dir(params.paths)
    save_figures(fig, out / f"samples_{dataset}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m analysis.fig_samples DATASET   (a key of diffusion.datasets)")
    main(load_params(), sys.argv[1])
