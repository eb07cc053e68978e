"""Latent power spectrum against the image's, per autoencoder (the "diffusability" view, Skorokhodov et al. 2025).

Run: `python -m analysis.fig_spectra` (DVC stage `fig_spectra`). Reads every item's `runs/proxies/NAME/spectra.npz`
and writes `<results>/figures/spectra.{png,pdf}`: one panel per set of `autoencoders.train_sets`, the cumulative
share of AC DCT energy up to each Chebyshev band's upper edge (k + 1) / side, so a 4x4 latent and a 32x32 image share
the axis (0, 1] whatever their band counts; one line per item, the images' own spectrum in black. At 0.5 a curve
reads 1 - the mean `high_freq` share of the proxies stage; a latent below the image line carries relatively more
high-frequency energy than the pixels it encodes. Recipe: `bench.proxies`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from analysis import results, style
from bench.config import Params, load_params
from bench.layout import figures_dir
from bench.outputs import save_figures

NAME = "spectra"


def make_fig_spectra(runs: str | Path, items: list[str], datasets: list[str]) -> Figure:
    """Cumulative band spectra of latents (one line per item) and images (black) per dataset.

    Args: runs: `paths.runs`; items: autoencoder items (proxies@ITEM must exist); datasets: the proxies stage's sets.
    Returns: the figure, one axes per dataset, y = cumulative share of AC energy in [0, 1].
    """
    spectra = {item: results.spectra(runs, item) for item in items}
    fig = Figure(figsize=(4.4 * len(datasets), 3.4), layout="constrained")
    axes = fig.subplots(1, len(datasets), squeeze=False)[0]
    for ax, dataset in zip(axes, datasets, strict=True):
        lines = [("images", spectra[items[0]], "image", {"color": "black", "lw": 2})]
        for item, s in spectra.items():
            look = {"color": style.colour(item), "ls": style.linestyle(item), "marker": style.marker(item), "ms": 4}
            lines.append((style.label(item), s, "latent", look))
        for label, s, kind, look in lines:
            freq, share = s[f"{dataset}/{kind}_freq"], s[f"{dataset}/{kind}_share"]
            ax.plot(freq + 1 / len(freq), np.cumsum(share), label=label, **look)  # upper band edges, (k + 1) / S
        ax.axvline(0.5, color="grey", lw=0.8, ls=":")
        ax.set_ylim(0, 1.02)
        ax.set_title(dataset, fontsize=9)
        ax.set_xlabel("normalised frequency max(u/h, v/w)", fontsize=8)
        ax.set_ylabel("cumulative share of AC energy", fontsize=8)
    axes[-1].legend(fontsize=7)
    return fig


def main(params: Params) -> None:
    fig = make_fig_spectra(params.paths.runs, list(params.autoencoders.names), list(params.autoencoders.train_sets))
    save_figures(fig, figures_dir(params.paths) / NAME)


if __name__ == "__main__":
    main(load_params())
