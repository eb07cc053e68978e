"""Fig. 2: radar summary of every autoencoder's latent smoothness, compression, reconstruction and generation.

Run: `python -m analysis.fig_radar` (DVC stage `fig_radar`). Reads eval_ae (reconstruction, noise curve),
compress (sigma^2, rho) and eval_gen (gFD) outputs and writes `<results>/figures/radar.{png,pdf}`, one radar per
dataset with generation results. As the paper's caption says, each axis is linearly rescaled so that the outermost
ring is the best autoencoder and the innermost ring the worst; the axis text gives the metric, its direction and
the best / worst raw values, so the radar can be read back.

The six axes (the paper does not say how it scored them; these are this suite's choices):
- Latent smoothness: rFD(max eps) - rFD(eps = 0) on the noise curve, lower is better (the paper reads Fig. 6 as
  "VAE shows minimal increase in rFID across perturbation ratios" = smoothest).
- Perceptual compression: log(rho) - log(sigma^2), higher is better: rho up and sigma^2 down both move a point
  towards Fig. 7's ideal corner, and in logs neither measure's scale dominates. The set's own compression result
  is used where the dataset was measured, else the mean over the measured sets.
- Pixel reconstruction: PSNR, higher is better.
- Perceptual reconstruction: the perceptual distance (LPIPS or the suite's own network) and rFD, lower is better.
- Generation: gFD, lower is better.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from analysis import results, style
from bench.config import Params, load_params
from bench.layout import figures_dir
from bench.outputs import save_figures

NAME = "radar"
INNER = 0.2  # radius of the innermost ring (the worst autoencoder); 0 would collapse the worst onto the centre
RINGS = 5  # grid rings from INNER to 1
LABEL_RADIUS = 1.08  # axis texts just outside the outer ring


@dataclass(frozen=True)
class Axis:
    """One radar axis: its column in the score table, its text, and which way is better."""

    column: str
    title: str
    higher_is_better: bool


def rescale(values: np.ndarray, higher_is_better: bool, inner: float = INNER) -> np.ndarray:
    """Linear map of raw scores onto radii: the best value -> 1 (outer ring), the worst -> `inner`.

    Args:
        values: (N,) raw scores of N autoencoders on one axis, finite.
        higher_is_better: False for errors and distances (PSNR: True; rFD: False).
        inner: radius of the worst value, in [0, 1).

    Returns:
        (N,) radii in [inner, 1]; all 1 when every value ties (all are the best).
    """
    values = np.asarray(values, dtype=float)
    if not np.isfinite(values).all():
        raise ValueError(f"radar scores must be finite, got {values.tolist()}: a stage output has a NaN metric")
    best, worst = (values.max(), values.min()) if higher_is_better else (values.min(), values.max())
    if best == worst:
        return np.ones_like(values)
    return inner + (1.0 - inner) * (values - worst) / (best - worst)


def radar_scores(runs: str | Path, items: list[str]) -> tuple[pd.DataFrame, list[Axis]]:
    """Raw scores per (dataset, item) on the six axes, and the axes.

    Args:
        runs: the stage-output root (`paths.runs`).
        items: autoencoder items with eval_ae, compress and eval_gen outputs.

    Returns:
        A frame indexed by (dataset, item) with one column per axis (datasets with generation results only), and
        the axes in drawing order.
    """
    recon, noise = results.reconstruction(runs, items), results.noise_curves(runs, items)
    comp, gen = results.compression(runs, items, with_raw=False), results.generation(runs, items)
    rfd, percep, gfd = results.column(recon, "rfd"), results.column(recon, "perceptual"), results.column(gen, "fd")
    eps = noise["eps"].max()
    growth = noise.pivot_table(index=["dataset", "item"], columns="eps", values=results.column(noise, "rfd"))
    comp = comp.assign(score=np.log(comp["rho"]) - np.log(comp["sigma2"]))
    comp_mean = comp.groupby("item")["score"].mean()
    axes = [
        Axis("smoothness", f"latent smoothness\n{style.axis_label(rfd)} growth ε 0→{eps:g} ↓", False),
        Axis("compression", "perceptual compression\nlog ρ − log σ² ↑", True),
        Axis("pixel", f"pixel recon.\n{style.axis_label('psnr')} ↑", True),
        Axis("perceptual", f"perceptual recon.\n{style.axis_label(percep)} ↓", False),
        Axis("rfd", f"perceptual recon.\n{style.axis_label(rfd)} ↓", False),
        Axis("generation", f"generation\n{style.axis_label(gfd)} ↓", False),
    ]
    rows = []
    for dataset in dict.fromkeys(gen["dataset"]):
        for item in items:
            r = recon[(recon["item"] == item) & (recon["dataset"] == dataset)]
            g = gen[(gen["item"] == item) & (gen["dataset"] == dataset)]
            c = comp[(comp["item"] == item) & (comp["dataset"] == dataset)]
            if r.empty or g.empty:
                raise ValueError(f"'{item}' has no eval_ae / eval_gen result on '{dataset}': run those stages first")
            curve = growth.loc[(dataset, item)]
            rows.append(
                {
                    "dataset": dataset,
                    "item": item,
                    "smoothness": curve[eps] - curve[0.0],
                    "compression": c["score"].iloc[0] if len(c) else comp_mean[item],
                    "pixel": r["psnr"].iloc[0],
                    "perceptual": r[percep].iloc[0],
                    "rfd": r[rfd].iloc[0],
                    "generation": g[gfd].iloc[0],
                }
            )
    return pd.DataFrame(rows).set_index(["dataset", "item"]), axes


def make_fig_radar(runs: str | Path, items: list[str], kinds: dict[str, str]) -> Figure:
    """One radar per generation dataset, every autoencoder a polygon, axes rescaled best = outer ring.

    Args:
        runs: the stage-output root (`paths.runs`).
        items: autoencoder items (eval_ae, compress and eval_gen outputs must exist).
        kinds: dataset name -> dataset kind (`data.sets`), for the paper-analogue panel titles.

    Returns:
        The figure: one polar axes per dataset.
    """
    scores, axes_spec = radar_scores(runs, items)
    datasets = list(dict.fromkeys(scores.index.get_level_values("dataset")))
    angles = np.linspace(0, 2 * np.pi, len(axes_spec), endpoint=False)
    fig = Figure(figsize=(6.6 * len(datasets) + 1.4, 5.8), layout="constrained")
    axes = fig.subplots(1, len(datasets), squeeze=False, subplot_kw={"projection": "polar"})[0]
    for ax, dataset in zip(axes, datasets, strict=True):
        ax.set_theta_offset(np.pi / 2)  # first axis at the top, the rest clockwise
        ax.set_theta_direction(-1)
        table = scores.loc[dataset].loc[items]
        radii = np.stack([rescale(table[a.column].to_numpy(), a.higher_is_better) for a in axes_spec], axis=1)
        for item, r in zip(items, radii, strict=True):
            closed_a, closed_r = np.append(angles, angles[0]), np.append(r, r[0])
            width = 2.2 if item == "vmae" else 1.5
            ax.plot(
                closed_a,
                closed_r,
                color=style.colour(item),
                lw=width,
                ls=style.linestyle(item),
                label=style.label(item),
            )
            ax.fill(closed_a, closed_r, color=style.colour(item), alpha=0.06)
        ax.set_xticks(angles, [""] * len(angles))  # spokes only: the axis texts are placed below to clear the rim
        for angle, a in zip(angles, axes_spec, strict=True):
            values = table[a.column]
            best, worst = (values.max(), values.min()) if a.higher_is_better else (values.min(), values.max())
            x, y = np.sin(angle), np.cos(angle)  # clockwise from the top
            ha = "center" if abs(x) < 0.1 else ("left" if x > 0 else "right")
            va = "center" if abs(y) < 0.1 else ("bottom" if y > 0 else "top")
            ax.text(angle, LABEL_RADIUS, f"{a.title}\nbest {best:.3g} · worst {worst:.3g}", ha=ha, va=va, fontsize=7.5)
        ax.set_ylim(0, 1.0)
        ax.set_yticks(np.linspace(INNER, 1.0, RINGS), [])
        ax.spines["polar"].set_visible(False)
        ax.set_title(style.dataset_title(dataset, kinds.get(dataset, "")), fontsize=11, pad=52)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", frameon=False)
    fig.suptitle("Fig. 2: autoencoders on each property (outer ring = best of these, inner ring = worst)")
    return fig


def main(params: Params) -> None:
    items = [i for i in style.figure_items(params.autoencoders) if params.diffusion.items.get(i)]  # with a DiT
    kinds = style.dataset_kinds(params.data.sets)
    fig = make_fig_radar(params.paths.runs, items, kinds)
    out = figures_dir(params.paths)
    save_figures(fig, out / NAME)


if __name__ == "__main__":
    main(load_params())
