"""Scatter of each proxy against each generation metric, one figure per proxy (the dots behind `table_proxies`' rho).

Run: `python -m analysis.fig_proxies` (DVC stage `fig_proxies`). Writes `<results>/figures/proxies/<proxy>.{png,pdf}`
for every proxy of `analysis.proxy_data.PROXIES` measured on at least three items: one row of panels per generation
metric (`proxy_data.targets`: the FD, then every metric that passed validation), one column per generation dataset,
x = the proxy, y = the metric, each item a labelled dot, the panel title giving Spearman's rho with its bootstrap
interval over items (`metrics.bootstrap`).
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
    frame: pd.DataFrame, table: pd.DataFrame, proxy: str, ylabels: dict[str, str] | None = None
) -> Figure:
    """One proxy against each generation metric.

    Args:
        frame: `proxy_data.proxy_frame`'s rows.
        table: `proxy_data.correlations` of `frame` (the rho shown per panel).
        proxy: a key of `proxy_data.PROXIES` present in `table`.
        ylabels: target column -> `proxy_data.target_label` (names the metric and marks it where it failed
            validation); by default the label without validation.

    Returns:
        The figure: a grid of (generation metric, dataset) axes, blank where the proxy was not correlated.
    """
    rows = table[table["proxy"] == proxy]
    targets, datasets = list(dict.fromkeys(rows["target"])), list(dict.fromkeys(rows["dataset"]))
    labels = {t.column: proxy_data.target_label(t, None) for t in proxy_data.frame_targets(frame)} | (ylabels or {})
    fig = Figure(figsize=(4.0 * len(datasets), 3.4 * len(targets)), layout="constrained")
    axes = fig.subplots(len(targets), len(datasets), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()  # switched back on for the panels that have a correlation
    for r in rows.itertuples():
        ax = axes[targets.index(r.target), datasets.index(r.dataset)]
        ax.set_axis_on()
        part = frame[frame["dataset"] == r.dataset].dropna(subset=[proxy, r.target])
        for item, x, y in zip(part["item"], part[proxy], part[r.target], strict=True):
            ax.scatter(x, y, color=style.colour(item), marker=style.marker(item), s=36)
            ax.annotate(style.label(item), (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.set_title(f"{r.dataset}: ρ = {r.spearman:+.2f} [{r.low:+.2f}, {r.high:+.2f}]", fontsize=9)
        ax.set_xlabel(proxy_data.PROXIES[proxy].label, fontsize=8)
        ax.set_ylabel(labels[r.target], fontsize=8)
    return fig


def main(params: Params) -> None:
    frame = proxy_data.proxy_frame(params.paths.runs, params.diffusion.items, list(params.analysis.compress.sets))
    boot = params.metrics.bootstrap
    table = proxy_data.correlations(frame, n_resamples=boot.n_resamples, level=boot.level, seed=params.seed)
    validation = optional_validation(params.paths.runs)
    ylabels = {t.column: proxy_data.target_label(t, validation) for t in proxy_data.frame_targets(frame)}
    out = figures_dir(params.paths) / FOLDER
    for proxy in dict.fromkeys(table["proxy"]):
        save_figures(make_fig_proxy(frame, table, proxy, ylabels), out / proxy)


if __name__ == "__main__":
    main(load_params())
