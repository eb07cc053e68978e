"""Table 1's companion: what each autoencoder's posterior looks like on the eval split (is "unit variance" true, is
the VAE a VAE, how many latent channels carry information).

Run: `python -m analysis.table_posterior` (DVC stage `table_posterior`). Reads eval_ae's posterior summaries
(`runs/eval_ae/NAME/metrics.json`, key "posterior"; definitions in `autoencoders.posterior_stats`) through
`analysis.results` and writes
- `<results>/tables/table1_posterior.{md,csv}`: one row per (dataset, autoencoder item): the posterior std averaged
  over images, positions and channels, its smallest and largest channel, the KL to N(0, I) in nats per latent value,
  and the active channels (KL above `metrics.active_kl`) of all channels; a deterministic item is marked so;
- `<results>/tables/table1_posterior_channels.csv`: the same per latent channel (std, KL), for plots.
The paper reports none of these numbers: there is no paper column.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from analysis import paper, results, table_format
from bench.config import Params, load_params
from bench.layout import tables_dir
from bench.log import get_logger, setup_logging
from bench.outputs import atomic_path

NAME = "table1_posterior"
COLUMNS = {  # column -> (header, printed decimals)
    "std_mean": ("posterior std (mean)", 4),
    "std_min": ("std, lowest channel", 4),
    "std_max": ("std, highest channel", 4),
    "kl": ("KL [nats/value]", 4),
    "active": ("active channels", 0),
    "channels": ("channels", 0),
}
log = get_logger(__name__)


def make_table_posterior(runs: str | Path, items: Sequence[str], set_kinds: Mapping[str, str]) -> pd.DataFrame:
    """Posterior summary per (dataset, item).

    Args:
        runs: the runs folder (`paths.runs`).
        items: the pipeline's autoencoder items, in row order (`autoencoders.names`).
        set_kinds: dataset name -> kind (`data.sets`), in row order.

    Returns:
        Index (dataset, model label); columns `COLUMNS` (NaN for a deterministic item) and "posterior"
        ("gaussian" / "deterministic").
    """
    channels = results.posterior(runs, list(items))
    rows = {}
    for dataset in set_kinds:
        for item in items:
            per = channels[(channels["item"] == item) & (channels["dataset"] == dataset)]
            row = dict.fromkeys(COLUMNS, math.nan) | {"posterior": "deterministic"}
            if len(per):
                active = int((per["kl"] > per["active_kl"]).sum())
                std = per["std"]
                row = {"std_mean": std.mean(), "std_min": std.min(), "std_max": std.max(), "kl": per["kl"].mean(),
                       "active": active, "channels": len(per), "posterior": "gaussian"}  # fmt: skip
            rows[(dataset, paper.LABELS.get(item, item))] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index = pd.MultiIndex.from_tuples(table.index, names=["dataset", "model"])
    return table


def to_markdown(table: pd.DataFrame, caption: str, notes: Sequence[str]) -> str:
    """The table as GitHub markdown: deterministic rows say so, numbers at `COLUMNS`' precision."""
    header = ["dataset", "model", *(h for h, _ in COLUMNS.values())]
    lines = [f"**{caption}**", "", *(f"- {n}" for n in notes), "", "| " + " | ".join(header) + " |"]
    lines.append("|:--|:--|" + "--:|" * len(COLUMNS))
    for (dataset, model), row in table.iterrows():
        if row["posterior"] == "deterministic":
            cells = ["deterministic (no posterior std)"] + ["–"] * (len(COLUMNS) - 1)
        else:
            cells = [f"{row[k]:.{d}f}" for k, (_, d) in COLUMNS.items()]
        lines.append("| " + " | ".join([dataset, model, *cells]) + " |")
    return "\n".join(lines) + "\n"


def main(params: Params) -> None:
    setup_logging()
    set_kinds = {name: cfg.kind for name, cfg in params.data.sets.items()}
    names = list(params.autoencoders.names)
    table = make_table_posterior(params.paths.runs, names, set_kinds)
    notes = [
        "Over each dataset's eval split: std = the posterior sigma averaged over images and latent positions, per "
        "channel, then over channels (mean) or its extreme channels; KL = KL(q(z|x) || N(0, I)) in nats per latent "
        f"value; a channel is active when its KL exceeds {params.metrics.active_kl:g} nats per value.",
        "Targets: the VAE and SD-VAE KL pull q towards N(0, I); VMAE's L_reg pulls only the std, towards its "
        "`reg_std` (1 in the paper's form, 1e-3 in the release), and leaves the mean free, so VMAE's KL mostly "
        "measures the size of its means.",
        table_format.analogue_note(set_kinds) + ". The paper reports none of these numbers.",
    ]
    out = tables_dir(params.paths)
    caption = "Table 1 (companion). The posterior of each autoencoder on the eval split"
    with atomic_path(out / f"{NAME}.md") as tmp:
        tmp.write_text(to_markdown(table, caption, notes), encoding="utf-8")
    with atomic_path(out / f"{NAME}.csv") as tmp:
        table.reset_index().to_csv(tmp, index=False)
    with atomic_path(out / f"{NAME}_channels.csv") as tmp:
        results.posterior(params.paths.runs, names).to_csv(tmp, index=False)
    log.info("wrote %s.{md,csv} and %s_channels.csv under %s", NAME, NAME, out)


if __name__ == "__main__":
    main(load_params())
