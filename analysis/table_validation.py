"""The metric-validation table and figure: does each distribution metric measure what the tables use it for?

Run: `python -m analysis.table_validation` (DVC stage `table_validation`). Reads validate_metrics' verdicts and
curves (`bench.layout.metric_validation`, `metric_validation_curves`) and writes
- `<results>/tables/metric_validation.{csv,md}`: one row per metric and set, one column per disturbance or
  generator shift: "pass", "FAIL" (and why: a step smaller than the spread, or a first step inside the real-vs-real
  floor), or "-" where the metric is not expected to respond (precision to loss of diversity, recall to image damage);
  the last column says whether the metric is validated (passes everything expected of it, on every set);
- `<results>/figures/metric_validation.{png,pdf}`: each metric (rows) against each disturbance's level (columns), one
  line per set, mean over seeds and judge members with the +-1 sd band, the real-vs-real floor dashed.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from bench import layout  # noqa: E402
from bench.config import Params, load_params  # noqa: E402
from bench.log import get_logger, setup_logging  # noqa: E402
from bench.outputs import save_figures  # noqa: E402

NAME = "metric_validation"
log = get_logger(__name__)


def cell(v: dict) -> str:
    """One verdict as text."""
    if not v["expected"]:
        return "-"
    if v["passes"]:
        return "pass"
    why = [w for w, ok in (("step<spread", v["monotone"]), ("in floor", v["clears_floor"])) if not ok]
    return "FAIL (" + ", ".join(why) + ")"


def make_table(verdicts: dict) -> pd.DataFrame:
    """Rows (metric, set); columns the disturbances in battery order plus "validated"."""
    rows = {}
    for dataset, per_metric in verdicts["sets"].items():
        for metric, per_dist in per_metric.items():
            rows[(metric, dataset)] = {d: cell(v) for d, v in per_dist.items()}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index = pd.MultiIndex.from_tuples(table.index, names=["metric", "set"])
    table = table.fillna("n/a")
    table["validated"] = [
        "yes" if verdicts["metrics"][m]["validated"] else "NO" for m in table.index.get_level_values("metric")
    ]
    return table.sort_index(level="metric", sort_remaining=False)


def to_markdown(table: pd.DataFrame) -> str:
    notes = [
        "Each metric scores the first eval images of a set, disturbed, against the set's train-split reference (as "
        "eval_gen scores samples); levels 0..1, several seeds each, every judge-ensemble member.",
        "pass: the mean moves the expected way at every level step by more than the spread (sd over seeds x judge "
        "members) and its first step clears the real-vs-real floor (the undisturbed set's bootstrap quantile). "
        "'-': the metric is not expected to respond (precision to loss of diversity, recall to image damage).",
        "A metric that is not validated is labelled so in every table, and no claim of paper_check rests on it.",
    ]
    body = table.reset_index().to_markdown(index=False)
    return "# Metric validation\n\n" + body + "\n\n" + "\n".join(f"- {n}" for n in notes) + "\n"


def make_figure(curves: pd.DataFrame, verdicts: dict, out: Path) -> list[Path]:
    """Metrics (rows) x disturbances (columns): mean over seeds and members against level, +-1 sd, one line per set."""
    curves = curves[curves["battery"] != "floor"]  # the bootstrap of the undisturbed set: drawn as the dashed line
    curves = curves.assign(metric=curves["metric"].map(ensemble_label))
    metrics = sorted(curves["metric"].unique())
    dists = list(dict.fromkeys(curves["disturbance"]))
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    colours = {name: palette[i % len(palette)] for i, name in enumerate(sorted(curves["set"].unique()))}
    fig, axes = plt.subplots(len(metrics), len(dists), figsize=(1.9 * len(dists), 1.5 * len(metrics)), squeeze=False)
    for i, metric in enumerate(metrics):
        for j, dist in enumerate(dists):
            ax = axes[i][j]
            for dataset, part in curves[(curves["metric"] == metric) & (curves["disturbance"] == dist)].groupby("set"):
                stats = part.groupby("level")["value"].agg(["mean", "std"]).fillna(0)
                colour = colours[dataset]  # one colour per set in every panel, shifts (one set each) included
                ax.plot(stats.index, stats["mean"], marker=".", label=dataset, color=colour)
                ax.fill_between(stats.index, stats["mean"] - stats["std"], stats["mean"] + stats["std"],
                                color=colour, alpha=0.2)  # fmt: skip
                v = verdicts["sets"][dataset].get(metric, {}).get(dist)
                if v is not None:
                    ax.axhline(v["floor"], color=colour, ls="--", lw=0.7)
            ax.tick_params(labelsize=6)
            if i == 0:
                ax.set_title(dist, fontsize=7)
            if j == 0:
                ax.set_ylabel(metric, fontsize=7)
    axes[0][0].legend(fontsize=6)
    fig.suptitle("Metric validation: value against disturbance level (mean +-1 sd over seeds x judges)", fontsize=9)
    fig.tight_layout()
    paths = save_figures(fig, out)
    plt.close(fig)
    return paths


def ensemble_label(key: str) -> str:
    """ "fd[judge-1]" -> "fd[judge]" (members share a panel); other keys unchanged."""
    name, _, ext = key.partition("[")
    ext = ext.rstrip("]")
    return f"{name}[{ext.rsplit('-', 1)[0]}]" if ext[-1:].isdigit() else key


def main(params: Params) -> None:
    setup_logging()
    verdicts = json.loads(layout.metric_validation(params.paths).read_text())
    curves = pd.read_csv(layout.metric_validation_curves(params.paths))
    table = make_table(verdicts)
    tables, figures = layout.tables_dir(params.paths), layout.figures_dir(params.paths)
    tables.mkdir(parents=True, exist_ok=True)
    figures.mkdir(parents=True, exist_ok=True)
    table.reset_index().to_csv(tables / f"{NAME}.csv", index=False)
    (tables / f"{NAME}.md").write_text(to_markdown(table))
    paths = make_figure(curves, verdicts, figures / NAME)
    log.info("wrote %s, %s", tables / f"{NAME}.md", ", ".join(map(str, paths)))


if __name__ == "__main__":
    main(load_params())
