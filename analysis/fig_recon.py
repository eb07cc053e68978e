"""Fig. 5: one eval image reconstructed by every autoencoder, with a zoomed box on the same region.

Run: `python -m analysis.fig_recon` (DVC stage `fig_recon`). Reads `runs/eval_ae/NAME/examples.npz` (eval images and
their reconstructions) and the set-level rFD of `runs/eval_ae/NAME/metrics.json`, and writes
`<results>/figures/recon_zoom.{png,pdf}`: per dataset, the original and each reconstruction (top) and the boxed
region enlarged (bottom), titled with that image's MSE and the set's rFD, the paper's point being that comparable
pixel errors hide different perceptual detail.

The image and the box are picked deterministically from the original alone: the box (a `ZOOM` fraction of the
image side) is the window of largest summed luminance-gradient magnitude, and the image is the example whose best
window is the most detailed (first on ties), so the zoom lands on texture, where autoencoders differ most.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from analysis import results, style
from bench.config import Params, load_params
from bench.layout import figures_dir
from bench.outputs import save_figures

NAME = "recon_zoom"
ZOOM = 0.3  # box side as a fraction of the image side
BOX_COLOUR = "#FFD400"


def detail_box(image: np.ndarray, side: int) -> tuple[int, int, float]:
    """The `side` x `side` window with the largest summed gradient magnitude (first in raster order on ties).

    Args:
        image: uint8 (H, W, 3).
        side: window side in pixels, 1 <= side <= min(H, W).

    Returns:
        (top, left, detail): the window's corner and its mean gradient magnitude (luminance in [0, 1] per pixel).
    """
    h, w = image.shape[:2]
    if not 1 <= side <= min(h, w):
        raise ValueError(f"box side {side} does not fit an image of {h}x{w}")
    lum = image.astype(np.float64) @ np.array([0.299, 0.587, 0.114]) / 255.0
    grad = np.zeros((h, w))
    grad[:, :-1] += np.abs(np.diff(lum, axis=1))
    grad[:-1, :] += np.abs(np.diff(lum, axis=0))
    integral = np.pad(grad.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    sums = integral[side:, side:] - integral[:-side, side:] - integral[side:, :-side] + integral[:-side, :-side]
    top, left = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return int(top), int(left), float(sums[top, left] / side**2)


def pick_example(images: np.ndarray, side: int) -> tuple[int, int, int]:
    """The example (and its box) with the most detailed window: (index, top, left)."""
    boxes = [detail_box(image, side) for image in images]
    index = int(np.argmax([b[2] for b in boxes]))
    return index, boxes[index][0], boxes[index][1]


def make_fig_recon(runs: str | Path, items: list[str], kinds: dict[str, str]) -> Figure:
    """Original and reconstructions of one image per dataset, full size and zoomed on the most detailed box.

    Args:
        runs: the stage-output root (`paths.runs`).
        items: autoencoder items (eval_ae@ITEM must exist, all on the same example images).
        kinds: dataset name -> dataset kind (`data.sets`), for the paper-analogue titles.

    Returns:
        The figure: per dataset a subfigure of 2 x (1 + len(items)) image axes.
    """
    examples = {item: results.examples(runs, item) for item in items}
    rfd_frame = results.reconstruction(runs, items)
    rfd = results.column(rfd_frame, "rfd")
    datasets = [key.removesuffix("/images") for key in examples[items[0]] if key.endswith("/images")]
    cols = 1 + len(items)
    fig = Figure(figsize=(1.75 * cols, 4.4 * len(datasets)), layout="constrained")
    subfigs = np.atleast_1d(fig.subfigures(len(datasets), 1))
    for sub, dataset in zip(subfigs, datasets, strict=True):
        originals = examples[items[0]][f"{dataset}/images"]
        side = max(1, round(ZOOM * min(originals.shape[1:3])))
        index, top, left = pick_example(originals, side)
        original = originals[index]
        panels = [("original", original, "")]
        for item in items:
            if not np.array_equal(examples[item][f"{dataset}/images"][index], original):
                raise ValueError(f"eval_ae@{item} stored other example images for '{dataset}': re-run eval_ae")
            recon = examples[item][f"{dataset}/recons"][index]
            mse = float(np.mean((recon.astype(np.float64) - original) ** 2) / 255.0**2)
            value = rfd_frame.loc[(rfd_frame["item"] == item) & (rfd_frame["dataset"] == dataset), rfd].iloc[0]
            panels.append((style.label(item), recon, f"MSE {mse:.4f}\n{style.axis_label(rfd)} {value:.3g}"))
        axes = sub.subplots(2, cols, squeeze=False)
        for c, (name, image, metrics) in enumerate(panels):
            full, zoom = axes[0][c], axes[1][c]
            full.imshow(image, interpolation="nearest")
            full.add_patch(Rectangle((left - 0.5, top - 0.5), side, side, fill=False, ec=BOX_COLOUR, lw=1.5))
            zoom.imshow(image[top : top + side, left : left + side], interpolation="nearest")
            full.set_title(f"{name}\n{metrics}" if metrics else f"{name}\n(this image)\n", fontsize=8)
            for ax in (full, zoom):
                ax.set_xticks([])
                ax.set_yticks([])
            for spine in zoom.spines.values():
                spine.set_edgecolor(BOX_COLOUR)
                spine.set_linewidth(2)
        axes[1][0].set_ylabel("boxed region", fontsize=8)
        sub.suptitle(f"{style.dataset_title(dataset, kinds.get(dataset, ''))}: eval example {index}", fontsize=10)
    fig.suptitle("Fig. 5: reconstructions (MSE: this image, [0, 1] scale; FD: the whole eval set)", fontsize=11)
    return fig


def main(params: Params) -> None:
    items = style.figure_items(params.autoencoders)
    kinds = style.dataset_kinds(params.data.sets)
    fig = make_fig_recon(params.paths.runs, items, kinds)
    out = figures_dir(params.paths)
    save_figures(fig, out / NAME)


if __name__ == "__main__":
    main(load_params())
