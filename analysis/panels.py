"""Drawing pieces that several figures share: mask colours, label maps drawn on an image's extent, and the choice of
the example with the most segments. Import only (the `fig_*` stage modules are leaves and never import each other).
"""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap


def mask_colours(n: int) -> ListedColormap:
    """`n` distinguishable colours for mask ids 0..n-1 (tab20, then hsv beyond 20 ids)."""
    base = list(colormaps["tab20"].colors)
    if n > len(base):
        base += [colormaps["hsv"](i / (n - len(base))) for i in range(n - len(base))]
    return ListedColormap(base[:n])


def pick_segmented(masks: np.ndarray) -> int:
    """Index of the mask with the most distinct labels >= 0 (first on ties).

    Args:
        masks: (K, h, w) integer label maps; negative labels are unlabelled.
    """
    counts = [len(np.unique(m[m >= 0])) for m in masks]
    return int(np.argmax(counts))


def show_map(ax: Axes, image: np.ndarray, labels: np.ndarray, n_labels: int, cmap) -> None:
    """A label map on the image's extent (nearest-neighbour, so latent cells stay square), no ticks."""
    h, w = image.shape[:2]
    ax.imshow(labels, cmap=cmap, vmin=-0.5, vmax=n_labels - 0.5, interpolation="nearest", extent=(0, w, h, 0))
    ax.set_xticks([])
    ax.set_yticks([])
