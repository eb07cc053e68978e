"""Latent power spectrum against the image's, per autoencoder (the "diffusability" view, Skorokhodov et al. 2025).

Run: `python -m analysis.fig_spectra` (DVC stage `fig_spectra`). Reads every item's `runs/proxies/NAME/spectra.npz`
and writes `<results>/figures/spectra.{png,pdf}`: one panel per set of `autoencoders.train_sets`, the share of AC
DCT energy per Chebyshev band against normalised frequency (k / side in [0, 1), so a 4x4 latent and a 32x32 image
share the axis), one line per item and the images' own spectrum in black. A latent above the image line at high
frequency carries relatively more high-frequency energy than the pixels it encodes. Recipe: `bench.proxies`.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from analysis import results, style
from bench.config import Params, load_params
from bench.layout import figures_dir
from bench.outputs import save_figures

NAME = "spectra"


def make_fig_spectra(runs: str | Path, items: list[str], datasets: list[str]) -> Figure:
    """Band spectra of latents (one line per item) and images (black) per dataset.

    Args: runs: `paths.runs`; items: autoencoder items (proxies@ITEM must exist); datasets: the proxies stage's sets.
    Returns: the figure, one axes per dataset, y on a log scale.
    """
    spectra = {item: results.spectra(runs, item) for item in items}
    fig = Figure(figsize=(4.4 * len(datasets), 3.4), layout="constrained")
    axes = fig.subplots(1, len(datasets), squeeze=False)[0]
    for ax, dataset in zip(axes, datasets, strict=True):
        first = spectra[items[0]]
        ax.plot(first[f"{dataset}/image_freq"], first[f"{dataset}/image_share"], color="black", lw=2, label="images")
        for item, s in spectra.items():
            ax.plot(s[f"{dataset}/latent_freq"], s[f"{dataset}/latent_share"], color=style.colour(item),
                    ls=style.linestyle(item), marker=style.marker(item), ms=4, label=style.label(item))  # fmt: skip
        ax.set_yscale("log")
        ax.set_title(dataset, fontsize=9)
        ax.set_xlabel("normalised frequency max(u/h, v/w)", fontsize=8)
        ax.set_ylabel("share of AC energy", fontsize=8)
    axes[-1].legend(fontsize=7)
    return fig


def main(params: Params) -> None:
    fig = make_fig_spectra(params.paths.runs, list(params.autoencoders.names), list(params.autoencoders.train_sets))
    save_figures(fig, figures_dir(params.paths) / NAME)


if __name__ == "__main__":
    main(load_params())
