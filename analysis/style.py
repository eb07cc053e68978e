"""Shared look of the report's figures: one colour, marker and line style per autoencoder, axis text per metric.

Imported by every `analysis/fig_*.py` module so that an autoencoder has the same colour in every figure, and so
that an axis always names the network behind a feature-based metric (`rFD [judge]`, never "rFID" for a judge
FD). Nothing here reads files or draws; run nothing, import it:

    from analysis import style
    ax.plot(x, y, color=style.colour("vmae"), ls=style.linestyle("vmae"), label=style.label("vmae"))
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any

from matplotlib import colormaps
from matplotlib.colors import ListedColormap, to_hex

from analysis.paper import ANALOGUE, DETERMINISTIC, LABELS, LEVEL_ANALOGUE, MAIN, PAPER_DATASETS, report_items
from bench.config import AutoencodersCfg

# Okabe-Ito-like colours, distinguishable in colour-blind vision; VMAE (the paper's model) gets the strongest red.
PALETTE = {
    "ae": "#0072B2",
    "dae": "#56B4E9",
    "vae": "#009E73",
    "sd-vae": "#E69F00",
    "vmae": "#D55E00",
    "vmae-mse": "#CC79A7",
    "vmae-lm": "#8C564B",
    "vmae-lm-reg": "#7F3C8D",
    "vmae-release": "#B8860B",
    "raw": "#555555",
}
MARKERS = {"ae": "o", "dae": "s", "vae": "^", "sd-vae": "D", "vmae": "*", "raw": "X"}

# Metric family -> axis name; the extractor in brackets is appended by `axis_label`. Generation FDs of eval_gen are
# written `fd[...]`, reconstruction FDs of eval_ae `rfd[...]` / `rfid[...]`, so the prefix alone tells them apart.
METRIC_NAMES = {
    "rfd": "rFD",
    "rfid": "rFID",
    "fd": "gFD",
    "fid": "gFID",
    "sfd": "sFD",
    "sfid": "sFID",
    "percep": "percep",
    "lpips": "LPIPS",
    "psnr": "PSNR (dB)",
    "ssim": "SSIM",
    "l1[0-1]": "L1",
    "mse[0-1]": "MSE",
    "is": "IS",
    "kid": "KID",
}


def figure_items(cfg: AutoencodersCfg) -> list[str]:
    """The items every comparison figure shows (`analysis.paper.report_items`): the paper's five that this run has,
    then its pretrained items.

    Raises:
        ValueError: the run has none of them.
    """
    items = report_items(cfg.names, cfg.pretrained)
    if not items:
        raise ValueError(
            f"autoencoders.names {list(cfg.names)} holds none of the paper's autoencoders {list(MAIN)} and no "
            "pretrained item: nothing to compare"
        )
    return items


def dataset_kinds(sets: Mapping[str, Any]) -> dict[str, str]:
    """Dataset name -> kind from `params.data.sets`, for paper-analogue titles."""
    return {name: cfg.kind for name, cfg in sets.items()}


def label(item: str) -> str:
    """Display name of an item ("sd-vae" -> "SD-VAE"; "raw" is the raw-pixel reference of Figs 7 and 8)."""
    return LABELS.get(item, "raw pixels" if item == "raw" else item)


def colour(item: str) -> str:
    """The item's colour; an item outside the palette gets a stable tab20 colour from its name."""
    if item in PALETTE:
        return PALETTE[item]
    cmap = colormaps["tab20"]
    return to_hex(cmap(zlib.crc32(item.encode()) % cmap.N))


def marker(item: str) -> str:
    """Scatter marker of an item (VMAE a star, as the paper marks its own model)."""
    return MARKERS.get(item, "P")


def linestyle(item: str) -> str:
    """Fig. 6's convention: deterministic autoencoders dashed, probabilistic ones solid."""
    return "--" if item in DETERMINISTIC else "-"


def axis_label(column: str) -> str:
    """Axis text of a labelled metric column: "rfd[judge]" -> "rFD [judge]", "fd[inception]" -> "gFD [inception]"."""
    if column in METRIC_NAMES:
        return METRIC_NAMES[column]
    family, _, extractor = column.partition("[")
    name = METRIC_NAMES.get(family, family)
    return f"{name} [{extractor}" if extractor else name


def dataset_title(name: str, kind: str) -> str:
    """ "shapes (ImageNet-1K analogue)": our dataset with the paper dataset it stands in for."""
    paper = PAPER_DATASETS.get(ANALOGUE.get(kind, ""), "")
    return f"{name} ({paper} analogue)" if paper and paper.lower() != name.lower() else name


def level_title(name: str, level: str) -> str:
    """ "object level: shapes (ADE20K analogue)" for Fig. 7 / 8 panels."""
    paper = LEVEL_ANALOGUE.get(level)
    return f"{level} level: {name}" + (f" ({paper} analogue)" if paper else "")


def cluster_cmap(n: int) -> ListedColormap:
    """`n` distinct colours for cluster ids 0..n-1 (tab10, then tab20 beyond ten clusters)."""
    base = list(colormaps["tab10" if n <= 10 else "tab20"].colors)
    if n > len(base):
        raise ValueError(
            f"{n} clusters is more than {len(base)} distinguishable colours: lower analysis.compress.kmeans_ks"
        )
    return ListedColormap(base[:n])
