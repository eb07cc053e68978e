"""Scatter of each proxy against generation FD, one figure per proxy (the dots behind `table_proxies`' rho).

Run: `python -m analysis.fig_proxies` (DVC stage `fig_proxies`). Writes `<results>/figures/proxies/<proxy>.{png,pdf}`
for every proxy of `analysis.proxy_data.PROXIES` measured on at least three items: one panel per generation
dataset, x = the proxy, y = generation FD, each item a labelled dot, the panel title giving Spearman's rho with its
bootstrap interval over items (`metrics.bootstrap`).
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from analysis import proxy_data, style
from analysis.results import optional_validation
from bench.config import Params, load_params
from bench.layout import figures_dir
from bench.outputs import save_figures

FOLDER = "proxies"


def make_fig_proxy(
    frame: pd.DataFrame, table: pd.DataFrame, proxy: str, ylabel: str = "generation FD, lower better"
) -> Figure:
    """One proxy against generation FD.

    Args:
        frame: `proxy_data.proxy_frame`'s rows.
        table: `proxy_data.correlations` of `frame` (the rho shown per panel).
        proxy: a key of `proxy_data.PROXIES` present in `table`.
        ylabel: `proxy_data.target_label` (names the FD column and marks it where it failed validation).

    Returns:
        The figure: one axes per dataset the proxy was correlated on.
    """
    rows = table[table["proxy"] == proxy]
    fig = Figure(figsize=(4.0 * len(rows), 3.4), layout="constrained")
    axes = fig.subplots(1, len(rows), squeeze=False)[0]
    for ax, r in zip(axes, rows.itertuples(), strict=True):
        part = frame[frame["dataset"] == r.dataset].dropna(subset=[proxy, proxy_data.GEN_FD])
        for item, x, y in zip(part["item"], part[proxy], part[proxy_data.GEN_FD], strict=True):
            ax.scatter(x, y, color=style.colour(item), marker=style.marker(item), s=36)
            ax.annotate(style.label(item), (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_title(f"{r.dataset}: ρ = {r.spearman:+.2f} [{r.low:+.2f}, {r.high:+.2f}]", fontsize=9)
        ax.set_xlabel(proxy_data.PROXIES[proxy].label, fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
    return fig


def main(params: Params) -> None:
    frame = proxy_data.proxy_frame(params.paths.runs, params.diffusion.items, list(params.analysis.compress.sets))
    boot = params.metrics.bootstrap
    table = proxy_data.correlations(frame, n_resamples=boot.n_resamples, level=boot.level, seed=params.seed)
    ylabel = proxy_data.target_label(proxy_data.target_column(frame), optional_validation(params.paths.runs))
    out = figures_dir(params.paths) / FOLDER
    for proxy in dict.fromkeys(table["proxy"]):
        save_figures(make_fig_proxy(frame, table, proxy, ylabel), out / proxy)


if __name__ == "__main__":
    main(load_params())
