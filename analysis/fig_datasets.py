"""Figure: sample images of every materialised dataset with their segmentation masks.

Run: `python -m analysis.fig_datasets` (DVC stage `fig_datasets`). Reads the data stage's eval
splits and writes `<results>/figures/dataset_samples.{png,pdf}`: per dataset, one row of images and
one row of their masks (colour-coded ids, legend of the mask names), so a person can check that the
textures read as natural and that the masks sit on the pixels they label.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from analysis.panels import mask_colours  # noqa: E402
from bench.config import Params, load_params  # noqa: E402
from bench.layout import figures_dir  # noqa: E402
from bench.outputs import save_figures  # noqa: E402
from bench.splits import open_split  # noqa: E402


def make_fig_datasets(data_root: str, names: list[str], count: int) -> Figure:
    """Images over their masks, `count` per dataset.

    Args:
        data_root: the data stage's folder (`paths.data`).
        names: datasets to show (keys of `data.sets`).
        count: images per dataset (from the start of the eval split).

    Returns:
        The figure (2 rows per dataset with masks, 1 row without).
    """
    splits = [open_split(data_root, n, "eval") for n in names]
    rows = sum(2 if s.meta["mask_names"] else 1 for s in splits)
    fig, axes = plt.subplots(rows, count, figsize=(1.6 * count + 2.6, 1.7 * rows), squeeze=False)
    r = 0
    for name, split in zip(names, splits, strict=True):
        items = [split[i] for i in range(min(count, len(split)))]
        labels = split.meta["label_names"]
        for c, ax in enumerate(axes[r]):
            ax.axis("off")
            if c < len(items):
                img = (items[c]["image"].permute(1, 2, 0).numpy() + 1) / 2
                ax.imshow(np.clip(img, 0, 1), interpolation="nearest")
                label = int(items[c]["label"])
                ax.set_title(labels[label] if label < len(labels) else str(label), fontsize=7)
        axes[r][0].text(-0.1, 0.5, name, transform=axes[r][0].transAxes, ha="right", va="center", fontsize=9)
        r += 1
        mask_names = split.meta["mask_names"]
        if mask_names:
            cmap = mask_colours(len(mask_names))
            present: set[int] = set()
            for c, ax in enumerate(axes[r]):
                ax.axis("off")
                if c < len(items):
                    mask = items[c]["mask"].numpy()
                    present |= set(np.unique(mask).tolist())
                    ax.imshow(mask, cmap=cmap, vmin=-0.5, vmax=len(mask_names) - 0.5, interpolation="nearest")
            handles = [Patch(color=cmap(i), label=mask_names[i]) for i in sorted(present)]
            axes[r][-1].legend(
                handles=handles, loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=6, frameon=False
            )
            axes[r][0].text(-0.1, 0.5, f"{split.meta['mask_level']} masks", transform=axes[r][0].transAxes,
                            ha="right", va="center", fontsize=8)  # fmt: skip
            r += 1
    fig.suptitle("Datasets: eval images (with class labels) and their masks", fontsize=10)
    return fig


def main(params: Params) -> None:
    fig = make_fig_datasets(params.paths.data, list(params.data.sets), params.data.preview_count)
    out = figures_dir(params.paths)
    save_figures(fig, out / "dataset_samples")


if __name__ == "__main__":
    main(load_params())
