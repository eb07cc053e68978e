"""Fig. 7: perceptual compression of each autoencoder: compression degree sigma^2 against disentanglement rho.

Run: `python -m analysis.fig_compression` (DVC stage `fig_compression`). Reads `runs/compress/NAME/metrics.json`
and the raw-pixel reference `runs/compress_raw/metrics.json` and writes `<results>/figures/compression.{png,pdf}`:
one panel per `analysis.compress.sets` entry ((a) object level, (b) part level), each autoencoder a point with its
bootstrap CIs as error bars, raw pixels a grey cross with guide lines (sigma^2 left of it = compression; rho above
1 = semantics kept), and the ideal corner (low sigma^2, high rho) marked with an arrow, as in the paper. Along each
panel's bottom edge: every item's reconstruction PSNR at the resolution the set was encoded at.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from analysis import results, style
from bench.config import Params, load_params
from bench.layout import figures_dir
from bench.outputs import save_figures

NAME = "compression"
PANEL_LETTERS = "abcdefgh"
MARGIN = 0.25  # of the data range on each side: leaves an empty band along the edges for the "ideal" arrow


def _mark_ideal(ax: Axes) -> None:
    """Arrow to the panel's upper-left corner, the ideal autoencoder's low sigma^2 and high rho. The axes margins
    (MARGIN of the data range on each side) keep a band along the top and left edges free of points, so the
    annotation lives there and never hides one."""
    ax.annotate(
        "ideal autoencoder (low σ², high ρ)",
        xy=(0.012, 0.988),
        xytext=(0.09, 0.935),
        xycoords="axes fraction",
        textcoords="axes fraction",
        ha="left",
        va="center",
        fontsize=8,
        color="0.25",
        arrowprops={"arrowstyle": "-|>", "color": "0.35", "lw": 1.2, "shrinkA": 1, "shrinkB": 0},
    )


def _note_psnr(ax: Axes, panel: pd.DataFrame, items: list[str], resolution: float) -> None:
    """Each item's reconstruction PSNR at the resolution the panel was encoded at, along the bottom edge (the band
    MARGIN keeps free of points). At `analysis.compress.upscale` > 1 the models meet a scale they never saw, and
    this is the price a reader should see beside sigma^2 and rho. Nothing is written if the stages recorded none."""
    psnr = panel["psnr"].reindex(items) if "psnr" in panel else pd.Series(dtype=float)
    parts = [f"{style.label(item)} {value:.1f}" for item, value in psnr.items() if pd.notna(value)]
    if not parts:
        return
    at = f" at {resolution:.0f} px" if pd.notna(resolution) else ""
    lines = textwrap.wrap(f"reconstruction PSNR{at} (dB): " + " · ".join(parts), width=58)
    ax.text(0.02, 0.02, "\n".join(lines), transform=ax.transAxes, fontsize=7, color="0.3", va="bottom", ha="left")


def make_fig_compression(runs: str | Path, items: list[str], levels: dict[str, str]) -> Figure:
    """sigma^2 (x) vs rho (y) per autoencoder, one panel per compression set.

    Args:
        runs: the stage-output root (`paths.runs`).
        items: autoencoder items (compress@ITEM must exist); compress_raw must exist too.
        levels: compression set -> mask level ("object" | "part"), `analysis.compress.sets`.

    Returns:
        The figure: one axes per set, x = sigma^2, y = rho, error bars = the stage's bootstrap CIs.
    """
    frame = results.compression(runs, items, with_raw=True)
    fig = Figure(figsize=(4.8 * len(levels), 4.4), layout="constrained")
    axes = fig.subplots(1, len(levels), squeeze=False)[0]
    for letter, ax, (dataset, level) in zip(PANEL_LETTERS, axes, levels.items(), strict=False):
        panel = frame[frame["dataset"] == dataset].set_index("item")
        if panel.empty:
            raise ValueError(f"no compression results for set '{dataset}': is it in analysis.compress.sets?")
        for item in [*items, "raw"]:
            row = panel.loc[item]
            xerr = [[row.sigma2 - row.sigma2_lo], [row.sigma2_hi - row.sigma2]]  # (2, 1): below, above
            yerr = [[row.rho - row.rho_lo], [row.rho_hi - row.rho]]
            ax.errorbar(
                row.sigma2,
                row.rho,
                xerr=np.clip(xerr, 0, None),
                yerr=np.clip(yerr, 0, None),
                fmt=style.marker(item),
                ms=11 if item == "vmae" else 8,
                color=style.colour(item),
                ecolor=style.colour(item),
                elinewidth=1,
                capsize=3,
                label=style.label(item),
                zorder=3,
            )
        raw = panel.loc["raw"]
        ax.axvline(raw.sigma2, color=style.colour("raw"), ls=":", lw=1, zorder=1)
        ax.axhline(1.0, color="0.6", ls="--", lw=0.8, zorder=1)
        ax.margins(MARGIN)
        _mark_ideal(ax)
        ax.set_xlabel("compression degree σ²  (lower = stronger)")
        ax.set_ylabel("semantic disentanglement ρ = u_intra / u_inter")
        title = f"({letter}) {style.level_title(dataset, level)}"
        if not pd.isna(raw.resolution):
            title += f" at {raw.resolution:.0f} px"
        raw_row = dict(raw) | {"dataset": dataset, "level": level}
        if results.level_unmeasured(raw_row) is not None:  # say it on the panel: the claims skip this level
            title += (f"\nnot measured: {raw.segments_owning_a_cell:.0%} of segments own a latent cell "
                      f"({raw.segment_pixels_median:.0f} px median vs {raw.cell_pixels:.0f} px)")  # fmt: skip
            ax.set_facecolor("0.94")
        ax.set_title(title, fontsize=10)
        _note_psnr(ax, panel, items, raw.resolution)
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", frameon=False)
    fig.suptitle("Fig. 7: perceptual compression (dotted: raw-pixel σ²; dashed: ρ = 1)")
    return fig


def main(params: Params) -> None:
    items = style.figure_items(params.autoencoders)
    fig = make_fig_compression(params.paths.runs, items, params.analysis.compress.sets)
    out = figures_dir(params.paths)
    save_figures(fig, out / NAME)


if __name__ == "__main__":
    main(load_params())
