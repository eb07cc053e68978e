"""Table 2: model efficiency of the convolutional baselines and VMAE (size, GFLOPs, training time, throughput).

Run: `python -m analysis.table_efficiency` (DVC stage `table_efficiency`). Reads the `efficiency` block of
`runs/eval_ae/NAME/metrics.json` (and `runs/train_ae/NAME/meta.json` for training wall time where eval_ae holds
none) through `analysis.results`, and writes `<results>/tables/table2_efficiency.{csv,md,tex}`.

As in the paper, VMAE's cells carry its percentage of SD-VAE in parentheses (the .csv has it as the row
"VMAE % of SD-VAE"), and nothing is marked best. The paper reports one column for all four convolutional
baselines (they share one architecture), repeated here on each of their rows. GFLOPs are counted at 256 px for
every model (`bench.efficiency`), so they compare with the paper's regardless of this run's resolution; sizes,
GFLOPs and times still belong to this preset's architectures (the CPU default shrinks both families), and times
and throughputs to this run's device.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from analysis import paper, results, table_format
from bench.config import Params, load_params
from bench.log import get_logger, setup_logging
from bench.paths import tables_dir

NAME = "table2_efficiency"
RATIO_ROW = "VMAE % of SD-VAE"
# family -> (eval_ae efficiency field, factor to the table's unit)
SOURCES = {
    "size": ("size_mib", 1.0),
    "gflops": ("gflops_256_total", 1.0),
    "train_time": ("train_wall_time_s", 1 / 60),  # seconds -> minutes: CPU runs take minutes, not hours
    "encode": ("encode_img_s", 1.0),
    "decode": ("decode_img_s", 1.0),
}
log = get_logger(__name__)


def efficiency_frame(runs: str | Path, items: Sequence[str]) -> pd.DataFrame:
    """eval_ae efficiency indexed by item, training wall time completed from train_ae meta.json where missing."""
    eff = results.efficiency(runs, list(items)).set_index("item")
    wall = eff["train_wall_time_s"] if "train_wall_time_s" in eff.columns else pd.Series(float("nan"), eff.index)
    if wall.isna().any():
        wall = wall.fillna(results.training(runs, list(items)).set_index("item")["train_wall_time_s"])
    eff["train_wall_time_s"] = wall.astype(float)
    return eff


def make_table_efficiency(runs: str | Path, items: Sequence[str]) -> pd.DataFrame:
    """Table 2 with the paper's values beside this run's, one row per autoencoder plus the ratio row.

    Args:
        runs: the runs folder (`paths.runs`).
        items: the pipeline's autoencoder items; rows are the paper's five (NaN for one not run).

    Returns:
        Rows: model labels, then RATIO_ROW (100 * VMAE / SD-VAE per column); columns (source, metric label).
    """
    eff = efficiency_frame(runs, [i for i in paper.MAIN if i in items])
    run = pd.DataFrame({table_format.METRICS[f].run[0]: eff[col] * k for f, (col, k) in SOURCES.items()})
    paper_rows = {
        item: {key: values["vmae" if item == "vmae" else "conv"] for key, values in paper.TABLE2.items()}
        for item in paper.MAIN
    }
    columns = {f: table_format.METRICS[f].run[0] for f in SOURCES}
    table = table_format.metric_block(run, columns, paper.MAIN, paper_rows).rename(index=paper.LABELS)
    table.loc[RATIO_ROW] = 100 * table.loc[paper.LABELS["vmae"]] / table.loc[paper.LABELS["sd-vae"]]
    return table


def main(params: Params) -> None:
    setup_logging()
    names = [i for i in paper.MAIN if i in params.autoencoders.names]
    table = make_table_efficiency(params.paths.runs, names)
    devices = sorted({str(d) for d in efficiency_frame(params.paths.runs, names).get("device", pd.Series()).dropna()})
    notes = [
        "Paper: AE, DAE, VAE and SD-VAE share one column (one architecture); VMAE's % of SD-VAE in parentheses.",
        "size: fp32 parameter bytes / 2^20 (the paper's MB); GFLOPs: encode + decode of one 256 px image.",
        "train: this run's wall time of every training phase (minutes); paper: hours on 8 A100s.",
        f"Throughput (images/s) and times measured on: {', '.join(devices) or 'unknown'}; they depend on the host.",
    ]
    paths = table_format.write_table(
        table,
        tables_dir(params.paths),
        NAME,
        "Table 2. Model efficiency: convolutional baselines vs VMAE",
        notes,
        mark=False,
        percent_row=(paper.LABELS["vmae"], RATIO_ROW),
    )
    log.info("wrote %s", ", ".join(map(str, paths)))


if __name__ == "__main__":
    main(load_params())
